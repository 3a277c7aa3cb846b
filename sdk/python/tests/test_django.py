"""The Django middleware, with a minimal settings module, against the real server."""

from __future__ import annotations

import os
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
