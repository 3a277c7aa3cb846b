"""Deciding, per request, whether a support session may go on.

A :class:`Guard` reads the impersonation token a request carries (a
header or a cookie), verifies it offline and refuses it when its session
is known to have ended. It learns about ends by following the session feed
(:meth:`Guard.follow`) and from :meth:`Guard.mark_ended` (call it when
``authorize`` answers ``session_*``). The framework glue in
:mod:`actas_host.fastapi` and :mod:`actas_host.django` is built on it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Mapping

from .client import Client, Feed
from .models import AuthorizeAnswer
from .errors import ActasError, TokenError, TokenRefusal
from .verify import Impersonation, Verifier, unverified_session

__all__ = ["Guard", "Refused", "Follower", "ENDED_REASONS"]

log = logging.getLogger("actas_host")

ENDED_REASONS = frozenset(
    {
        "session_ended",
        "session_expired",
        "idle_timeout",
        "session_revoked",
        "staff_disabled",
        "ticket_closed",
        "customer_revoked",
    }
)
"""``authorize`` reasons after which the session will never come back."""


class Refused(ActasError):
    """The request carried a token that may not act: refused, or its session ended."""

    def __init__(self, session_id: str | None, token_error: TokenError | None = None) -> None:
        self.session_id = session_id
        self.token_error = token_error
        super().__init__(self.detail)

    @property
    def ended(self) -> bool:
        """The session ended (or its token expired with it)."""
        return self.token_error is None or self.token_error.reason == TokenRefusal.EXPIRED

    @property
    def detail(self) -> str:
        """One plain sentence for the refusal page."""
        if self.ended:
            return "The support session has ended."
        return f"The support session token was refused ({self.token_error})."


@dataclass
class Follower:
    """The background thread that follows the feed for a guard."""

    feed: Feed
    thread: threading.Thread

    def stop(self, timeout: float | None = 2.0) -> None:
        self.feed.close()
        self.thread.join(timeout)


class Guard:
    """Verifies tokens and remembers which sessions ended.

    Give it where the host app carries the token: ``cookie="actas_token"``
    or ``header="x-actas-token"`` (exactly one).
    """

    def __init__(self, verifier: Verifier, *, cookie: str | None = None, header: str | None = None) -> None:
        if (cookie is None) == (header is None):
            raise ValueError("name exactly one of cookie= or header=")
        self.verifier = verifier
        self.cookie = cookie
        self.header = header.lower() if header else None
        self._ended: set[str] = set()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        where = f"cookie={self.cookie!r}" if self.cookie else f"header={self.header!r}"
        return f"Guard({self.verifier!r}, {where})"

    # -- ended sessions ---------------------------------------------------

    def mark_ended(self, session_id: str) -> None:
        """Records that a session ended."""
        with self._lock:
            self._ended.add(session_id)

    def has_ended(self, session_id: str) -> bool:
        """Whether a session is known to have ended."""
        with self._lock:
            return session_id in self._ended

    def observe(self, session_id: str, answer: AuthorizeAnswer) -> AuthorizeAnswer:
        """Takes note of an ``authorize`` answer (an ended session is
        recorded as such) and hands it back."""
        if not answer.allowed and answer.reason in ENDED_REASONS:
            self.mark_ended(session_id)
        return answer

    def follow(self, client: Client) -> Follower:
        """Follows the session feed on a daemon thread and records every end."""
        feed = client.follow()

        def run() -> None:
            try:
                for change in feed:
                    if change.ended:
                        self.mark_ended(change.session.id)
            except Exception:
                if not feed.closed:
                    log.exception("stopped following the session feed")

        thread = threading.Thread(target=run, name="actas-feed", daemon=True)
        thread.start()
        return Follower(feed, thread)

    # -- requests ---------------------------------------------------------

    def token_from(self, headers: Mapping[str, str], cookies: Mapping[str, str] | None = None) -> str | None:
        """The token a request carries, from its headers (names in any case)
        or, for a cookie source, its parsed cookies when given."""
        if self.header is not None:
            for name, value in headers.items():
                if name.lower() == self.header:
                    return value.strip() or None
            return None
        assert self.cookie is not None
        if cookies is not None:
            return cookies.get(self.cookie) or None
        for name, value in headers.items():
            if name.lower() == "cookie":
                try:
                    jar = SimpleCookie(value)
                except CookieError:
                    continue
                morsel = jar.get(self.cookie)
                if morsel is not None and morsel.value:
                    return morsel.value
        return None

    def _ended_check(self, who: Impersonation) -> Impersonation:
        if self.has_ended(who.session_id):
            raise Refused(who.session_id)
        return who

    def check(self, token: str | None) -> Impersonation | None:
        """``None`` without a token (the customer's own request), the
        context for a valid token of a live session; raises :class:`Refused`
        otherwise."""
        if not token:
            return None
        try:
            who = self.verifier.verify(token)
        except TokenError as e:
            raise Refused(unverified_session(token), e) from e
        return self._ended_check(who)

    async def acheck(self, token: str | None) -> Impersonation | None:
        """:meth:`check` without blocking the event loop."""
        if not token:
            return None
        try:
            who = await self.verifier.averify(token)
        except TokenError as e:
            raise Refused(unverified_session(token), e) from e
        return self._ended_check(who)


REFUSAL_PAGE = (
    '<!doctype html><html lang="en"><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    "<title>Support session ended</title><h1>Support session ended</h1><p>{detail}</p>"
    "<p>Open the customer's account again from the staff console.</p></html>"
)


def refusal_page(refused: Refused) -> str:
    """The plain HTML page (served with 401) for a refused request."""
    import html

    return REFUSAL_PAGE.format(detail=html.escape(refused.detail))
