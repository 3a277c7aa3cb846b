"""Customer consent and the kill switch (SPEC §10) against the real server:
an account that asks for its customer's permission refuses support's
requests until the customer grants it; a grant lets a session start;
withdrawing it ends the live session at once (``customer_revoked``); hours
out of range are refused; sync and async."""

from __future__ import annotations

import asyncio
import html
import importlib.util
import re
import sys
from datetime import timedelta, timezone
from typing import Any, Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from actas_host import (
    AccountConsent,
    ActasProblem,
    ActasUnavailable,
    AsyncClient,
    Client,
    Consent,
    NewGrant,
    end_reason_words,
)
from actas_host.guard import ENDED_REASONS
from conftest import ACCOUNT, ACCOUNT_NAME, ACTIONS, PACKAGE, REASON, TICKET, Actas
from faults import Listener, drop_after_reading, free_port

CUSTOMER = "owner@acme.test"


def ask_for_access(actas: Actas) -> tuple[int, Any]:
    """Maria asks for a session on the account, through the staff API: (status, body)."""
    r = httpx.post(
        f"{actas.base}/api/v1/requests",
        headers={"authorization": f"Bearer {actas.maria}"},
        json={"ticket": TICKET, "reason": REASON, "actions": ACTIONS},
        timeout=10,
    )
    return r.status_code, r.json()


@pytest.fixture
def consent_required(actas: Actas) -> Iterator[None]:
    """acct_42 asks for its customer's permission, and no grant is live;
    afterwards it asks no more (the other tests' sessions need none)."""
    actas.end_live()
    with actas.client() as client:
        client.withdraw_access(ACCOUNT, revoked_by=CUSTOMER)
        consent = client.require_consent(ACCOUNT, True, CUSTOMER)
        assert consent.required and consent.grant is None, consent
        try:
            yield
        finally:
            actas.end_live()
            client.withdraw_access(ACCOUNT, revoked_by=CUSTOMER)
            assert not client.require_consent(ACCOUNT, False, CUSTOMER).required


def test_no_grant_refuses_a_grant_lets_in_and_withdrawing_it_ends_the_session(
    actas: Actas, consent_required: None
) -> None:
    with actas.client() as client:
        status, problem = ask_for_access(actas)
        assert status == 422 and problem["type"] == "urn:actas:problem:no-customer-grant", problem

        grant = client.grant_access(ACCOUNT, 2, CUSTOMER)
        assert grant.id.startswith("grt_") and grant.live, grant
        assert (grant.account_id, grant.app_id, grant.granted_by, grant.hours) == (
            ACCOUNT,
            actas.app_id,
            CUSTOMER,
            2,
        )
        assert grant.expires_at - grant.created_at == timedelta(hours=2)
        assert grant.revoked_at is None and grant.revoked_by is None and grant.raw["id"] == grant.id

        consent = client.consent(ACCOUNT)
        assert consent.account_id == ACCOUNT and consent.required
        assert consent.grant == grant and consent.grants[0] == grant and consent.sessions_ended is None

        sid, token = actas.new_session()
        session = client.session(sid)
        assert session.live and session.ends_at <= grant.expires_at
        assert client.authorize(token, "settings.view").allowed

        withdrawn = client.withdraw_access(ACCOUNT, revoked_by=CUSTOMER)
        actas.live = None
        assert withdrawn.sessions_ended == 1, withdrawn
        assert withdrawn.required and withdrawn.grant is None
        latest = withdrawn.grants[0]
        assert latest.id == grant.id and not latest.live
        assert latest.revoked_by == CUSTOMER and latest.revoked_at is not None

        answer = client.authorize(token, "settings.view")
        assert not answer.allowed and answer.reason == "customer_revoked"
        ended = client.session(sid)
        assert ended.state == "ended" and ended.end_reason == "customer_revoked"
        assert ended.end_words == "the customer withdrew their permission"

        # No grant again: requests are refused again.
        status, problem = ask_for_access(actas)
        assert status == 422 and problem["type"] == "urn:actas:problem:no-customer-grant", problem


def test_a_withdrawn_permission_is_an_end_the_guard_remembers() -> None:
    assert "customer_revoked" in ENDED_REASONS
    assert end_reason_words("customer_revoked") == "the customer withdrew their permission"


