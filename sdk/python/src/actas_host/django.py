"""Django glue: a middleware that sets ``request.actas``.

Settings::

    ACTAS = {
        "URL": "https://actas.example.com",   # actas's base URL (the tokens' issuer)
        "APP_ID": "app_123",                  # this app's id (the tokens' audience)
        "APP_KEY": "actas_app_...",           # follows the session feed when given
        "COOKIE": "actas_token",              # or "HEADER": "x-actas-token"
        "ROUTES": {"LANDING": "/"},            # optional, cookie tokens only: see below
    }
    MIDDLEWARE = [..., "actas_host.django.ActasMiddleware"]

``request.actas`` is the :class:`~actas_host.Impersonation` of a live
session, or ``None`` for the customer's own requests. A request whose token
is refused, or whose session ended, is answered 401 with a plain page. The
middleware serves sync (WSGI) and async (ASGI) Django alike.

With ``ROUTES`` (and an ``APP_KEY``), the middleware also owns the way in
and out, as :mod:`actas_host.support` describes: ``/support/enter?code=``
exchanges the console's one-time entry code and sets the cookie,
``/support/leave`` drops it, ``/support/ended`` reaches your view with
``request.actas = None`` (read its query with
:func:`actas_host.support.ended_page`), and a refused or ended session is
sent there with the cookie dropped. ``ROUTES`` may name ``ENTER``,
``LEAVE``, ``ENDED``, ``LANDING`` (a path, or a function of the
:class:`~actas_host.Impersonation`) and ``SECURE``.
"""

from __future__ import annotations

import functools
import threading
from typing import Any, Awaitable, Callable, TypeVar, cast

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse

from .client import Client
from .guard import Follower, Guard, Refused, refusal_page
from .support import Outcome, SupportRoutes
from .verify import Impersonation, Verifier

__all__ = ["ActasMiddleware", "acting_required", "get_guard", "get_client", "shutdown"]

_lock = threading.Lock()
_state: dict[tuple[str, ...], tuple[Guard, Client | None, Follower | None]] = {}
_routes: dict[tuple[str, ...], SupportRoutes] = {}


def _config() -> dict[str, Any]:
    conf = getattr(settings, "ACTAS", None)
    if not isinstance(conf, dict) or not conf.get("URL") or not conf.get("APP_ID"):
        raise ImproperlyConfigured("settings.ACTAS needs at least URL and APP_ID")
    if bool(conf.get("COOKIE")) == bool(conf.get("HEADER")):
        raise ImproperlyConfigured("settings.ACTAS needs exactly one of COOKIE or HEADER")
    return conf


def _setup() -> tuple[Guard, Client | None, Follower | None]:
    conf = _config()
    key = tuple(str(conf.get(k, "")) for k in ("URL", "ISSUER", "APP_ID", "APP_KEY", "COOKIE", "HEADER"))
    with _lock:
        found = _state.get(key)
        if found is not None:
            return found
        verifier = Verifier(
            conf["URL"],
            conf["APP_ID"],
            refetch_every=float(conf.get("REFETCH_EVERY", 10.0)),
            leeway=float(conf.get("LEEWAY", 5.0)),
            issuer=conf.get("ISSUER") or None,
        )
        guard = Guard(verifier, cookie=conf.get("COOKIE") or None, header=conf.get("HEADER") or None)
        client = Client(conf["URL"], conf["APP_KEY"]) if conf.get("APP_KEY") else None
        follower = guard.follow(client) if client is not None and conf.get("FOLLOW", True) else None
        _state[key] = (guard, client, follower)
        return guard, client, follower


def get_guard() -> Guard:
    """The guard the middleware uses (e.g. to :meth:`~actas_host.Guard.observe` an authorize answer)."""
    return _setup()[0]


def _support_routes() -> SupportRoutes | None:
    conf = _config()
    wanted = conf.get("ROUTES")
    if not wanted or not conf.get("COOKIE"):
        return None
    if not isinstance(wanted, dict):
        wanted = {}
    client = get_client()
    landing = wanted.get("LANDING", "/")
    key = (str(conf.get("URL")), str(conf.get("APP_KEY")), repr(sorted(wanted.items(), key=lambda kv: kv[0])))
    with _lock:
        found = _routes.get(key)
        if found is None:

            def land(who: Impersonation) -> str:
                return str(landing(who)) if callable(landing) else str(landing)

            found = SupportRoutes(
                client=client,
                enter=str(wanted.get("ENTER", "/support/enter")),
                leave=str(wanted.get("LEAVE", "/support/leave")),
                ended=str(wanted.get("ENDED", "/support/ended")),
                landing=land,
                secure=bool(wanted.get("SECURE", False)),
            )
            _routes[key] = found
        return found


