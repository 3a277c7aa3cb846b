"""FastAPI glue: dependencies that give a route the impersonation context.

::

    guard = Guard(Verifier(ACTAS_URL, APP_ID), cookie="actas_token")
    guard.follow(Client(ACTAS_URL, APP_KEY))
    acting = require_acting(guard)

    @app.get("/settings")
    async def settings(who: Impersonation = Depends(acting)) -> str: ...

A request whose token is refused, or whose session ended, is answered 401,
as the Rust layer does; with :class:`~actas_host.support.SupportRoutes`
(cookie tokens) it is sent to the end page with the cookie dropped instead,
and :func:`support_router` serves the way in and out. Requests without a
token are the customer's own: :func:`maybe_acting` gives them ``None``,
:func:`require_acting` refuses them.

The dependencies guard the routes that name them. To guard every route,
as the Rust layer does, add :class:`ImpersonationMiddleware` too: it checks
each request once (the dependencies then read its answer) and, with
routes, serves the way in and out itself.
"""

from __future__ import annotations

from typing import Awaitable, Callable

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from .guard import Guard, Refused, refusal_page
from .support import Outcome, SupportRoutes, cookie_header
from .verify import Impersonation

__all__ = [
    "ImpersonationMiddleware",
    "SessionRefused",
    "maybe_acting",
    "refused_handler",
    "require_acting",
    "support_router",
]

_CHECKED = "actas"


class SessionRefused(HTTPException):
    """The token was refused or its session ended (``refused`` says which):
    401, or a redirect to the end page that drops the cookie."""

    def __init__(self, refused: Refused, location: str | None = None, drop_cookie: str | None = None) -> None:
        headers = {"cache-control": "no-store"}
        if location is not None:
            headers["location"] = location
        if drop_cookie is not None:
            headers["set-cookie"] = drop_cookie
        super().__init__(status_code=401 if location is None else 303, detail=refused.detail, headers=headers)
        self.refused = refused


async def _check(guard: Guard, routes: SupportRoutes | None, request: Request) -> Impersonation | None:
    state = request.scope.get("state")
    if isinstance(state, dict) and _CHECKED in state:
        checked: Impersonation | None = state[_CHECKED]  # the middleware's answer
        return checked
    token = guard.token_from(request.headers, request.cookies if guard.cookie else None)
    try:
        who = await guard.acheck(token)
    except Refused as e:
        if routes is not None and guard.cookie is not None:
            away = routes.away(token)
            raise SessionRefused(e, away.location, cookie_header(guard.cookie, "", 0, routes.secure)) from e
        raise SessionRefused(e) from e
    request.state.actas = who
    return who


def maybe_acting(
    guard: Guard, routes: SupportRoutes | None = None
) -> Callable[[Request], Awaitable[Impersonation | None]]:
    """A dependency: the context of a live session, ``None`` without a
    token, :class:`SessionRefused` for a refused token or an ended session."""

    async def dependency(request: Request) -> Impersonation | None:
        return await _check(guard, routes, request)

    return dependency


def require_acting(guard: Guard, routes: SupportRoutes | None = None) -> Callable[[Request], Awaitable[Impersonation]]:
    """A dependency: the context of a live session; every other request is refused (401)."""

    async def dependency(request: Request) -> Impersonation:
        who = await _check(guard, routes, request)
        if who is None:
            raise HTTPException(status_code=401, detail="This page is for a support session.")
        return who

    return dependency


async def refused_handler(request: Request, exc: Exception) -> HTMLResponse | RedirectResponse:
    """Answers :class:`SessionRefused` with a plain HTML page for the agent's
    browser (or the redirect). Register it with
    ``app.add_exception_handler(SessionRefused, refused_handler)``; without
    it FastAPI answers the 401 as JSON (``{"detail": ...}``)."""
    if not isinstance(exc, SessionRefused):
        raise exc
    if exc.status_code == 303 and exc.headers:
        response = RedirectResponse(exc.headers["location"], status_code=303)
        if "set-cookie" in exc.headers:
            response.headers["set-cookie"] = exc.headers["set-cookie"]
        return response
    return HTMLResponse(refusal_page(exc.refused), status_code=401, headers={"cache-control": "no-store"})


def _redirect(cookie: str, routes: SupportRoutes, outcome: Outcome) -> RedirectResponse:
    response = RedirectResponse(outcome.location, status_code=303)
    value = outcome.cookie_value
    response.headers["set-cookie"] = cookie_header(cookie, value or "", outcome.max_age if value else 0, routes.secure)
    response.headers["cache-control"] = "no-store"
    return response


def support_router(guard: Guard, routes: SupportRoutes) -> APIRouter:
    """``GET routes.enter`` (exchanges ``?code=``) and ``routes.leave``
    (drops the cookie); include it in the app. The end page is the app's own."""
    if guard.cookie is None:
        raise ValueError("the support routes need a guard reading a cookie")
    cookie = guard.cookie
    router = APIRouter()

    def redirect(outcome: Outcome) -> RedirectResponse:
        return _redirect(cookie, routes, outcome)

    @router.get(routes.enter, include_in_schema=False)
    async def enter(request: Request) -> RedirectResponse:
        code = request.query_params.get("code")
        return redirect(await run_in_threadpool(routes.do_enter, guard, code))

    @router.api_route(routes.leave, methods=["GET", "POST"], include_in_schema=False)
    async def leave(request: Request) -> RedirectResponse:
        return redirect(routes.away(request.cookies.get(cookie), left=True))

    return router


class ImpersonationMiddleware:
    """Checks every HTTP request, as the Rust layer does: the customer's own
    requests (no token) pass with ``request.state.actas = None``; a live
    session's pass with its :class:`~actas_host.Impersonation`; a refused
    token or an ended session is answered 401 (with ``routes``: sent to the
    end page, cookie dropped). With ``routes`` (cookie tokens) it also
    serves ``routes.enter`` and ``routes.leave`` and lets ``routes.ended``
    through unchecked.

    ``app.add_middleware(ImpersonationMiddleware, guard=guard, routes=routes)``
    """

    def __init__(self, app: ASGIApp, guard: Guard, routes: SupportRoutes | None = None) -> None:
        self.app = app
        self.guard = guard
        self.routes = routes if guard.cookie is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        guard, routes, cookie = self.guard, self.routes, self.guard.cookie
        token = guard.token_from(request.headers, request.cookies if cookie else None)
        state = scope.setdefault("state", {})
        if routes is not None and cookie is not None:
            path = request.url.path
            if path == routes.enter and request.method == "GET":
                outcome = await run_in_threadpool(routes.do_enter, guard, request.query_params.get("code"))
                await _redirect(cookie, routes, outcome)(scope, receive, send)
                return
            if path == routes.leave:
                await _redirect(cookie, routes, routes.away(token, left=True))(scope, receive, send)
                return
            if path == routes.ended:
                state[_CHECKED] = None
                await self.app(scope, receive, send)
                return
        try:
            who = await guard.acheck(token)
        except Refused as e:
            if routes is not None and cookie is not None:
                await _redirect(cookie, routes, routes.away(token))(scope, receive, send)
            else:
                page = HTMLResponse(refusal_page(e), status_code=401, headers={"cache-control": "no-store"})
                await page(scope, receive, send)
            return
        state[_CHECKED] = who
        await self.app(scope, receive, send)
