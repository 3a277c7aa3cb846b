"""The FastAPI dependencies, through FastAPI's TestClient, against the real server."""

from __future__ import annotations

from typing import Iterator

import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient

from actas_host import Client, Guard, Impersonation, SupportRoutes, Verifier, ended_page
from actas_host.fastapi import (
    ImpersonationMiddleware,
    SessionRefused,
    maybe_acting,
    refused_handler,
    require_acting,
    support_router,
)
from conftest import ACCOUNT, AGENT_NAME, Actas, wait_for


def make_app(guard: Guard, html: bool = False) -> FastAPI:
    acting = require_acting(guard)
    maybe = maybe_acting(guard)
    app = FastAPI()
    if html:
        app.add_exception_handler(SessionRefused, refused_handler)

    @app.get("/settings")
    async def settings(who: Impersonation = Depends(acting)) -> dict[str, str]:
        return {"agent": who.agent, "agent_name": who.agent_name, "account": who.account_id, "session": who.session_id}

    @app.get("/home")
    def home(who: Impersonation | None = Depends(maybe)) -> dict[str, str]:
        return {"who": who.agent if who else "customer"}

    return app


@pytest.fixture(scope="module")
def followed(actas: Actas) -> Iterator[tuple[Guard, Client]]:
    client = actas.client()
    guard = Guard(Verifier(actas.base, actas.app_id), cookie="actas_token")
    follower = guard.follow(client)
    wait_for(lambda: follower.feed.connections == 1, what="the feed to connect")
    yield guard, client
    follower.stop()
    client.close()


def test_a_route_gets_the_context_and_an_ended_session_is_refused(
    actas: Actas, followed: tuple[Guard, Client]
) -> None:
    guard, _ = followed
    sid, token = actas.new_session()
    http = TestClient(make_app(guard))
    http.cookies.set("actas_token", token)
    r = http.get("/settings")
    assert r.status_code == 200, r.text
    assert r.json() == {"agent": "maria", "agent_name": AGENT_NAME, "account": ACCOUNT, "session": sid}
    assert http.get("/home").json() == {"who": "maria"}

    actas.end(sid)
    wait_for(lambda: guard.has_ended(sid), what="the feed to report the end")
    for path in ("/settings", "/home"):
        r = http.get(path)
        assert r.status_code == 401 and r.json() == {"detail": "The support session has ended."}
        assert r.headers["cache-control"] == "no-store"


def test_the_customers_own_requests_pass_and_bad_tokens_are_refused(
    actas: Actas, followed: tuple[Guard, Client]
) -> None:
    guard, _ = followed
    http = TestClient(make_app(guard))
    assert http.get("/home").json() == {"who": "customer"}
    r = http.get("/settings")
    assert r.status_code == 401 and "support session" in r.json()["detail"]
    http.cookies.set("actas_token", "eyJhbGciOiJub25lIn0.e30.")
    r = http.get("/home")
    assert r.status_code == 401 and "unsupported algorithm" in r.json()["detail"]


def test_a_header_source_and_the_html_refusal_page(actas: Actas, followed: tuple[Guard, Client]) -> None:
    _, client = followed
    guard = Guard(Verifier(actas.base, actas.app_id), header="X-Actas-Token")
    sid, token = actas.new_session()
    http = TestClient(make_app(guard, html=True))
    assert http.get("/settings", headers={"x-actas-token": token}).json()["session"] == sid
    guard.observe(sid, client.authorize(token, "settings.view"))
    actas.end(sid)
    guard.observe(sid, client.authorize(token, "settings.view"))
    r = http.get("/settings", headers={"x-actas-token": token})
    assert r.status_code == 401 and r.headers["content-type"].startswith("text/html")
    assert "The support session has ended." in r.text


