"""The wire types of the host-app calls (SPEC §5), as typed dataclasses.

Every answer keeps the JSON it was read from in ``raw``, so fields a newer
actas adds are reachable before this package names them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Mapping, Sequence, TypeVar

from .errors import ActasUnavailable

JSON = Mapping[str, Any]
T = TypeVar("T")

_FRACTION = re.compile(r"\.(\d+)")


def parse_time(value: str) -> datetime:
    """An RFC 3339 timestamp as an aware ``datetime`` (Python 3.10 safe)."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # fromisoformat before 3.11 takes 3 or 6 fraction digits only.
    text = _FRACTION.sub(lambda m: "." + (m.group(1) + "000000")[:6], text, count=1)
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _opt_time(value: Any) -> datetime | None:
    return parse_time(value) if isinstance(value, str) else None


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _strs(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value or ())


SESSION_STATES = ("live", "ended")
"""A session's ``state``."""

AUTHORIZE_REFUSALS = (
    "bad_token",
    "wrong_app",
    "wrong_account",
    "unknown_action",
    "not_in_scope",
    "session_ended",
    "session_expired",
    "idle_timeout",
    "session_revoked",
    "staff_disabled",
    "ticket_closed",
    "customer_revoked",
)
"""The ``reason`` of a refusing ``authorize`` answer (``ok`` when allowed)."""

TICKET_STATUSES = ("open", "pending", "solved", "closed")
"""A ticket's ``status`` in its own system."""

TICKET_SOURCES = ("hand", "app", "zendesk", "jira")
"""Where a ticket came from (``source``)."""

REQUEST_STATUSES = ("pending", "approved", "denied", "withdrawn", "expired", "started", "used")
"""Where a request stands (``status``); a step-up that went through is ``used``."""

REQUEST_KINDS = ("access", "scope", "stepup", "breakglass")
"""What a request is for (``kind``): an account, more actions, one change,
or an account without a lead's approval in an emergency (break-glass)."""


@dataclass(frozen=True)
class Target:
    """What an action is done to; ``account_id``, when given, must be the token's ``sub``."""

    account_id: str | None = None
    type: str | None = None
    id: str | None = None

    def to_json(self) -> dict[str, str]:
        return {k: v for k, v in (("account_id", self.account_id), ("type", self.type), ("id", self.id)) if v is not None}

    @classmethod
    def from_json(cls, j: JSON) -> Target:
        return cls(account_id=_opt_str(j.get("account_id")), type=_opt_str(j.get("type")), id=_opt_str(j.get("id")))


@dataclass(frozen=True)
class Change:
    """One changed field, old and new value (redacted actions never store them)."""

    field: str
    old: str | None = None
    new: str | None = None

    def to_json(self) -> dict[str, str]:
        out = {"field": self.field}
        if self.old is not None:
            out["old"] = self.old
        if self.new is not None:
            out["new"] = self.new
        return out

    @classmethod
    def from_json(cls, j: JSON) -> Change:
        return cls(field=str(j["field"]), old=_opt_str(j.get("old")), new=_opt_str(j.get("new")))


@dataclass(frozen=True)
class AuthorizeAnswer:
    """``POST /authorize``: ``allowed``, and ``reason`` (``ok`` or why not)."""

    allowed: bool
    reason: str
    event_id: str | None = None

    def __bool__(self) -> bool:
        return self.allowed

    @classmethod
    def from_json(cls, j: JSON) -> AuthorizeAnswer:
        return cls(allowed=bool(j["allowed"]), reason=str(j["reason"]), event_id=_opt_str(j.get("event_id")))


@dataclass(frozen=True)
class ActionRef:
    """An action's stable name and its plain label."""

    name: str
    label: str

    @classmethod
    def from_json(cls, j: JSON) -> ActionRef:
        return cls(name=str(j["name"]), label=str(j["label"]))


@dataclass(frozen=True)
class Approver:
    """One approval of a session's scope: ``policy`` or the approver's login, and a name."""

    id: str
    name: str

    @classmethod
    def from_json(cls, j: JSON) -> Approver:
        return cls(id=str(j["id"]), name=str(j["name"]))


