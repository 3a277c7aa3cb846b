"""The way in and out of a support session, for cookie tokens.

The staff console hands the agent's browser a one-time entry code for the
host app (``/support/enter?code=...``). The host app exchanges it for the
session's token with its app key, keeps the token in an HttpOnly cookie and
sends the agent on; the token never travels in a URL. ``/support/leave``
drops the cookie; ``/support/ended`` is the host app's own page that says a
session ended and why (:func:`ended_page` reads its query). A request whose
session ended, or whose token is refused, drops the cookie and goes to that
page, so the customer's own pages stay reachable and the agent is never
left at a bare error.

This module decides; :mod:`actas_host.fastapi` and :mod:`actas_host.django`
turn the decisions into responses.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping
from urllib.parse import urlencode

from .client import Client
from .errors import ActasError, ActasProblem, TokenError
from .guard import Guard
from .verify import Impersonation, unverified_session

__all__ = ["SupportRoutes", "Outcome", "EndedPage", "ended_page", "refusal_words"]

log = logging.getLogger("actas_host")

KNOWN_REFUSALS = ("entry-code-unknown", "entry-code-used", "entry-code-expired", "session-ended", "wrong-app")

_WORDS = {
    "entry-code-used": "This entry link was used already: each link works once.",
    "entry-code-expired": "This entry link has expired: links work for two minutes.",
    "entry-code-unknown": "This entry link is not known, or a newer one replaced it.",
    "entry-code-missing": "This entry link has no code.",
    "session-ended": "The support session has ended.",
    "wrong-app": "This entry link is for another app.",
    "unavailable": "actas could not be reached to check this entry link.",
}


def refusal_words(slug: str) -> str:
    """Plain words for why an entry was refused."""
    return _WORDS.get(slug, "actas refused this entry link.")


@dataclass(frozen=True)
class Outcome:
    """A redirect, with the cookie to set (a token and its lifetime) or to drop (``None``)."""

    location: str
    cookie_value: str | None
    max_age: int = 0


@dataclass(frozen=True)
class EndedPage:
    """The query of the end page: which session ended (ask actas about it
    with :meth:`Client.session`), or why an entry was refused, or that the
    agent left."""

    session: str | None = None
    refused: str | None = None
    left: bool = False

    @property
    def words(self) -> str:
        if self.refused:
            return refusal_words(self.refused)
        if self.left:
            return "You left the customer's account."
        return "The support session has ended."


def _plain_id(value: str | None) -> str | None:
    if value and len(value) <= 100 and all(c.isascii() and (c.isalnum() or c == "_") for c in value):
        return value
    return None


def ended_page(query: Mapping[str, str]) -> EndedPage:
    """Reads the end page's query; only values of the shapes actas issues pass."""
    refused = query.get("refused")
    if refused is not None and not (len(refused) <= 40 and all(c in "abcdefghijklmnopqrstuvwxyz-" for c in refused)):
        refused = None
    return EndedPage(
        session=_plain_id(query.get("session")),
        refused=refused or None,
        left=query.get("left") in ("1", "true", "yes"),
    )


@dataclass
class SupportRoutes:
    """Where entering, leaving and the end page live, and where an agent lands."""

    client: Client
    enter: str = "/support/enter"
    leave: str = "/support/leave"
    ended: str = "/support/ended"
    landing: Callable[[Impersonation], str] = field(default=lambda who: "/")
    secure: bool = False
    """Mark the cookie ``Secure`` (set it when the host app is served over HTTPS)."""

    def ended_url(self, page: EndedPage) -> str:
        query = [(k, v) for k, v in (("session", page.session), ("refused", page.refused)) if v]
        if page.left:
            query.append(("left", "1"))
        return f"{self.ended}?{urlencode(query)}" if query else self.ended

    def refused(self, slug: str) -> Outcome:
        return Outcome(self.ended_url(EndedPage(refused=slug)), None)

    def away(self, token: str | None, left: bool = False) -> Outcome:
        """Drops the cookie and goes to the end page, naming the token's session."""
        session = unverified_session(token) if token else None
        return Outcome(self.ended_url(EndedPage(session=session, left=left and session is not None)), None)

    def do_enter(self, guard: Guard, code: str | None) -> Outcome:
        """Exchanges an entry code; sets the cookie and lands, or goes to the end page."""
        code = (code or "").strip()
        if not code:
            return self.refused("entry-code-missing")
        try:
            started = self.client.enter(code)
        except ActasProblem as e:
            return self.refused(e.slug if e.slug in KNOWN_REFUSALS else "entry-refused")
        except ActasError as e:
            log.warning("cannot exchange an entry code: %s", e)
            return self.refused("unavailable")
        try:
            who = guard.verifier.verify(started.token)
        except TokenError as e:
            log.warning("actas answered an entry code with a token this app refuses: %s", e)
            return self.refused("entry-refused")
        max_age = max(int(who.expires_at - time.time()), 1)
        return Outcome(self.landing(who), started.token, max_age)


def cookie_header(name: str, value: str, max_age: int, secure: bool) -> str:
    """A ``Set-Cookie`` value: HttpOnly, SameSite=Lax, path ``/``; ``max_age`` 0 drops it."""
    from http.cookies import SimpleCookie

    jar: SimpleCookie = SimpleCookie()
    jar[name] = value
    morsel = jar[name]
    morsel["path"] = "/"
    morsel["httponly"] = True
    morsel["samesite"] = "Lax"
    morsel["max-age"] = max_age
    if secure:
        morsel["secure"] = True
    return morsel.OutputString()
