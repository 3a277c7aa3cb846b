"""Clients for the host-app calls of the actas API (SPEC §5), holding the app key.

:class:`Client` is synchronous, :class:`AsyncClient` asynchronous; both
speak the same calls with the same arguments. Every call has a timeout.
A failed call is retried only when that is safe: ``GET`` calls after any
transport failure (and after 502/503/504), other calls only when the
connection could not be made at all, so the request never left. A ``POST``
is never sent twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from typing import Any, AsyncGenerator, AsyncIterator, Iterable, Iterator, Mapping, Sequence
from urllib.parse import quote

import httpx

from .errors import ActasProblem, ActasUnavailable
from .models import (
    AccessLog,
    AccountConsent,
    AuthorizeAnswer,
    Change,
    Consent,
    Grant,
    NewGrant,
    NewStepUp,
    Notice,
    Request,
    Session,
    SessionChange,
    Started,
    Target,
    Ticket,
    read,
)
from .sse import SseParser

__all__ = ["Client", "AsyncClient", "Feed", "AsyncFeed"]

log = logging.getLogger("actas_host")

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
USER_AGENT = "actas-host-python/0.1"

# Failures after which the request certainly was not sent.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_RETRY_STATUS = (502, 503, 504)


def segment(value: str) -> str:
    """``value`` as one path segment: ``/``, ``?``, ``#`` and ``%`` stay inside it."""
    return quote(value, safe="")


def _problem(response: httpx.Response) -> ActasProblem:
    body: Any = None
    try:
        body = response.json()
    except ValueError:
        pass
    if isinstance(body, dict) and isinstance(body.get("type"), str):
        return ActasProblem(
            type=body["type"],
            title=str(body.get("title", "")),
            status=int(body.get("status", response.status_code)),
            detail=str(body.get("detail", "")),
            field=body.get("field") if isinstance(body.get("field"), str) else None,
            request_id=body.get("request_id") if isinstance(body.get("request_id"), str) else None,
        )
    return ActasProblem(
        type="about:blank",
        title=response.reason_phrase or "error",
        status=response.status_code,
        detail=response.text[:500],
    )


def _answer(response: httpx.Response) -> Any:
    if not response.is_success:
        raise _problem(response)
    try:
        return response.json()
    except ValueError as e:
        raise ActasUnavailable(f"actas answered {response.status_code} with a body that is not JSON") from e


def _retryable(method: str, error: BaseException | None, status: int | None, attempt: int, retries: int) -> bool:
    if attempt >= retries:
        return False
    if isinstance(error, _NOT_SENT):
        return True
    if method != "GET":
        return False
    return isinstance(error, httpx.TransportError) or status in _RETRY_STATUS


def _backoff(attempt: int) -> float:
    return float(min(0.1 * 2.0**attempt, 2.0))


def _authorize_body(
    token: str, action: str, target: Target | None, changes: Sequence[Change] | None
) -> dict[str, Any]:
    body: dict[str, Any] = {"token": token, "action": action}
    if target is not None:
        body["target"] = target.to_json()
    if changes is not None:
        body["changes"] = [c.to_json() for c in changes]
    return body


def _ticket_body(
    ref: str,
    account_id: str,
    subject: str,
    account_name: str | None,
    url: str | None,
    status: str | None,
    assignee: str | None,
    tags: Iterable[str] | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"ref": ref, "account_id": account_id, "subject": subject}
    for k, v in (("account_name", account_name), ("url", url), ("status", status), ("assignee", assignee)):
        if v is not None:
            body[k] = v
    if tags is not None:
        body["tags"] = list(tags)
    return body


def _grants_path(account_id: str) -> str:
    return f"/accounts/{segment(account_id)}/grants"


def _withdrawal(revoked_by: str | None) -> dict[str, str] | None:
    return None if revoked_by is None else {"revoked_by": revoked_by}


def _notices(body: Any) -> list[Notice]:
    def parse(j: Mapping[str, Any]) -> list[Notice]:
        return [Notice.from_json(n) for n in j["notices"]]

    return read(parse, body, "notice list")