def get_client() -> Client:
    """A client with ``ACTAS["APP_KEY"]``, shared by the process."""
    client = _setup()[1]
    if client is None:
        raise ImproperlyConfigured("settings.ACTAS has no APP_KEY")
    return client


def shutdown() -> None:
    """Stops following the feed and closes the clients (e.g. at process exit)."""
    with _lock:
        states = list(_state.values())
        _state.clear()
        _routes.clear()
    for _, client, follower in states:
        if follower is not None:
            follower.stop()
        if client is not None:
            client.close()


class ActasMiddleware:
    """Sets ``request.actas``; refuses refused tokens and ended sessions (401).

    Runs in sync and async Django alike: under ASGI it verifies tokens with
    :meth:`~actas_host.Guard.acheck` and exchanges entry codes on a worker
    thread, so the event loop never waits on actas.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse | Awaitable[HttpResponse]]) -> None:
        self.get_response = get_response
        self.guard = get_guard()
        self.routes = _support_routes()
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def _redirect(self, outcome: Outcome) -> HttpResponse:
        assert self.routes is not None and self.guard.cookie is not None
        response = HttpResponse(status=303)
        response["Location"] = outcome.location
        response["Cache-Control"] = "no-store"
        value = outcome.cookie_value
        response.set_cookie(
            self.guard.cookie,
            value or "",
            max_age=outcome.max_age if value else 0,
            path="/",
            secure=self.routes.secure,
            httponly=True,
            samesite="Lax",
        )
        return response

    def _token(self, request: HttpRequest) -> str | None:
        return self.guard.token_from(dict(request.headers), request.COOKIES if self.guard.cookie else None)

    def _entering(self, request: HttpRequest) -> SupportRoutes | None:
        """The routes, when the request exchanges an entry code."""
        routes = self.routes
        return routes if routes is not None and request.path == routes.enter and request.method == "GET" else None

    def _leaving(self, request: HttpRequest, token: str | None) -> HttpResponse | None:
        """The way out, when the request leaves the session."""
        if self.routes is not None and request.path == self.routes.leave:
            return self._redirect(self.routes.away(token, left=True))
        return None

    def _on_ended_page(self, request: HttpRequest) -> bool:
        """The end page is served without a session."""
        return self.routes is not None and request.path == self.routes.ended

    def _refused(self, refused: Refused, token: str | None) -> HttpResponse:
        if self.routes is not None:
            return self._redirect(self.routes.away(token))
        response = HttpResponse(refusal_page(refused), status=401, content_type="text/html; charset=utf-8")
        response["Cache-Control"] = "no-store"
        return response

    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        if self.async_mode:
            return self._acall(request)
        token = self._token(request)
        routes = self._entering(request)
        if routes is not None:
            return self._redirect(routes.do_enter(self.guard, request.GET.get("code")))
        way_out = self._leaving(request, token)
        if way_out is not None:
            return way_out
        who = None
        if not self._on_ended_page(request):
            try:
                who = self.guard.check(token)
            except Refused as e:
                return self._refused(e, token)
        setattr(request, "actas", who)
        return self.get_response(request)

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        token = self._token(request)
        routes = self._entering(request)
        if routes is not None:
            enter = sync_to_async(routes.do_enter, thread_sensitive=False)
            return self._redirect(await enter(self.guard, request.GET.get("code")))
        way_out = self._leaving(request, token)
        if way_out is not None:
            return way_out
        who = None
        if not self._on_ended_page(request):
            try:
                who = await self.guard.acheck(token)
            except Refused as e:
                return self._refused(e, token)
        setattr(request, "actas", who)
        return await cast("Awaitable[HttpResponse]", self.get_response(request))


V = TypeVar("V", bound=Callable[..., Any])


def _not_acting() -> HttpResponse:
    return HttpResponse("This page is for a support session.", status=401, content_type="text/plain")


def acting_required(view: V) -> V:
    """A view decorator, for sync and async views: only requests of a live
    support session reach the view (401 otherwise)."""
    if iscoroutinefunction(view):

        @functools.wraps(view)
        async def async_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if getattr(request, "actas", None) is None:
                return _not_acting()
            response: HttpResponse = await view(request, *args, **kwargs)
            return response

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if getattr(request, "actas", None) is None:
            return _not_acting()
        response: HttpResponse = view(request, *args, **kwargs)
        return response

    return wrapper  # type: ignore[return-value]