@dataclass(frozen=True)
class StepUpChange:
    """What a step-up is for: the target named, if any, and the changes
    (empty when none were named), as the trail keeps them."""

    target: Target | None
    changes: tuple[Change, ...]

    @classmethod
    def from_json(cls, j: JSON) -> StepUpChange:
        target = j.get("target")
        return cls(
            target=Target.from_json(target) if isinstance(target, Mapping) else None,
            changes=tuple(Change.from_json(c) for c in j["changes"]),
        )


@dataclass(frozen=True)
class StepUp:
    """One change a session's scope lacks, asked of a lead (SPEC §10).

    ``approved``: exactly one matching ``authorize`` goes through, once,
    until ``use_by``; then it is ``used``. The session's scope never grows.
    """

    id: str
    action: ActionRef
    change: StepUpChange
    summary: str
    reason: str
    status: str
    decided_by: str | None
    decision_note: str | None
    use_by: datetime | None
    created_at: datetime

    @classmethod
    def from_json(cls, j: JSON) -> StepUp:
        return cls(
            id=str(j["id"]),
            action=ActionRef.from_json(j["action"]),
            change=StepUpChange.from_json(j["change"]),
            summary=str(j.get("summary", "")),
            reason=str(j["reason"]),
            status=str(j["status"]),
            decided_by=_opt_str(j.get("decided_by")),
            decision_note=_opt_str(j.get("decision_note")),
            use_by=_opt_time(j.get("use_by")),
            created_at=parse_time(j["created_at"]),
        )


@dataclass(frozen=True)
class Review:
    """A lead's review of a break-glass session after it ended: who (login
    and display name), when, and what they found."""

    by: str
    by_name: str
    at: datetime
    note: str

    @classmethod
    def from_json(cls, j: JSON) -> Review:
        return cls(by=str(j["by"]), by_name=str(j["by_name"]), at=parse_time(j["at"]), note=str(j["note"]))


END_REASON_WORDS: Mapping[str, str] = {
    "ended": "the agent ended it",
    "expired": "its time was up",
    "idle_timeout": "nothing happened in it for too long",
    "revoked": "a lead revoked it",
    "staff_disabled": "the agent's account was disabled",
    "superseded": "a new session replaced it after a scope change",
    "ticket_closed": "its ticket was solved or closed",
    "customer_revoked": "the customer withdrew their permission",
}
"""Why a session ended, in plain words, by ``end_reason``."""

END_REASONS = tuple(END_REASON_WORDS)
"""The ``end_reason`` values this package knows (a newer actas may send others)."""


def end_reason_words(reason: str | None) -> str:
    """Why a session ended, in plain words ("a lead revoked it"), as the
    Rust kit words it; no reason reads as ended by the agent."""
    if reason is None:
        return END_REASON_WORDS["ended"]
    return END_REASON_WORDS.get(reason, f"it ended ({reason.replace('_', ' ')})")