def test_hours_out_of_range_are_refused(actas: Actas) -> None:
    with actas.client() as client:
        for hours in (0, 721):
            with pytest.raises(ActasProblem) as e:
                client.grant_access(ACCOUNT, hours, CUSTOMER)
            assert e.value.status == 422 and e.value.type == "urn:actas:problem:grant-hours-invalid", e.value
            assert e.value.field == "hours"
        with pytest.raises(ActasProblem) as e:
            client.grant_access(ACCOUNT, 1, "   ")
        assert e.value.status == 400 and e.value.field == "granted_by", e.value
        assert client.consent(ACCOUNT).grant is None


def test_withdrawing_without_a_name_says_the_customer_did(actas: Actas) -> None:
    with actas.client() as client:
        grant = client.grant_access(ACCOUNT, 1, CUSTOMER)
        withdrawn = client.withdraw_access(ACCOUNT)
        assert withdrawn.sessions_ended == 0 and withdrawn.grant is None
        assert withdrawn.grants[0].id == grant.id and withdrawn.grants[0].revoked_by == "The customer"
        # Nothing live: withdrawing again is harmless.
        assert client.withdraw_access(ACCOUNT, revoked_by=CUSTOMER).sessions_ended == 0


def test_the_bodies_are_the_models() -> None:
    assert NewGrant(4, CUSTOMER).to_json() == {"hours": 4, "granted_by": CUSTOMER}
    assert AccountConsent(True, CUSTOMER).to_json() == {"required": True, "set_by": CUSTOMER}
    consent = Consent.from_json({"account_id": ACCOUNT, "required": False, "grants": []})
    assert consent.grant is None and consent.grants == () and consent.sessions_ended is None


def test_the_async_client_grants_and_withdraws_too(actas: Actas, consent_required: None) -> None:
    async def run() -> None:
        async with AsyncClient(actas.base, actas.app_key) as client:
            status, problem = await asyncio.to_thread(ask_for_access, actas)
            assert status == 422 and problem["type"] == "urn:actas:problem:no-customer-grant", problem
            with pytest.raises(ActasProblem) as e:
                await client.grant_access(ACCOUNT, 0, CUSTOMER)
            assert e.value.status == 422 and e.value.type == "urn:actas:problem:grant-hours-invalid"

            grant = await client.grant_access(ACCOUNT, 2, CUSTOMER)
            assert grant.live and grant.hours == 2
            assert (await client.consent(ACCOUNT)).grant == grant

            sid, token = await asyncio.to_thread(actas.new_session)
            assert (await client.authorize(token, "settings.view")).allowed

            withdrawn = await client.withdraw_access(ACCOUNT, revoked_by=CUSTOMER)
            actas.live = None
            assert withdrawn.sessions_ended == 1 and withdrawn.grant is None
            answer = await client.authorize(token, "settings.view")
            assert not answer.allowed and answer.reason == "customer_revoked"
            assert (await client.session(sid)).end_reason == "customer_revoked"

            off = await client.require_consent(ACCOUNT, False, CUSTOMER)
            assert not off.required
            on = await client.require_consent(ACCOUNT, True, CUSTOMER)
            assert on.required

    asyncio.run(run())


def test_a_grant_or_withdrawal_that_may_have_arrived_is_not_sent_again() -> None:
    server = Listener(drop_after_reading)
    try:
        with Client(server.base, "k", retries=2) as client:
            calls = [
                lambda: client.grant_access(ACCOUNT, 2, CUSTOMER),
                lambda: client.withdraw_access(ACCOUNT, revoked_by=CUSTOMER),
                lambda: client.require_consent(ACCOUNT, True, CUSTOMER),
            ]
            for n, call in enumerate(calls, start=1):
                with pytest.raises(ActasUnavailable):
                    call()
                assert server.accepted == n
            # Reading the consent is safe to repeat.
            with pytest.raises(ActasUnavailable):
                client.consent(ACCOUNT)
            assert server.accepted == len(calls) + 3
    finally:
        server.close()


def test_a_grant_or_withdrawal_is_retried_when_it_never_left() -> None:
    attempts: list[str] = []
    with httpx.Client(event_hooks={"request": [lambda r: attempts.append(r.method)]}) as http:
        with Client(f"http://127.0.0.1:{free_port()}", "k", retries=2, http=http) as client:
            for call in (
                lambda: client.grant_access(ACCOUNT, 2, CUSTOMER),
                lambda: client.withdraw_access(ACCOUNT),
                lambda: client.require_consent(ACCOUNT, False, CUSTOMER),
            ):
                with pytest.raises(ActasUnavailable):
                    call()
    assert attempts == ["POST"] * 3 + ["DELETE"] * 3 + ["PUT"] * 3


# -- the FastAPI demo's "Support access" ---------------------------------------

