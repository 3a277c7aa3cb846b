"""The client against the real server: authorize, sessions, tickets, the
access log, notices, entry codes, typed problems, timeouts and retries."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone

import httpx
import pytest

from actas_host import (
    ActasProblem,
    ActasUnavailable,
    AsyncClient,
    Change,
    Client,
    Guard,
    Review,
    Session,
    Target,
    Verifier,
    end_reason_words,
)
from conftest import ACCOUNT, ACCOUNT_NAME, AGENT_NAME, TICKET, Actas
from faults import Listener, drop_after_reading, free_port, stall


def test_authorize_allows_and_records_the_change_old_to_new(actas: Actas, session: tuple[str, str]) -> None:
    sid, token = session
    with actas.client() as client:
        answer = client.authorize(
            token,
            "invoice_email.update",
            target=Target(account_id=ACCOUNT, type="invoice_email", id="primary"),
            changes=[Change("invoice_email", old="old@acme.test", new="new@acme.test")],
        )
        assert answer.allowed and answer and answer.reason == "ok"
        assert answer.event_id and answer.event_id.startswith("evt_")
        log = client.access_log(ACCOUNT)
    assert log.account_id == ACCOUNT
    entry = next(e for e in log.entries if e.session_id == sid)
    assert entry.state == "live" and entry.ticket == TICKET and entry.agent_name == AGENT_NAME
    assert "Update invoice email" in entry.allowed
    assert any("old@acme.test" in c and "new@acme.test" in c for c in entry.changes), entry.changes
    # The audit trail holds the same change, in a sentence.
    timeline = actas.staff("GET", f"/sessions/{sid}/timeline", actas.sam, want=200)
    performed = [e for e in timeline["events"] if e["type"] == "action.performed"]
    assert performed and "from old@acme.test to new@acme.test" in performed[-1]["text"], performed[-1]["text"]


def test_authorize_refuses_with_a_reason(actas: Actas, session: tuple[str, str]) -> None:
    _, token = session
    with actas.client() as client:
        out_of_scope = client.authorize(token, "refund.issue")
        assert not out_of_scope.allowed and out_of_scope.reason == "not_in_scope"
        assert out_of_scope.event_id  # denied attempts are audited too
        other = client.authorize(token, "settings.view", target=Target(account_id="acct_other"))
        assert not other.allowed and other.reason == "wrong_account"
        assert client.authorize("not-a-token", "settings.view").reason == "bad_token"


def test_an_ended_session_is_refused_and_the_guard_takes_note(actas: Actas, session: tuple[str, str]) -> None:
    sid, token = session
    guard = Guard(Verifier(actas.base, actas.app_id), header="x-actas-token")
    with actas.client() as client:
        live = client.session(sid)
        assert live.live and live.end_words is None
        assert not live.breakglass and live.review is None
        assert [a.name for a in live.approvers] == [live.approver_name] and live.last_activity_at >= live.started_at
        actas.end(sid)
        s = client.session(sid)
        assert s.state == "ended" and s.end_reason == "ended" and s.ended_at is not None
        assert s.end_words == "the agent ended it"
        answer = guard.observe(sid, client.authorize(token, "settings.view"))
        assert not answer.allowed and answer.reason == "session_ended"
    assert guard.has_ended(sid)


def test_the_async_client_speaks_the_same_calls(actas: Actas, session: tuple[str, str]) -> None:
    sid, token = session

    async def run() -> None:
        async with AsyncClient(actas.base, actas.app_key) as client:
            answer = await client.authorize(token, "invoice_email.update", changes=[Change("invoice_email", "a@x.test", "b@x.test")])
            assert answer.allowed
            assert (await client.session(sid)).agent == "maria"
            log = await client.access_log(ACCOUNT)
            assert any(e.session_id == sid for e in log.entries)
            with pytest.raises(ActasProblem) as e:
                await client.enter("actas_entry_unknown")
            assert e.value.status == 422

    asyncio.run(run())


def test_problems_are_typed(actas: Actas, session: tuple[str, str]) -> None:
    _, token = session
    with Client(actas.base, "actas_app_wrong") as wrong:
        with pytest.raises(ActasProblem) as e:
            wrong.authorize(token, "settings.view")
    assert e.value.status == 401 and e.value.type == "urn:actas:problem:unauthorized"
    assert e.value.title and e.value.detail and e.value.slug == "unauthorized"
    with actas.client() as client:
        with pytest.raises(ActasProblem) as e:
            client.enter("actas_entry_unknown")
        assert e.value.status == 422 and e.value.slug == "entry-code-unknown" and e.value.field == "code"
        with pytest.raises(ActasProblem) as e:
            client.session("ses_does_not_exist")
        assert e.value.status == 404
        with pytest.raises(ActasProblem) as e:
            client.create_ticket("", ACCOUNT, "no reference")
        assert e.value.status in (400, 422) and e.value.type.startswith("urn:actas:problem:")
        # An id with reserved characters stays one path segment.
        odd = client.access_log("acct/../../healthz?x#y")
        assert odd.account_id == "acct/../../healthz?x#y" and odd.entries == ()


def test_a_ticket_is_read_with_every_field(actas: Actas) -> None:
    with actas.client() as client:
        ticket = client.create_ticket("PY-TAGS", ACCOUNT, "Tax settings", assignee="maria", tags=["billing", "tax"])
    assert ticket.ref == "PY-TAGS" and ticket.tags == ("billing", "tax") and ticket.assignee == "maria"
    assert ticket.status == "open" and ticket.source == "app" and ticket.created_by
    assert ticket.updated_at >= ticket.created_at and ticket.raw["subject"] == "Tax settings"


def test_why_a_session_ended_reads_as_plain_words() -> None:
    assert end_reason_words("revoked") == "a lead revoked it"
    assert end_reason_words("idle_timeout") == "nothing happened in it for too long"
    assert end_reason_words(None) == "the agent ended it"
    assert end_reason_words("moon_phase") == "it ended (moon phase)"


def test_a_break_glass_session_and_its_review_are_read() -> None:
    wire = {
        "id": "ses_1",
        "request_id": "req_1",
        "ticket": TICKET,
        "account_id": ACCOUNT,
        "agent": "maria",
        "agent_name": AGENT_NAME,
        "approver": "breakglass",
        "approver_name": "No one (break-glass)",
        "approvers": [{"id": "breakglass", "name": "No one (break-glass)"}],
        "approved_by": "started in an emergency without a lead's approval (break-glass)",
        "app_id": "app_1",
        "scope": [{"name": "settings.view", "label": "View settings"}],
        "reason": "Outage: invoices cannot be sent and no lead answers",
        "started_at": "2026-12-01T08:00:00Z",
        "ends_at": "2026-12-01T08:30:00Z",
        "idle_deadline": "2026-12-01T08:15:00Z",
        "last_activity_at": "2026-12-01T08:05:00Z",
        "state": "ended",
        "end_reason": "ended",
        "ended_at": "2026-12-01T08:10:00Z",
        "breakglass": True,
        "review": {"by": "sam", "by_name": "Sam Lee", "at": "2026-12-01T09:00:00.5Z", "note": "Needed; nothing else touched"},
    }
    s = Session.from_json(wire)
    assert s.breakglass and s.approver == "breakglass" and "break-glass" in s.approved_by
    assert s.review == Review(
        by="sam",
        by_name="Sam Lee",
        at=datetime(2026, 12, 1, 9, 0, 0, 500000, tzinfo=timezone.utc),
        note="Needed; nothing else touched",
    )
    # Before a lead reviews it, and from an actas that sends neither field.
    assert Session.from_json({**wire, "review": None}).review is None
    older = Session.from_json({k: v for k, v in wire.items() if k not in ("breakglass", "review")})
    assert not older.breakglass and older.review is None


def test_a_break_glass_session_reads_as_such_and_then_shows_its_review(actas: Actas) -> None:
    bea = actas.cli("staff", "add", "bea", "--name", "Bea Stone", "--role", "agent", "breakglass")[-1]
    reason = "Sync outage: every account stuck since the deploy, no lead reachable"
    body = {"ticket": TICKET, "reason": reason, "actions": ["settings.view"], "breakglass": True}
    req = actas.staff("POST", "/requests", bea, body, want=201)
    assert (req["kind"], req["status"]) == ("breakglass", "approved"), req
    sid = actas.staff("POST", f"/requests/{req['id']}/start", bea, {}, want=201)["session"]["id"]
    with actas.client() as client:
        live = client.session(sid)
        assert live.breakglass and live.review is None and live.approver == "breakglass"
        assert live.approved_by == "started in an emergency without a lead's approval (break-glass)"
        actas.staff("POST", f"/sessions/{sid}/end", bea, {}, want=200)
        note = "Reset nothing; only looked at the settings during the outage"
        actas.staff("POST", f"/sessions/{sid}/review", actas.sam, {"note": note}, want=200)
        reviewed = client.session(sid)
    assert reviewed.breakglass and reviewed.review is not None
    assert (reviewed.review.by, reviewed.review.by_name, reviewed.review.note) == ("sam", "Sam Lee", note)
    assert reviewed.ended_at is not None and reviewed.review.at >= reviewed.ended_at


def test_an_entry_code_is_exchanged_once(actas: Actas, session: tuple[str, str]) -> None:
    sid, _ = session
    code = actas.staff("POST", f"/sessions/{sid}/entry", actas.maria, {}, want=201)["code"]
    with actas.client() as client:
        started = client.enter(code)
        assert started.session.id == sid and started.session.account_name == ACCOUNT_NAME
        assert started.token not in repr(started)
        assert Verifier(actas.base, actas.app_id).verify(started.token).session_id == sid
        with pytest.raises(ActasProblem) as e:
            client.enter(code)
    assert e.value.slug == "entry-code-used"


def test_notices_of_ended_sessions_are_delivered(actas: Actas) -> None:
    sid, token = actas.new_session()
    with actas.client() as client:
        client.authorize(token, "invoice_email.update", changes=[Change("invoice_email", "n1@x.test", "n2@x.test")])
        actas.end(sid)
        notice = next(n for n in client.notices(0) if n.session_id == sid)
        assert notice.account_id == ACCOUNT and "n2@x.test" in notice.text and notice.delivered_at is None
        assert notice.data.agent_name == AGENT_NAME and notice.data.ticket == TICKET
        assert notice.data.end_reason == "ended" and any("n2@x.test" in c for c in notice.data.changes)
        delivered = client.notice_delivered(notice.id)
        assert delivered.id == notice.id and delivered.delivered_at is not None
        assert all(n.seq > notice.seq for n in client.notices(notice.seq))


def test_a_heartbeat_answers_the_session(actas: Actas, session: tuple[str, str]) -> None:
    sid, _ = session
    with actas.client() as client:
        assert client.heartbeat(sid).id == sid


def test_gets_are_retried_but_a_post_that_may_have_arrived_is_not() -> None:
    server = Listener(drop_after_reading)
    try:
        with Client(server.base, "k", retries=2) as client:
            with pytest.raises(ActasUnavailable):
                client.session("ses_1")
            assert server.accepted == 3
            with pytest.raises(ActasUnavailable):
                client.authorize("t", "settings.view")
            assert server.accepted == 4, "a POST that reached the server is never sent again"
    finally:
        server.close()


def test_a_post_is_retried_when_it_never_left() -> None:
    attempts: list[str] = []
    with httpx.Client(event_hooks={"request": [lambda r: attempts.append(r.method)]}) as http:
        with Client(f"http://127.0.0.1:{free_port()}", "k", retries=2, http=http) as client:
            with pytest.raises(ActasUnavailable):
                client.authorize("t", "settings.view")
    assert attempts == ["POST"] * 3


def test_every_call_has_a_timeout() -> None:
    server = Listener(stall)
    try:
        with Client(server.base, "k", timeout=0.3, retries=0) as client:
            started = time.monotonic()
            with pytest.raises(ActasUnavailable):
                client.authorize("t", "settings.view")
            assert time.monotonic() - started < 3
        assert server.accepted == 1
    finally:
        server.close()
