"""Step-up for one change (SPEC §10) against the real server: a change the
scope lacks is refused, asked of a lead with the session's token, shown in
the session, approved by a lead, allowed exactly once, and the scope never
grows; sync and async."""

from __future__ import annotations

import asyncio

import pytest

from actas_host import (
    ActasProblem,
    ActasUnavailable,
    AsyncClient,
    Change,
    Client,
    NewStepUp,
    Target,
)
from conftest import ACCOUNT, ACTIONS, TICKET, Actas
from faults import Listener, drop_after_reading

WHY = "Customer asked on the call to move from Pro to Basic before the renewal"


def plan_change(new: str = "Basic") -> list[Change]:
    return [Change("plan", old="Pro", new=new)]


def plan_target() -> Target:
    return Target(account_id=ACCOUNT, type="plan", id="Pro")


def ask(reason: str = WHY) -> NewStepUp:
    return NewStepUp("billing.update", reason=reason, target=plan_target(), changes=plan_change())


def approve(actas: Actas, request_id: str) -> None:
    actas.staff("POST", f"/requests/{request_id}/approve", actas.sam, {}, want=200)


def test_a_refused_change_is_asked_of_a_lead_and_then_allowed_once(actas: Actas, session: tuple[str, str]) -> None:
    sid, token = session
    with actas.client() as client:
        refused = client.authorize(token, "billing.update", target=plan_target(), changes=plan_change())
        assert not refused.allowed and refused.reason == "not_in_scope"

        asked = client.ask_stepup(token, sid, ask())
        assert asked.kind == "stepup" and asked.status == "pending", asked
        assert asked.id.startswith("req_") and asked.ticket == TICKET and asked.account_id == ACCOUNT
        assert asked.reason == WHY and [a.name for a in asked.actions] == ["billing.update"]
        assert asked.stepup is not None and asked.stepup.changes == (Change("plan", old="Pro", new="Basic"),)
        assert asked.stepup.target == plan_target()
        assert asked.raw["kind"] == "stepup"

        pending = client.session(sid).stepups
        assert [(u.id, u.status) for u in pending] == [(asked.id, "pending")]
        assert pending[0].action.name == "billing.update" and pending[0].reason == WHY
        assert pending[0].change == asked.stepup and pending[0].use_by is None and pending[0].decided_by is None
        # Waiting for a lead allows nothing yet.
        assert not client.authorize(token, "billing.update", target=plan_target(), changes=plan_change()).allowed

        approve(actas, asked.id)
        approved = client.session(sid).stepups[0]
        assert approved.status == "approved" and approved.decided_by == "Sam Lee"
        assert approved.use_by is not None and approved.use_by > approved.created_at
        assert approved.summary.startswith("Change billing details (plan from Pro to Basic"), approved.summary

        # Only the change asked for: another new value is refused and leaves it usable.
        other = client.authorize(token, "billing.update", target=plan_target(), changes=plan_change("Enterprise"))
        assert not other.allowed and other.reason == "not_in_scope"
        allowed = client.authorize(token, "billing.update", target=plan_target(), changes=plan_change())
        assert allowed.allowed and allowed.reason == "ok"
        again = client.authorize(token, "billing.update", target=plan_target(), changes=plan_change())
        assert not again.allowed and again.reason == "not_in_scope"

        after = client.session(sid)
        assert after.stepups[0].status == "used"
        assert [a.name for a in after.scope] == ACTIONS, "the scope never grows"


def test_a_vague_reason_and_a_view_are_refused_with_their_problems(actas: Actas, session: tuple[str, str]) -> None:
    sid, token = session
    with actas.client() as client:
        with pytest.raises(ActasProblem) as e:
            client.ask_stepup(token, sid, ask("need access"))
        assert e.value.status == 422 and e.value.type == "urn:actas:problem:reason-vague" and e.value.detail
        with pytest.raises(ActasProblem) as e:
            client.ask_stepup(token, sid, NewStepUp("plan.view", reason=WHY))
        assert e.value.status == 422 and e.value.slug == "not-a-change"
        with pytest.raises(ActasProblem) as e:
            client.ask_stepup(token, sid, NewStepUp("moon.land", reason=WHY))
        assert e.value.status == 422 and e.value.slug == "unknown-action"
        assert client.session(sid).stepups == ()


def test_a_step_up_is_asked_with_the_sessions_own_token(actas: Actas, session: tuple[str, str]) -> None:
    sid, token = session
    with actas.client() as client:
        with pytest.raises(ActasProblem) as e:
            client.ask_stepup("not-a-token", sid, ask())
        assert e.value.status == 401
        actas.end(sid)
        with pytest.raises(ActasProblem) as e:
            client.ask_stepup(token, sid, ask())
        assert e.value.status == 409 and e.value.slug == "session-ended", e.value
    # The app key alone is not the agent: the call carries the session's token.
    with Client(actas.base, "actas_app_wrong") as wrong_key:
        sid, token = actas.new_session()
        assert wrong_key.ask_stepup(token, sid, ask()).kind == "stepup"


def test_the_async_client_asks_a_lead_too(actas: Actas, session: tuple[str, str]) -> None:
    sid, token = session

    async def run() -> None:
        async with AsyncClient(actas.base, actas.app_key) as client:
            assert not (await client.authorize(token, "billing.update", changes=plan_change())).allowed
            with pytest.raises(ActasProblem) as e:
                await client.ask_stepup(token, sid, ask("need access"))
            assert e.value.type == "urn:actas:problem:reason-vague"
            asked = await client.ask_stepup(token, sid, NewStepUp("billing.update", reason=WHY, changes=plan_change()))
            assert asked.kind == "stepup" and asked.status == "pending"
            assert [u.status for u in (await client.session(sid)).stepups] == ["pending"]
            await asyncio.to_thread(approve, actas, asked.id)
            assert (await client.session(sid)).stepups[0].status == "approved"
            assert (await client.authorize(token, "billing.update", changes=plan_change())).allowed
            assert not (await client.authorize(token, "billing.update", changes=plan_change())).allowed
            assert (await client.session(sid)).stepups[0].status == "used"

    asyncio.run(run())


def test_an_ask_that_may_have_arrived_is_not_sent_again() -> None:
    server = Listener(drop_after_reading)
    try:
        with Client(server.base, "k", retries=2) as client:
            with pytest.raises(ActasUnavailable):
                client.ask_stepup("t", "ses_1", ask())
            assert server.accepted == 1
    finally:
        server.close()
