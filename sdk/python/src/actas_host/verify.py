"""Offline verification of impersonation tokens (SPEC §4).

A token is a compact JWS signed with Ed25519 (``alg: EdDSA``) by a key that
actas publishes at ``/.well-known/jwks.json``. The signature is checked by
PyJWT (on ``cryptography``); this module only decides which key and which
claims to accept.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

import httpx
import jwt

from .errors import TokenError, TokenRefusal

__all__ = ["Impersonation", "Verifier", "unverified_session"]

DEFAULT_REFETCH_EVERY = 10.0
"""Least seconds between two JWKS fetches caused by unknown key ids."""

DEFAULT_LEEWAY = 5.0
"""Seconds of clock difference tolerated on ``exp``."""


@dataclass(frozen=True)
class Impersonation:
    """The impersonation context of a verified token."""

    account_id: str
    """The customer account the agent acts as (``sub``)."""
    agent: str
    """The agent's staff login (``act.sub``)."""
    agent_name: str
    """The agent's display name (``act.name``). Show it as text, never HTML."""
    session_id: str
    """The session id (``sid``)."""
    scope: tuple[str, ...]
    """Granted action names (``scope``)."""
    ticket: str
    """The ticket reference."""
    expires_at: int
    """Expiry, seconds since the epoch (never after the session's end)."""
    issued_at: int | None = None
    """``iat``, seconds since the epoch."""
    token_id: str | None = None
    """``jti``."""
    token: str = field(default="", repr=False)
    """The token itself, to pass on to :meth:`actas_host.Client.authorize`."""

    def grants(self, action: str) -> bool:
        """Whether the token grants ``action``.

        The answer that counts is ``authorize``'s: scope can grow
        mid-session and a session can end early.
        """
        return action in self.scope

    @property
    def expires(self) -> datetime:
        """``expires_at`` as an aware datetime."""
        return datetime.fromtimestamp(self.expires_at, tz=timezone.utc)


def _b64json(segment: str) -> Any:
    padded = segment + "=" * (-len(segment) % 4)
    return json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))


def _header(token: str) -> Mapping[str, Any]:
    parts = token.split(".")
    if len(parts) != 3 or not parts[0]:
        raise TokenError(TokenRefusal.MALFORMED)
    try:
        header = _b64json(parts[0])
    except (ValueError, UnicodeError, binascii.Error):
        raise TokenError(TokenRefusal.MALFORMED) from None
    if not isinstance(header, dict):
        raise TokenError(TokenRefusal.MALFORMED)
    return header