class _Base:
    def __init__(self, base: str, app_key: str, timeout: httpx.Timeout | float, retries: int) -> None:
        self._base = base.rstrip("/")
        self._app_key = app_key
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self._retries = retries

    @property
    def base(self) -> str:
        """The actas base URL."""
        return self._base

    def url(self, path: str) -> str:
        return f"{self._base}/api/v1{path}"

    def _headers(self, bearer: str | None = None) -> dict[str, str]:
        """The headers of a call, made with the app key or, given, another bearer token."""
        return {
            "authorization": f"Bearer {self._app_key if bearer is None else bearer}",
            "accept": "application/json",
            "user-agent": USER_AGENT,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base={self._base!r}, app_key='(secret)')"


class Client(_Base):
    """A synchronous client for the host-app calls, holding the app key.

    Thread-safe; share one per process. Close it (or use ``with``) to free
    its connections.
    """

    def __init__(
        self,
        base: str,
        app_key: str,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retries: int = 2,
        http: httpx.Client | None = None,
    ) -> None:
        super().__init__(base, app_key, timeout, retries)
        self._owns_http = http is None
        self._http = http or httpx.Client(timeout=self._timeout)

    def close(self) -> None:
        """Frees the connections (of an ``http`` client passed in, too, only when this made it)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        bearer: str | None = None,
    ) -> Any:
        attempt = 0
        while True:
            try:
                response = self._http.request(
                    method,
                    self.url(path),
                    headers=self._headers(bearer),
                    json=body,
                    params=params,
                    timeout=self._timeout,
                )
            except httpx.HTTPError as e:
                if _retryable(method, e, None, attempt, self._retries):
                    time.sleep(_backoff(attempt))
                    attempt += 1
                    continue
                raise ActasUnavailable(f"cannot reach actas: {e!r}") from e
            if _retryable(method, None, response.status_code, attempt, self._retries):
                time.sleep(_backoff(attempt))
                attempt += 1
                continue
            return _answer(response)

    def authorize(
        self,
        token: str,
        action: str,
        *,
        target: Target | None = None,
        changes: Sequence[Change] | None = None,
    ) -> AuthorizeAnswer:
        """Asks whether the agent holding ``token`` may do ``action`` now.

        A refusal is an answer (``allowed`` false, ``reason`` the code); an
        exception means no answer, which the host app treats as no.
        ``changes`` (old → new) go into the audit trail and the customer's
        access log (values of redacted actions are never stored).
        """
        body = _authorize_body(token, action, target, changes)
        return read(AuthorizeAnswer.from_json, self._call("POST", "/authorize", body), "authorize answer")

    def session(self, session_id: str) -> Session:
        """A session's state (only sessions issued for this app)."""
        return read(Session.from_json, self._call("GET", f"/sessions/{segment(session_id)}"), "session")

    def heartbeat(self, session_id: str) -> Session:
        """Activity from the agent's screen, seen by the host app."""
        path = f"/sessions/{segment(session_id)}/heartbeat"
        return read(Session.from_json, self._call("POST", path, {}), "session")

    def ask_stepup(self, token: str, session_id: str, ask: NewStepUp) -> Request:
        """Asks a lead for one change the session's scope lacks (a step-up,
        SPEC §10), in the agent's name, with the session's impersonation
        ``token``: what an "Ask a lead for this one change" button does
        after :meth:`authorize` answered ``not_in_scope``.

        Name the same action, target and changes the refused call named:
        once a lead approves, exactly that call is allowed, once, within 5
        minutes; the session's scope never grows. The answer is the request
        (``kind`` ``stepup``, ``status`` ``pending`` or ``approved``);
        :meth:`session` (and the banner) shows its decision. A vague reason,
        an action the policy forbids or a view is refused with a problem
        (``reason-vague``, ``forbidden-action``, ``not-a-change``, ...).
        """
        path = f"/sessions/{segment(session_id)}/stepup"
        return read(Request.from_json, self._call("POST", path, ask.to_json(), bearer=token), "request")

    def enter(self, code: str) -> Started:
        """Exchanges a one-time entry code (brought by the agent's browser
        from the staff console) for the session and its token. A used,
        expired or replaced code is refused with a problem
        (``entry-code-used``, ``entry-code-expired``, ``entry-code-unknown``)."""
        return read(Started.from_json, self._call("POST", "/entry", {"code": code}), "entry answer")

    def create_ticket(
        self,
        ref: str,
        account_id: str,
        subject: str,
        *,
        account_name: str | None = None,
        url: str | None = None,
        status: str | None = None,
        assignee: str | None = None,
        tags: Iterable[str] | None = None,
    ) -> Ticket:
        """Records a ticket (the app needs the ``tickets`` permission)."""
        body = _ticket_body(ref, account_id, subject, account_name, url, status, assignee, tags)
        return read(Ticket.from_json, self._call("POST", "/tickets", body), "ticket")

    def access_log(self, account_id: str) -> AccessLog:
        """Who from support entered an account, why, and what they changed."""
        path = f"/accounts/{segment(account_id)}/access-log"
        return read(AccessLog.from_json, self._call("GET", path), "access log")

    def grant_access(self, account_id: str, hours: int, granted_by: str) -> Grant:
        """Records the customer's permission (SPEC §10, customer consent):
        support may access ``account_id`` for ``hours`` (1 to 720). What an
        "Allow support to access my account" button does; needed before any
        support session when the app was registered with ``--consent
        required`` or the account asks for it (:meth:`require_consent`).
        ``granted_by`` names the customer's user as this app knows them.
        Hours out of range are refused with a problem (``grant-hours-invalid``).
        """
        body = NewGrant(hours=hours, granted_by=granted_by).to_json()
        return read(Grant.from_json, self._call("POST", _grants_path(account_id), body), "grant")

    def withdraw_access(self, account_id: str, revoked_by: str | None = None) -> Consent:
        """The customer's kill switch: withdraws every live grant of
        ``account_id``, and every live support session on it ends at once
        (``customer_revoked``), whether or not the account needs a grant.
        ``revoked_by`` names who withdrew it ("The customer" when not
        given). The answer's ``sessions_ended`` counts the sessions ended."""
        path = _grants_path(account_id)
        return read(Consent.from_json, self._call("DELETE", path, params=_withdrawal(revoked_by)), "consent")

    def consent(self, account_id: str) -> Consent:
        """Whether ``account_id`` needs its customer's grant, the live one and the latest ones."""
        return read(Consent.from_json, self._call("GET", _grants_path(account_id)), "consent")

    def require_consent(self, account_id: str, required: bool, set_by: str) -> Consent:
        """Makes one account ask for its customer's grant before any support
        session (``required``), or stop asking (unless an app asks it of
        every account). ``set_by`` names who set it."""
        path = f"/accounts/{segment(account_id)}/consent"
        body = AccountConsent(required=required, set_by=set_by).to_json()
        return read(Consent.from_json, self._call("PUT", path, body), "consent")

    def notices(self, after: int = 0) -> list[Notice]:
        """Customer notes of ended sessions after the notice ``seq`` ``after``."""
        return _notices(self._call("GET", "/notices", params={"after": str(after)}))

    def notice_delivered(self, notice_id: str) -> Notice:
        """Tells actas a note was delivered (``customer.notified``)."""
        path = f"/notices/{segment(notice_id)}/delivered"
        return read(Notice.from_json, self._call("POST", path, {}), "notice")

    def follow(self, after: int | None = None) -> Feed:
        """Follows ``GET /sessions/feed``: every session change of this
        app's sessions, reconnecting after failures and resuming where it
        left off. With ``after`` (a change's ``seq``), starts after it."""
        return Feed(self, after)