DEMO = PACKAGE / "demo"


def demo_client(actas: Actas) -> tuple[TestClient, Client]:
    """The FastAPI Acme Billing on this actas, without its lifespan (no feed, no notes)."""
    if str(DEMO) not in sys.path:
        sys.path.insert(0, str(DEMO))
    spec = importlib.util.spec_from_file_location("acme_billing_demo", DEMO / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # for its dataclasses
    spec.loader.exec_module(module)
    app = module.create_app(module.Config(actas.base, actas.app_id, actas.app_key))
    return TestClient(app, follow_redirects=False), app.state.demo.actas


def text_of(page: str, element_id: str) -> str | None:
    m = re.search(rf'<p [^>]*id="{element_id}"[^>]*>(.*?)</p>', page, re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", m.group(1))) if m else None


def test_the_demo_customer_allows_and_withdraws_support_access(actas: Actas, consent_required: None) -> None:
    http, demo_actas = demo_client(actas)
    try:
        access = f"/accounts/{ACCOUNT}/access"
        page = http.get(access).text
        assert '<section id="support-permission"' in page and "<h2" in page and "Support access</h2>" in page
        assert text_of(page, "permission-state") == "Support cannot access your account unless you allow it."
        assert text_of(page, "permission-done") is None
        assert '<label for="permission-hours">For how long</label>' in page
        assert re.findall(r'<option value="(\d+)">([^<]+)</option>', page) == [
            ("1", "1 hour"),
            ("4", "4 hours"),
            ("24", "24 hours"),
        ]
        assert f'action="/accounts/{ACCOUNT}/permission"' in page and "Allow support to access my account" in page

        allowed = http.post(f"/accounts/{ACCOUNT}/permission", data={"hours": "4"})
        assert allowed.status_code == 303 and allowed.headers["location"] == f"{access}?done=allowed"
        with actas.client() as client:
            grant = client.consent(ACCOUNT).grant
        assert grant is not None and grant.hours == 4 and grant.granted_by == ACCOUNT_NAME
        page = http.get(f"{access}?done=allowed").text
        assert text_of(page, "permission-done") == "You allowed support to access your account."
        assert 'id="permission-done" role="status"' in page
        until = grant.expires_at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        assert text_of(page, "permission-state") == (
            f"Support may access your account until {until} (allowed by {ACCOUNT_NAME})."
        )
        assert f'action="/accounts/{ACCOUNT}/permission/withdraw"' in page and "Withdraw permission now" in page

        # Support acting as the customer neither sees nor uses the forms.
        sid, token = actas.new_session()
        agent = {"cookie": f"actas_token={token}"}
        for response in (
            http.get(access, headers=agent),
            http.post(f"/accounts/{ACCOUNT}/permission/withdraw", headers=agent),
            http.post(f"/accounts/{ACCOUNT}/permission", data={"hours": "24"}, headers=agent),
        ):
            assert response.status_code == 403, response.text
            assert "this page is for the customer" in response.text
            assert "support-permission" not in response.text
        with actas.client() as client:
            still = client.consent(ACCOUNT)
            assert still.grant == grant and len([g for g in still.grants if g.live]) == 1

        withdrawn = http.post(f"/accounts/{ACCOUNT}/permission/withdraw")
        assert withdrawn.status_code == 303 and withdrawn.headers["location"] == f"{access}?done=withdrawn"
        actas.live = None
        page = http.get(f"{access}?done=withdrawn").text
        assert text_of(page, "permission-done") == "You withdrew support's access; any live support session ended."
        assert text_of(page, "permission-state") == "Support cannot access your account unless you allow it."
        with actas.client() as client:
            ended = client.session(sid)
            latest = client.consent(ACCOUNT).grants[0]
        assert ended.end_reason == "customer_revoked" and latest.revoked_by == ACCOUNT_NAME

        page = http.get(f"/support/ended?session={sid}").text
        assert "ended: the customer withdrew their permission." in html.unescape(page), page

        bad = http.post(f"/accounts/{ACCOUNT}/permission", data={"hours": "a while"})
        assert bad.status_code == 400
        refused = http.post(f"/accounts/{ACCOUNT}/permission", data={"hours": "0"})
        assert refused.status_code == 403 and "support access could not be allowed" in refused.text

        with actas.client() as client:
            client.require_consent(ACCOUNT, False, CUSTOMER)
        page = http.get(access).text
        assert text_of(page, "permission-state") == "Support may access your account when you ask for help."
    finally:
        demo_actas.close()
        http.close()