@dataclass(frozen=True)
class Session:
    """A session as actas describes it (``GET /sessions/{id}``)."""

    id: str
    request_id: str
    ticket: str
    account_id: str
    account_name: str | None
    agent: str
    agent_name: str
    approver: str
    approver_name: str
    approvers: tuple[Approver, ...]
    approved_by: str
    app_id: str
    scope: tuple[ActionRef, ...]
    reason: str
    started_at: datetime
    ends_at: datetime
    idle_deadline: datetime
    last_activity_at: datetime
    state: str
    end_reason: str | None
    ended_at: datetime | None
    ended_by: str | None
    end_note: str | None
    stepups: tuple[StepUp, ...]
    """The session's step-ups, the latest first (``session()`` only; empty when none)."""
    breakglass: bool
    """Started without a lead's approval, in an emergency (break-glass);
    ``approved_by`` then says so."""
    review: Review | None
    """A lead's review of a break-glass session, once given after it ended."""
    raw: JSON = field(repr=False, compare=False)

    @property
    def live(self) -> bool:
        return self.state == "live"

    @property
    def end_words(self) -> str | None:
        """Why the session ended, in plain words; ``None`` while it is live."""
        return None if self.live else end_reason_words(self.end_reason)

    @classmethod
    def from_json(cls, j: JSON) -> Session:
        review = j.get("review")
        return cls(
            id=str(j["id"]),
            request_id=str(j["request_id"]),
            ticket=str(j["ticket"]),
            account_id=str(j["account_id"]),
            account_name=_opt_str(j.get("account_name")),
            agent=str(j["agent"]),
            agent_name=str(j["agent_name"]),
            approver=str(j.get("approver", "")),
            approver_name=str(j.get("approver_name", "")),
            approvers=tuple(Approver.from_json(a) for a in j.get("approvers", [])),
            approved_by=str(j.get("approved_by", "")),
            app_id=str(j["app_id"]),
            scope=tuple(ActionRef.from_json(a) for a in j.get("scope", [])),
            reason=str(j.get("reason", "")),
            started_at=parse_time(j["started_at"]),
            ends_at=parse_time(j["ends_at"]),
            idle_deadline=parse_time(j["idle_deadline"]),
            last_activity_at=parse_time(j["last_activity_at"]),
            state=str(j["state"]),
            end_reason=_opt_str(j.get("end_reason")),
            ended_at=_opt_time(j.get("ended_at")),
            ended_by=_opt_str(j.get("ended_by")),
            end_note=_opt_str(j.get("end_note")),
            stepups=tuple(StepUp.from_json(u) for u in j.get("stepups", [])),
            breakglass=bool(j.get("breakglass", False)),
            review=Review.from_json(review) if isinstance(review, Mapping) else None,
            raw=j,
        )


@dataclass(frozen=True)
class Started:
    """A session and its token (``POST /entry``)."""

    session: Session
    token: str = field(repr=False)

    @classmethod
    def from_json(cls, j: JSON) -> Started:
        return cls(session=Session.from_json(j["session"]), token=str(j["token"]))


@dataclass(frozen=True)
class NewStepUp:
    """One change the session's scope lacks, to ask a lead for
    (``POST /sessions/{id}/stepup``): the same ``action``, ``target`` and
    ``changes`` as the refused ``authorize``, and why, naming what the
    customer asked for. Given, the target's parts and the changes' fields
    and new values must match the later ``authorize`` (old values are not
    compared)."""

    action: str
    reason: str
    target: Target | None = None
    changes: Sequence[Change] | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"action": self.action, "reason": self.reason}
        if self.target is not None:
            body["target"] = self.target.to_json()
        if self.changes is not None:
            body["changes"] = [c.to_json() for c in self.changes]
        return body


@dataclass(frozen=True)
class Request:
    """A request as actas describes it; :meth:`~actas_host.Client.ask_stepup`
    answers one of ``kind`` ``stepup``, with ``stepup`` the change it is for."""

    id: str
    kind: str
    status: str
    ticket: str
    account_id: str
    account_name: str | None
    requester: str
    requester_name: str
    reason: str
    actions: tuple[ActionRef, ...]
    minutes: int
    needs_approval: bool
    created_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    decision_note: str | None
    granted_actions: tuple[ActionRef, ...] | None
    granted_minutes: int | None
    playbook: str | None
    session_id: str | None
    start_by: datetime | None
    stepup: StepUpChange | None
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, j: JSON) -> Request:
        granted = j.get("granted_actions")
        minutes = j.get("granted_minutes")
        stepup = j.get("stepup")
        return cls(
            id=str(j["id"]),
            kind=str(j["kind"]),
            status=str(j["status"]),
            ticket=str(j["ticket"]),
            account_id=str(j["account_id"]),
            account_name=_opt_str(j.get("account_name")),
            requester=str(j["requester"]),
            requester_name=str(j.get("requester_name", "")),
            reason=str(j["reason"]),
            actions=tuple(ActionRef.from_json(a) for a in j.get("actions", [])),
            minutes=int(j["minutes"]),
            needs_approval=bool(j["needs_approval"]),
            created_at=parse_time(j["created_at"]),
            decided_at=_opt_time(j.get("decided_at")),
            decided_by=_opt_str(j.get("decided_by")),
            decision_note=_opt_str(j.get("decision_note")),
            granted_actions=tuple(ActionRef.from_json(a) for a in granted) if isinstance(granted, list) else None,
            granted_minutes=int(minutes) if isinstance(minutes, int) else None,
            playbook=_opt_str(j.get("playbook")),
            session_id=_opt_str(j.get("session_id")),
            start_by=_opt_time(j.get("start_by")),
            stepup=StepUpChange.from_json(stepup) if isinstance(stepup, Mapping) else None,
            raw=j,
        )


