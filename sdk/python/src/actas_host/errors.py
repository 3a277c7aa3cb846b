"""What can go wrong talking to actas or reading one of its tokens."""

from __future__ import annotations

import enum


class ActasError(Exception):
    """Base class of every error this package raises."""


class ActasProblem(ActasError):
    """actas answered with an RFC 9457 problem document.

    ``type`` is stable (``urn:actas:problem:...``); ``detail`` is for people;
    ``request_id`` names the request in actas's log (quote it to an operator).
    """

    def __init__(
        self,
        type: str,
        title: str,
        status: int,
        detail: str,
        field: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(f"actas refused: {detail} ({type})")
        self.type = type
        self.title = title
        self.status = status
        self.detail = detail
        self.field = field
        self.request_id = request_id

    @property
    def slug(self) -> str:
        """The last part of ``type``: ``entry-code-used`` for ``urn:actas:problem:entry-code-used``."""
        return self.type.rsplit(":", 1)[-1]

    def __repr__(self) -> str:
        return f"ActasProblem(type={self.type!r}, status={self.status}, detail={self.detail!r})"


class ActasUnavailable(ActasError):
    """actas could not be reached, timed out, or answered something unreadable.

    Treat it as "no": an action that could not be authorized is not allowed.
    """


class TokenRefusal(str, enum.Enum):
    """Why an impersonation token was refused."""

    MALFORMED = "malformed"
    """Not a compact JWS, or without the claims actas puts in."""
    UNSUPPORTED_ALGORITHM = "unsupported_algorithm"
    """Not EdDSA (``alg: none`` included)."""
    UNKNOWN_KEY = "unknown_key"
    """Signed with a key actas does not publish."""
    BAD_SIGNATURE = "bad_signature"
    """The signature does not match."""
    EXPIRED = "expired"
    """Past its ``exp`` (the session's end)."""
    WRONG_AUDIENCE = "wrong_audience"
    """Issued for another app."""
    WRONG_ISSUER = "wrong_issuer"
    """Issued by another actas."""
    UNAVAILABLE = "unavailable"
    """The signing keys could not be fetched."""


_WORDS = {
    TokenRefusal.MALFORMED: "malformed token",
    TokenRefusal.UNSUPPORTED_ALGORITHM: "unsupported algorithm",
    TokenRefusal.UNKNOWN_KEY: "unknown signing key",
    TokenRefusal.BAD_SIGNATURE: "bad signature",
    TokenRefusal.EXPIRED: "expired",
    TokenRefusal.WRONG_AUDIENCE: "issued for another app",
    TokenRefusal.WRONG_ISSUER: "issued by another actas",
    TokenRefusal.UNAVAILABLE: "cannot fetch the signing keys",
}


class TokenError(ActasError):
    """An impersonation token was refused; ``reason`` says why."""

    def __init__(self, reason: TokenRefusal, detail: str | None = None) -> None:
        words = _WORDS[reason]
        super().__init__(f"{words}: {detail}" if detail else words)
        self.reason = reason
        self.detail = detail