def unverified_session(token: str) -> str | None:
    """Reads ``sid`` from a token without checking it, only when it has the
    shape actas issues. Good for naming a session on an end page, never for
    trusting one."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = _b64json(parts[1])
    except (ValueError, UnicodeError, binascii.Error):
        return None
    sid = payload.get("sid") if isinstance(payload, dict) else None
    if isinstance(sid, str) and 0 < len(sid) <= 100 and all(c.isascii() and (c.isalnum() or c == "_") for c in sid):
        return sid
    return None


class Verifier:
    """Checks impersonation tokens offline against actas's published keys.

    Keys are cached. A token naming a key id the cache lacks makes the
    verifier fetch the JWKS again, at most once per ``refetch_every``
    seconds, so a flood of tokens with made-up key ids cannot hammer actas.
    Safe to share between threads and between sync and async code.

    ``base`` is where this app reaches actas; the tokens' issuer is the same
    URL unless actas runs with a public ``--base-url`` of its own, which
    ``issuer`` then names.
    """

    def __init__(
        self,
        base: str,
        audience: str,
        *,
        refetch_every: float = DEFAULT_REFETCH_EVERY,
        leeway: float = DEFAULT_LEEWAY,
        timeout: float = 5.0,
        issuer: str | None = None,
        clock: Callable[[], float] = time.time,
        http: httpx.Client | None = None,
    ) -> None:
        base = base.rstrip("/")
        self.issuer = (issuer or base).rstrip("/")
        self.audience = audience
        self.jwks_url = f"{base}/.well-known/jwks.json"
        self.refetch_every = refetch_every
        self.leeway = leeway
        self._timeout = timeout
        self._clock = clock
        self._http = http
        self._keys: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._last_fetch: float | None = None
        self._fetches = 0

    def __repr__(self) -> str:
        return f"Verifier(issuer={self.issuer!r}, audience={self.audience!r})"

    @property
    def fetches(self) -> int:
        """How many times the JWKS was fetched so far (for monitoring)."""
        return self._fetches

    @property
    def cached_keys(self) -> int:
        """How many keys are cached."""
        return len(self._keys)

    # -- keys -------------------------------------------------------------

    def _may_fetch(self) -> bool:
        with self._lock:
            now = time.monotonic()
            if self._last_fetch is not None and now - self._last_fetch < self.refetch_every:
                return False
            self._last_fetch = now
            self._fetches += 1
            return True

    def _store(self, response: httpx.Response) -> None:
        try:
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as e:
            raise TokenError(TokenRefusal.UNAVAILABLE, str(e)) from e
        keys: dict[str, Any] = {}
        for jwk in body.get("keys", []) if isinstance(body, dict) else []:
            if not isinstance(jwk, dict) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
                continue
            kid = jwk.get("kid")
            if not isinstance(kid, str):
                continue
            try:
                keys[kid] = jwt.PyJWK({**jwk, "alg": "EdDSA"}).key
            except jwt.PyJWTError:
                continue
        self._keys = keys

    def _fetch(self) -> None:
        if not self._may_fetch():
            return
        try:
            if self._http is not None:
                response = self._http.get(self.jwks_url, timeout=self._timeout)
            else:
                response = httpx.get(self.jwks_url, timeout=self._timeout)
        except httpx.HTTPError as e:
            raise TokenError(TokenRefusal.UNAVAILABLE, str(e)) from e
        self._store(response)

    async def _afetch(self) -> None:
        if not self._may_fetch():
            return
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as http:
                response = await http.get(self.jwks_url)
        except httpx.HTTPError as e:
            raise TokenError(TokenRefusal.UNAVAILABLE, str(e)) from e
        self._store(response)

    # -- tokens -----------------------------------------------------------

    @staticmethod
    def _kid(token: str) -> str:
        header = _header(token)
        # Named before any JWS parsing, so `none` and every other algorithm
        # are refused as such.
        if header.get("alg") != "EdDSA":
            raise TokenError(TokenRefusal.UNSUPPORTED_ALGORITHM)
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenError(TokenRefusal.MALFORMED, "no kid")
        return kid

    def verify(self, token: str) -> Impersonation:
        """Verifies a token: EdDSA signature by a published key, issuer,
        audience and expiry. Raises :class:`TokenError` otherwise.

        The session may still have ended early: ask ``authorize`` (or
        follow the feed, as :class:`actas_host.Guard` does) for that.
        """
        kid = self._kid(token)
        if kid not in self._keys:
            self._fetch()
        return self._check(token, kid)

    async def averify(self, token: str) -> Impersonation:
        """:meth:`verify` without blocking the event loop on a key fetch."""
        kid = self._kid(token)
        if kid not in self._keys:
            await self._afetch()
        return self._check(token, kid)

    def _check(self, token: str, kid: str) -> Impersonation:
        key = self._keys.get(kid)
        if key is None:
            raise TokenError(TokenRefusal.UNKNOWN_KEY)
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=["EdDSA"],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                # `exp` is checked below against this verifier's clock.
                options={"verify_exp": False, "verify_iat": False, "require": ["exp", "sub", "aud", "iss"]},
            )
        except jwt.InvalidSignatureError:
            raise TokenError(TokenRefusal.BAD_SIGNATURE) from None
        except jwt.InvalidAlgorithmError:
            raise TokenError(TokenRefusal.UNSUPPORTED_ALGORITHM) from None
        except jwt.InvalidAudienceError:
            raise TokenError(TokenRefusal.WRONG_AUDIENCE) from None
        except jwt.InvalidIssuerError:
            raise TokenError(TokenRefusal.WRONG_ISSUER) from None
        except jwt.PyJWTError as e:
            raise TokenError(TokenRefusal.MALFORMED, str(e)) from None
        exp = claims.get("exp")
        if not isinstance(exp, int) or isinstance(exp, bool):
            raise TokenError(TokenRefusal.MALFORMED, "exp")
        if exp <= self._clock() - self.leeway:
            raise TokenError(TokenRefusal.EXPIRED)
        act = claims.get("act")
        sub, sid, scope, ticket = (claims.get(k) for k in ("sub", "sid", "scope", "ticket"))
        if not (
            isinstance(act, dict)
            and isinstance(act.get("sub"), str)
            and isinstance(act.get("name"), str)
            and isinstance(sub, str)
            and isinstance(sid, str)
            and isinstance(scope, str)
            and isinstance(ticket, str)
        ):
            raise TokenError(TokenRefusal.MALFORMED, "missing actas claims")
        iat, jti = claims.get("iat"), claims.get("jti")
        return Impersonation(
            account_id=sub,
            agent=act["sub"],
            agent_name=act["name"],
            session_id=sid,
            scope=tuple(scope.split()),
            ticket=ticket,
            expires_at=exp,
            issued_at=iat if isinstance(iat, int) else None,
            token_id=jti if isinstance(jti, str) else None,
            token=token,
        )