@dataclass(frozen=True)
class Playbook:
    """A kind of case and the smallest access the policy suggests for it."""

    name: str
    label: str
    actions: tuple[ActionRef, ...]
    minutes: int

    @classmethod
    def from_json(cls, j: JSON) -> Playbook:
        return cls(
            name=str(j["name"]),
            label=str(j["label"]),
            actions=tuple(ActionRef.from_json(a) for a in j.get("actions", [])),
            minutes=int(j["minutes"]),
        )


@dataclass(frozen=True)
class Ticket:
    """A ticket (``POST /tickets``)."""

    ref: str
    account_id: str
    account_name: str | None
    subject: str
    url: str | None
    created_by: str
    created_at: datetime
    status: str
    assignee: str | None
    tags: tuple[str, ...]
    source: str
    updated_at: datetime
    playbook: Playbook | None
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, j: JSON) -> Ticket:
        created_at = parse_time(j["created_at"])
        playbook = j.get("playbook")
        return cls(
            ref=str(j["ref"]),
            account_id=str(j["account_id"]),
            account_name=_opt_str(j.get("account_name")),
            subject=str(j["subject"]),
            url=_opt_str(j.get("url")),
            created_by=str(j.get("created_by", "")),
            created_at=created_at,
            status=str(j.get("status", "open")),
            assignee=_opt_str(j.get("assignee")),
            tags=_strs(j.get("tags")),
            source=str(j.get("source", "app")),
            updated_at=_opt_time(j.get("updated_at")) or created_at,
            playbook=Playbook.from_json(playbook) if isinstance(playbook, Mapping) else None,
            raw=j,
        )


@dataclass(frozen=True)
class AccessLogEntry:
    """One session on an account, as the customer may see it."""

    session_id: str
    agent_name: str
    approver_name: str
    approved_by: str
    ticket: str
    reason: str
    allowed: tuple[str, ...]
    changes: tuple[str, ...]
    started_at: datetime
    ended_at: datetime
    state: str
    end_reason: str | None

    @classmethod
    def from_json(cls, j: JSON) -> AccessLogEntry:
        return cls(
            session_id=str(j["session_id"]),
            agent_name=str(j["agent_name"]),
            approver_name=str(j.get("approver_name", "")),
            approved_by=str(j.get("approved_by", "")),
            ticket=str(j["ticket"]),
            reason=str(j["reason"]),
            allowed=_strs(j.get("allowed")),
            changes=_strs(j.get("changes")),
            started_at=parse_time(j["started_at"]),
            ended_at=parse_time(j["ended_at"]),
            state=str(j["state"]),
            end_reason=_opt_str(j.get("end_reason")),
        )


@dataclass(frozen=True)
class AccessLog:
    """``GET /accounts/{id}/access-log``: sessions on an account, newest first."""

    account_id: str
    entries: tuple[AccessLogEntry, ...]

    @classmethod
    def from_json(cls, j: JSON) -> AccessLog:
        return cls(account_id=str(j["account_id"]), entries=tuple(AccessLogEntry.from_json(e) for e in j["entries"]))


@dataclass(frozen=True)
class NoticeData:
    """What a customer note says, field by field."""

    agent_name: str
    approver_name: str
    changes: tuple[str, ...]
    end_reason: str | None
    ended_at: datetime
    reason: str
    started_at: datetime
    ticket: str
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, j: JSON) -> NoticeData:
        return cls(
            agent_name=str(j["agent_name"]),
            approver_name=str(j.get("approver_name", "")),
            changes=_strs(j.get("changes")),
            end_reason=_opt_str(j.get("end_reason")),
            ended_at=parse_time(j["ended_at"]),
            reason=str(j["reason"]),
            started_at=parse_time(j["started_at"]),
            ticket=str(j["ticket"]),
            raw=j,
        )


