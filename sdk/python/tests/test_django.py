"""The Django middleware, with a minimal settings module, against the real
server, in sync Django (the test client) and async Django (the async test
client, through the ASGI handler)."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any, Iterator

import pytest

from conftest import ACCOUNT, AGENT_NAME, Actas, wait_for


@pytest.fixture(scope="module")
def django_client(actas: Actas) -> Iterator[Any]:
    os.environ["ACTAS_TEST_URL"] = actas.base
    os.environ["ACTAS_TEST_APP_ID"] = actas.app_id
    os.environ["ACTAS_TEST_APP_KEY"] = actas.app_key
    os.environ["DJANGO_SETTINGS_MODULE"] = "djangoapp.settings"
    import django

    django.setup()
    from django.test import Client

    from actas_host.django import shutdown

    yield Client()
    shutdown()


def test_the_middleware_sets_request_actas_and_refuses_an_ended_session(actas: Actas, django_client: Any) -> None:
    from actas_host.django import get_guard

    guard = get_guard()
    assert django_client.get("/home").json() == {"who": "customer"}
    assert django_client.get("/settings").status_code == 401

    sid, token = actas.new_session()
    django_client.cookies["actas_token"] = token
    r = django_client.get("/settings")
    assert r.status_code == 200, r.content
    assert r.json() == {"agent_name": AGENT_NAME, "account": ACCOUNT, "session": sid}

    actas.end(sid)
    wait_for(lambda: guard.has_ended(sid), what="the feed to report the end")
    for path in ("/settings", "/home"):
        r = django_client.get(path)
        assert r.status_code == 401 and r["Content-Type"].startswith("text/html")
        assert b"The support session has ended." in r.content
    django_client.cookies["actas_token"] = "not.a.token"
    assert django_client.get("/home").status_code == 401
    del django_client.cookies["actas_token"]
    assert django_client.get("/home").json() == {"who": "customer"}


def test_the_middleware_owns_the_way_in_and_out_with_routes(actas: Actas, django_client: Any) -> None:
    from django.conf import settings
    from django.test import Client, override_settings

    from actas_host.django import get_guard

    conf = {**settings.ACTAS, "ROUTES": {"LANDING": lambda who: f"/home?account={who.account_id}"}}
    with override_settings(ACTAS=conf):
        browser = Client()
        guard = get_guard()
        sid, token = actas.new_session()
        code = actas.staff("POST", f"/sessions/{sid}/entry", actas.maria, {}, want=201)["code"]
        r = browser.get("/support/enter", {"code": code})
        assert r.status_code == 303 and r["Location"] == f"/home?account={ACCOUNT}"
        assert guard.verifier.verify(browser.cookies["actas_token"].value).session_id == sid
        assert browser.cookies["actas_token"]["httponly"] and browser.cookies["actas_token"]["samesite"] == "Lax"
        assert browser.get("/home").json() == {"who": "maria"}

        r = browser.get("/support/enter", {"code": code})
        assert r["Location"] == "/support/ended?refused=entry-code-used"
        assert browser.cookies["actas_token"].value == ""

        browser.cookies["actas_token"] = token
        actas.end(sid)
        wait_for(lambda: guard.has_ended(sid), what="the feed to report the end")
        r = browser.get("/settings")
        assert r.status_code == 303 and r["Location"] == f"/support/ended?session={sid}"
        assert browser.cookies["actas_token"].value == ""
        r = browser.get("/support/ended", {"session": sid})
        assert r.status_code == 200 and r.json() == {"session": sid, "words": "The support session has ended."}


def blocking(*args: Any) -> Any:
    raise AssertionError("the async middleware called a blocking check")


async def until(predicate: Any, what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def test_the_middleware_serves_async_django(actas: Actas, django_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from asgiref.sync import iscoroutinefunction
    from django.test import AsyncClient

    from actas_host.django import ActasMiddleware, get_guard

    async def view(request: Any) -> Any:
        return None

    assert iscoroutinefunction(ActasMiddleware(view))
    guard = get_guard()
    monkeypatch.setattr(guard, "check", blocking)
    monkeypatch.setattr(guard.verifier, "verify", blocking)

    async def run() -> None:
        browser = AsyncClient()
        assert (await browser.get("/home")).json() == {"who": "customer"}
        assert (await browser.get("/async-settings")).status_code == 401

        sid, token = await asyncio.to_thread(actas.new_session)
        browser.cookies["actas_token"] = token
        for path in ("/settings", "/async-settings"):
            r = await browser.get(path)
            assert r.status_code == 200, r.content
            assert r.json() == {"agent_name": AGENT_NAME, "account": ACCOUNT, "session": sid}

        await asyncio.to_thread(actas.end, sid)
        await until(lambda: guard.has_ended(sid), "the feed to report the end")
        for path in ("/async-settings", "/home"):
            r = await browser.get(path)
            assert r.status_code == 401 and b"The support session has ended." in r.content
        browser.cookies["actas_token"] = "not.a.token"
        assert (await browser.get("/home")).status_code == 401

    asyncio.run(run())


def test_the_async_middleware_owns_the_way_in_and_out(actas: Actas, django_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from django.conf import settings
    from django.test import AsyncClient, override_settings

    from actas_host.django import get_guard

    conf = {**settings.ACTAS, "ROUTES": {"LANDING": "/home"}}

    async def run() -> None:
        browser = AsyncClient()
        guard = get_guard()
        monkeypatch.setattr(guard, "check", blocking)
        sid, token = await asyncio.to_thread(actas.new_session)
        entry = await asyncio.to_thread(actas.staff, "POST", f"/sessions/{sid}/entry", actas.maria, {}, 201)
        r = await browser.get("/support/enter", {"code": entry["code"]})
        assert r.status_code == 303 and r["Location"] == "/home"
        assert (await browser.get("/home")).json() == {"who": "maria"}

        await asyncio.to_thread(actas.end, sid)
        await until(lambda: guard.has_ended(sid), "the feed to report the end")
        r = await browser.get("/async-settings")
        assert r.status_code == 303 and r["Location"] == f"/support/ended?session={sid}"
        assert browser.cookies["actas_token"].value == ""
        r = await browser.get("/support/ended", {"session": sid})
        assert r.status_code == 200 and r.json() == {"session": sid, "words": "The support session has ended."}

        browser.cookies["actas_token"] = token
        r = await browser.get("/support/leave")
        assert r["Location"] == f"/support/ended?session={sid}&left=1" and browser.cookies["actas_token"].value == ""

    with override_settings(ACTAS=conf):
        asyncio.run(run())