def test_support_routes_enter_with_a_code_leave_and_send_an_ended_session_away(
    actas: Actas, followed: tuple[Guard, Client]
) -> None:
    guard, client = followed
    routes = SupportRoutes(client, landing=lambda who: f"/accounts/{who.account_id}")
    app = FastAPI()
    app.add_exception_handler(SessionRefused, refused_handler)
    app.include_router(support_router(guard, routes))
    acting = require_acting(guard, routes)

    @app.get("/settings")
    async def settings(who: Impersonation = Depends(acting)) -> dict[str, str]:
        return {"session": who.session_id}

    @app.get("/support/ended")
    def ended(request: Request) -> dict[str, str | bool | None]:
        page = ended_page(request.query_params)
        return {"session": page.session, "refused": page.refused, "left": page.left, "words": page.words}

    http = TestClient(app, follow_redirects=False)
    sid, token = actas.new_session()
    code = lambda: actas.staff("POST", f"/sessions/{sid}/entry", actas.maria, {}, want=201)["code"]  # noqa: E731

    first = code()
    r = http.get("/support/enter", params={"code": first})
    assert r.status_code == 303 and r.headers["location"] == f"/accounts/{ACCOUNT}"
    set_cookie = r.headers["set-cookie"]
    # The exchange issues the session a token of its own for this browser.
    entered = set_cookie.split(";")[0].removeprefix("actas_token=")
    assert guard.verifier.verify(entered).session_id == sid and entered != token
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie and "Path=/" in set_cookie
    max_age = int(set_cookie.split("Max-Age=")[1].split(";")[0])
    assert 0 < max_age <= 30 * 60
    assert http.get("/settings").json() == {"session": sid}

    r = http.get("/support/enter", params={"code": first})
    assert r.headers["location"] == "/support/ended?refused=entry-code-used"
    assert "Max-Age=0" in r.headers["set-cookie"]
    assert http.get(r.headers["location"]).json()["words"].startswith("This entry link was used already")
    assert http.get("/support/enter").headers["location"] == "/support/ended?refused=entry-code-missing"

    http.get("/support/enter", params={"code": code()})
    r = http.get("/support/leave")
    assert r.headers["location"] == f"/support/ended?session={sid}&left=1" and "Max-Age=0" in r.headers["set-cookie"]
    assert http.get("/settings").status_code == 401

    http.get("/support/enter", params={"code": code()})
    assert http.get("/settings").status_code == 200
    actas.end(sid)
    wait_for(lambda: guard.has_ended(sid), what="the feed to report the end")
    r = http.get("/settings")
    assert r.status_code == 303 and r.headers["location"] == f"/support/ended?session={sid}"
    assert "Max-Age=0" in r.headers["set-cookie"]
    assert http.get("/support/ended", params={"session": "ses_1&refused=x", "refused": "<b>"}).json() == {
        "session": None,
        "refused": None,
        "left": False,
        "words": "The support session has ended.",
    }


def test_the_middleware_guards_every_route_as_the_rust_layer_does(
    actas: Actas, followed: tuple[Guard, Client]
) -> None:
    guard, client = followed
    app = FastAPI()
    app.add_middleware(ImpersonationMiddleware, guard=guard)
    acting = require_acting(guard)

    @app.get("/plain")
    def plain(request: Request) -> dict[str, str]:
        who = request.state.actas
        return {"who": who.agent if who else "customer"}

    @app.get("/settings")
    async def settings(who: Impersonation = Depends(acting)) -> dict[str, str]:
        return {"session": who.session_id}

    http = TestClient(app, follow_redirects=False)
    assert http.get("/plain").json() == {"who": "customer"}
    sid, token = actas.new_session()
    http.cookies.set("actas_token", token)
    assert http.get("/plain").json() == {"who": "maria"}
    assert http.get("/settings").json() == {"session": sid}
    actas.end(sid)
    wait_for(lambda: guard.has_ended(sid), what="the feed to report the end")
    r = http.get("/plain")
    assert r.status_code == 401 and "The support session has ended." in r.text

    # With routes, the middleware owns the way in and out as well.
    routes = SupportRoutes(client)
    routed = FastAPI()
    routed.add_middleware(ImpersonationMiddleware, guard=guard, routes=routes)

    @routed.get("/plain")
    def routed_plain(request: Request) -> dict[str, str]:
        return {"who": request.state.actas.agent if request.state.actas else "customer"}

    @routed.get("/support/ended")
    def ended(request: Request) -> dict[str, str | None]:
        return {"session": ended_page(request.query_params).session}

    browser = TestClient(routed, follow_redirects=False)
    sid, _ = actas.new_session()
    code = actas.staff("POST", f"/sessions/{sid}/entry", actas.maria, {}, want=201)["code"]
    r = browser.get("/support/enter", params={"code": code})
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert browser.get("/plain").json() == {"who": "maria"}
    actas.end(sid)
    wait_for(lambda: guard.has_ended(sid), what="the feed to report the end")
    r = browser.get("/plain")
    assert r.status_code == 303 and r.headers["location"] == f"/support/ended?session={sid}"
    assert browser.get(r.headers["location"]).json() == {"session": sid}
    assert browser.get("/plain").json() == {"who": "customer"}