@dataclass(frozen=True)
class Notice:
    """A customer note about an ended session, for the host app to deliver."""

    id: str
    seq: int
    session_id: str
    account_id: str
    text: str
    data: NoticeData
    created_at: datetime
    delivered_at: datetime | None

    @classmethod
    def from_json(cls, j: JSON) -> Notice:
        return cls(
            id=str(j["id"]),
            seq=int(j["seq"]),
            session_id=str(j["session_id"]),
            account_id=str(j["account_id"]),
            text=str(j["text"]),
            data=NoticeData.from_json(j["data"]),
            created_at=parse_time(j["created_at"]),
            delivered_at=_opt_time(j.get("delivered_at")),
        )


@dataclass(frozen=True)
class SessionChange:
    """One event of the session feed: its type, the session after it, its seq."""

    type: str
    session: Session
    seq: int

    @property
    def ended(self) -> bool:
        return self.session.state == "ended"

    @classmethod
    def from_json(cls, j: JSON) -> SessionChange:
        return cls(type=str(j["type"]), session=Session.from_json(j["session"]), seq=int(j["seq"]))


@dataclass(frozen=True)
class NewGrant:
    """The customer allows support into their account for ``hours`` (1 to
    720), recorded by the host app (``POST /accounts/{id}/grants``);
    ``granted_by`` names the customer's user as the host app knows them."""

    hours: int
    granted_by: str

    def to_json(self) -> dict[str, Any]:
        return {"hours": self.hours, "granted_by": self.granted_by}


@dataclass(frozen=True)
class Grant:
    """A customer's grant: support may access the account until
    ``expires_at``, unless withdrawn first (``revoked_at``). ``live`` says
    whether it lets support in now."""

    id: str
    account_id: str
    app_id: str
    granted_by: str
    hours: int
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    revoked_by: str | None
    live: bool
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, j: JSON) -> Grant:
        return cls(
            id=str(j["id"]),
            account_id=str(j["account_id"]),
            app_id=str(j["app_id"]),
            granted_by=str(j["granted_by"]),
            hours=int(j["hours"]),
            created_at=parse_time(j["created_at"]),
            expires_at=parse_time(j["expires_at"]),
            revoked_at=_opt_time(j.get("revoked_at")),
            revoked_by=_opt_str(j.get("revoked_by")),
            live=bool(j["live"]),
            raw=j,
        )


@dataclass(frozen=True)
class Consent:
    """An account's consent (``GET /accounts/{id}/grants``): whether support
    needs the customer's grant (``required``), the live grant if any, and the
    latest grants, newest first. After :meth:`~actas_host.Client.withdraw_access`,
    ``sessions_ended`` is how many live support sessions the withdrawal ended
    (``None`` otherwise)."""

    account_id: str
    required: bool
    grant: Grant | None
    grants: tuple[Grant, ...]
    sessions_ended: int | None
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, j: JSON) -> Consent:
        grant = j.get("grant")
        ended = j.get("sessions_ended")
        return cls(
            account_id=str(j["account_id"]),
            required=bool(j["required"]),
            grant=Grant.from_json(grant) if isinstance(grant, Mapping) else None,
            grants=tuple(Grant.from_json(g) for g in j["grants"]),
            sessions_ended=int(ended) if isinstance(ended, int) else None,
            raw=j,
        )


@dataclass(frozen=True)
class AccountConsent:
    """Whether one account asks for its customer's grant before any support
    session (``PUT /accounts/{id}/consent``); ``set_by`` names who set it."""

    required: bool
    set_by: str

    def to_json(self) -> dict[str, Any]:
        return {"required": self.required, "set_by": self.set_by}


def read(parse: Callable[[JSON], T], body: object, what: str) -> T:
    """Reads an answer, naming what was unreadable."""
    if not isinstance(body, Mapping):
        raise ActasUnavailable(f"actas answered an unreadable {what}: not a JSON object")
    try:
        return parse(body)
    except (KeyError, TypeError, ValueError) as e:
        raise ActasUnavailable(f"actas answered an unreadable {what}: {e!r}") from e