class AsyncClient(_Base):
    """:class:`Client`, for asyncio."""

    def __init__(
        self,
        base: str,
        app_key: str,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retries: int = 2,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(base, app_key, timeout, retries)
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(timeout=self._timeout)

    async def aclose(self) -> None:
        """See :meth:`Client.close`."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        bearer: str | None = None,
    ) -> Any:
        attempt = 0
        while True:
            try:
                response = await self._http.request(
                    method,
                    self.url(path),
                    headers=self._headers(bearer),
                    json=body,
                    params=params,
                    timeout=self._timeout,
                )
            except httpx.HTTPError as e:
                if _retryable(method, e, None, attempt, self._retries):
                    await asyncio.sleep(_backoff(attempt))
                    attempt += 1
                    continue
                raise ActasUnavailable(f"cannot reach actas: {e!r}") from e
            if _retryable(method, None, response.status_code, attempt, self._retries):
                await asyncio.sleep(_backoff(attempt))
                attempt += 1
                continue
            return _answer(response)

    async def authorize(
        self,
        token: str,
        action: str,
        *,
        target: Target | None = None,
        changes: Sequence[Change] | None = None,
    ) -> AuthorizeAnswer:
        """See :meth:`Client.authorize`."""
        body = _authorize_body(token, action, target, changes)
        return read(AuthorizeAnswer.from_json, await self._call("POST", "/authorize", body), "authorize answer")

    async def session(self, session_id: str) -> Session:
        """See :meth:`Client.session`."""
        return read(Session.from_json, await self._call("GET", f"/sessions/{segment(session_id)}"), "session")

    async def heartbeat(self, session_id: str) -> Session:
        """See :meth:`Client.heartbeat`."""
        path = f"/sessions/{segment(session_id)}/heartbeat"
        return read(Session.from_json, await self._call("POST", path, {}), "session")

    async def ask_stepup(self, token: str, session_id: str, ask: NewStepUp) -> Request:
        """See :meth:`Client.ask_stepup`."""
        path = f"/sessions/{segment(session_id)}/stepup"
        return read(Request.from_json, await self._call("POST", path, ask.to_json(), bearer=token), "request")

    async def enter(self, code: str) -> Started:
        """See :meth:`Client.enter`."""
        return read(Started.from_json, await self._call("POST", "/entry", {"code": code}), "entry answer")

    async def create_ticket(
        self,
        ref: str,
        account_id: str,
        subject: str,
        *,
        account_name: str | None = None,
        url: str | None = None,
        status: str | None = None,
        assignee: str | None = None,
        tags: Iterable[str] | None = None,
    ) -> Ticket:
        """See :meth:`Client.create_ticket`."""
        body = _ticket_body(ref, account_id, subject, account_name, url, status, assignee, tags)
        return read(Ticket.from_json, await self._call("POST", "/tickets", body), "ticket")

    async def access_log(self, account_id: str) -> AccessLog:
        """See :meth:`Client.access_log`."""
        path = f"/accounts/{segment(account_id)}/access-log"
        return read(AccessLog.from_json, await self._call("GET", path), "access log")

    async def grant_access(self, account_id: str, hours: int, granted_by: str) -> Grant:
        """See :meth:`Client.grant_access`."""
        body = NewGrant(hours=hours, granted_by=granted_by).to_json()
        return read(Grant.from_json, await self._call("POST", _grants_path(account_id), body), "grant")

    async def withdraw_access(self, account_id: str, revoked_by: str | None = None) -> Consent:
        """See :meth:`Client.withdraw_access`."""
        path = _grants_path(account_id)
        return read(Consent.from_json, await self._call("DELETE", path, params=_withdrawal(revoked_by)), "consent")

    async def consent(self, account_id: str) -> Consent:
        """See :meth:`Client.consent`."""
        return read(Consent.from_json, await self._call("GET", _grants_path(account_id)), "consent")

    async def require_consent(self, account_id: str, required: bool, set_by: str) -> Consent:
        """See :meth:`Client.require_consent`."""
        path = f"/accounts/{segment(account_id)}/consent"
        body = AccountConsent(required=required, set_by=set_by).to_json()
        return read(Consent.from_json, await self._call("PUT", path, body), "consent")

    async def notices(self, after: int = 0) -> list[Notice]:
        """See :meth:`Client.notices`."""
        return _notices(await self._call("GET", "/notices", params={"after": str(after)}))

    async def notice_delivered(self, notice_id: str) -> Notice:
        """See :meth:`Client.notice_delivered`."""
        path = f"/notices/{segment(notice_id)}/delivered"
        return read(Notice.from_json, await self._call("POST", path, {}), "notice")

    def follow(self, after: int | None = None) -> AsyncFeed:
        """See :meth:`Client.follow`."""
        return AsyncFeed(self, after)


# -- the session feed -------------------------------------------------------

FIRST_BACKOFF = 0.2
MAX_BACKOFF = 5.0
# actas sends a keep-alive every 15 s: three missed ones mean a dead line.
FEED_READ_TIMEOUT = 45.0


def _feed_timeout() -> httpx.Timeout:
    return httpx.Timeout(connect=5.0, read=FEED_READ_TIMEOUT, write=5.0, pool=5.0)


class _FeedState:
    """What both feeds share: where they are, and the reading of one event."""

    def __init__(self, client: _Base, after: int | None) -> None:
        self._client = client
        self._last = after
        self._closed = threading.Event()
        self.backoff = FIRST_BACKOFF
        self.connections = 0

    @property
    def last_seq(self) -> int | None:
        """The seq of the last change delivered (sent as ``Last-Event-ID``)."""
        return self._last

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def _headers(self) -> dict[str, str]:
        headers = self._client._headers()
        headers["accept"] = "text/event-stream"
        headers["cache-control"] = "no-cache"
        if self._last is not None:
            headers["last-event-id"] = str(self._last)
        return headers

    def _take(self, data: str) -> SessionChange | None:
        try:
            change = read(SessionChange.from_json, json.loads(data), "session change")
        except (ValueError, ActasUnavailable) as e:
            log.warning("unreadable session change: %s", e)
            return None
        if self._last is not None and change.seq <= self._last:
            return None
        self._last = change.seq
        return change

    def _wait(self) -> float:
        delay = self.backoff
        self.backoff = min(self.backoff * 2, MAX_BACKOFF)
        return delay


def _interrupt(response: httpx.Response) -> None:
    """Wakes a thread blocked reading ``response``: shutting the socket down
    ends its read (closing the socket from another thread would not)."""
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if not isinstance(sock, socket.socket):
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class Feed(_FeedState, Iterator[SessionChange]):
    """The session feed as an endless iterator that reconnects by itself
    (backoff from 0.2 s to 5 s) and resumes with ``Last-Event-ID``.

    :meth:`close` stops it from any thread, at once: iteration then ends.
    """

    def __init__(self, client: Client, after: int | None = None) -> None:
        super().__init__(client, after)
        self._sync = client
        self._response: httpx.Response | None = None
        self._gen = self._follow()

    def __iter__(self) -> Feed:
        return self

    def __next__(self) -> SessionChange:
        return next(self._gen)

    def close(self) -> None:
        """Stops the feed at once: a read blocked on another thread fails
        now, and the iteration ends without reconnecting."""
        self._closed.set()
        response = self._response
        if response is not None:
            _interrupt(response)

    def __enter__(self) -> Feed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _follow(self) -> Iterator[SessionChange]:
        http = self._sync._http
        url = self._sync.url("/sessions/feed")
        while not self.closed:
            try:
                with http.stream("GET", url, headers=self._headers(), timeout=_feed_timeout()) as response:
                    self._response = response
                    if self.closed:
                        return
                    if not response.is_success:
                        response.read()
                        raise _problem(response)
                    self.connections += 1
                    self.backoff = FIRST_BACKOFF
                    parser = SseParser()
                    for chunk in response.iter_bytes():
                        for event in parser.feed(chunk):
                            change = self._take(event.data)
                            if change is not None:
                                yield change
                        if self.closed:
                            return
                if self.closed:
                    return
                log.info("session feed closed; reconnecting")
            except (httpx.HTTPError, ActasProblem) as e:
                if self.closed:
                    return
                log.warning("session feed unavailable; retrying: %s", e)
            finally:
                self._response = None
            if self._closed.wait(self._wait()):
                return


class AsyncFeed(_FeedState, AsyncIterator[SessionChange]):
    """:class:`Feed`, for asyncio."""

    def __init__(self, client: AsyncClient, after: int | None = None) -> None:
        super().__init__(client, after)
        self._async = client
        self._gen = self._follow()

    def __aiter__(self) -> AsyncFeed:
        return self

    async def __anext__(self) -> SessionChange:
        return await self._gen.__anext__()

    async def aclose(self) -> None:
        self._closed.set()
        await self._gen.aclose()

    async def _follow(self) -> AsyncGenerator[SessionChange, None]:
        http = self._async._http
        url = self._async.url("/sessions/feed")
        while not self.closed:
            try:
                async with http.stream("GET", url, headers=self._headers(), timeout=_feed_timeout()) as response:
                    if not response.is_success:
                        await response.aread()
                        raise _problem(response)
                    self.connections += 1
                    self.backoff = FIRST_BACKOFF
                    parser = SseParser()
                    async for chunk in response.aiter_bytes():
                        for event in parser.feed(chunk):
                            change = self._take(event.data)
                            if change is not None:
                                yield change
                log.info("session feed closed; reconnecting")
            except (httpx.HTTPError, ActasProblem) as e:
                log.warning("session feed unavailable; retrying: %s", e)
            await asyncio.sleep(self._wait())
