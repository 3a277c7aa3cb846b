"""Offline verification against the real server's JWKS, and the refusals
every host app must make."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from actas_host import Impersonation, TokenError, TokenRefusal, Verifier
from conftest import ACCOUNT, ACTIONS, AGENT_NAME, TICKET, Actas


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    h, p, _ = token.split(".")
    return (json.loads(base64.urlsafe_b64decode(h + "==")), json.loads(base64.urlsafe_b64decode(p + "==")))


def refused(verifier: Verifier, token: str) -> TokenRefusal:
    with pytest.raises(TokenError) as e:
        verifier.verify(token)
    return e.value.reason


def foreign(token: str, kid: str | None = None) -> str:
    """The same claims, signed with an Ed25519 key actas never saw."""
    header, claims = parts(token)
    return jwt.encode(claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": kid or header["kid"]})


def test_a_real_token_verifies_and_surfaces_the_actor(actas: Actas, session: tuple[str, str]) -> None:
    sid, token = session
    verifier = Verifier(actas.base, actas.app_id)
    who = verifier.verify(token)
    assert isinstance(who, Impersonation)
    assert who.agent == "maria"
    assert who.agent_name == AGENT_NAME
    assert who.account_id == ACCOUNT
    assert who.session_id == sid
    assert who.ticket == TICKET
    assert list(who.scope) == ACTIONS
    assert who.grants("invoice_email.update") and not who.grants("refund.issue")
    assert who.expires_at > time.time()
    assert who.token == token and token not in repr(who)
    assert verifier.cached_keys >= 1 and verifier.fetches == 1
    # Known keys are not fetched again; the async path gives the same answer.
    assert asyncio.run(verifier.averify(token)) == who
    assert verifier.fetches == 1


def test_async_verification_fetches_keys_without_blocking(actas: Actas, session: tuple[str, str]) -> None:
    _, token = session
    who = asyncio.run(Verifier(actas.base, actas.app_id).averify(token))
    assert who.agent == "maria"


def test_a_token_signed_with_a_foreign_key_is_refused(actas: Actas, session: tuple[str, str]) -> None:
    _, token = session
    verifier = Verifier(actas.base, actas.app_id)
    assert refused(verifier, foreign(token)) == TokenRefusal.BAD_SIGNATURE
    assert refused(verifier, foreign(token, kid="k_not_published")) == TokenRefusal.UNKNOWN_KEY


def test_alg_none_and_every_other_algorithm_are_refused(actas: Actas, session: tuple[str, str]) -> None:
    _, token = session
    header, claims = parts(token)
    verifier = Verifier(actas.base, actas.app_id)
    verifier.verify(token)
    for alg in ("none", "None", "NONE", ""):
        unsigned = b64(json.dumps({**header, "alg": alg}).encode()) + "." + b64(json.dumps(claims).encode()) + "."
        assert refused(verifier, unsigned) == TokenRefusal.UNSUPPORTED_ALGORITHM
    # The published public key used as an HMAC secret (algorithm confusion).
    jwks = httpx.get(f"{actas.base}/.well-known/jwks.json").json()
    x = next(k["x"] for k in jwks["keys"] if k["kid"] == header["kid"])
    confused = jwt.encode(claims, x, algorithm="HS256", headers={"kid": header["kid"]})
    assert refused(verifier, confused) == TokenRefusal.UNSUPPORTED_ALGORITHM
    rs = jwt.encode(claims, "s" * 64, algorithm="HS512", headers={"kid": header["kid"]})
    assert refused(verifier, rs) == TokenRefusal.UNSUPPORTED_ALGORITHM
    no_alg = b64(json.dumps({"kid": header["kid"]}).encode()) + "." + token.split(".", 1)[1]
    assert refused(verifier, no_alg) == TokenRefusal.UNSUPPORTED_ALGORITHM


def test_an_edited_payload_is_refused(actas: Actas, session: tuple[str, str]) -> None:
    _, token = session
    h, _, sig = token.split(".")
    _, claims = parts(token)
    verifier = Verifier(actas.base, actas.app_id)
    for edit in ({"scope": claims["scope"] + " refund.issue"}, {"sub": "acct_other"}, {"exp": claims["exp"] + 3600}):
        edited = ".".join([h, b64(json.dumps({**claims, **edit}).encode()), sig])
        assert refused(verifier, edited) == TokenRefusal.BAD_SIGNATURE
    # A signature swapped for another key's, or cut short.
    payload = token.split(".")[1]
    assert refused(verifier, f"{h}.{payload}.{foreign(token).split('.')[2]}") == TokenRefusal.BAD_SIGNATURE
    assert refused(verifier, f"{h}.{payload}.{sig[:-4]}") in (TokenRefusal.BAD_SIGNATURE, TokenRefusal.MALFORMED)


def test_a_past_exp_is_refused_with_a_small_leeway(actas: Actas, session: tuple[str, str]) -> None:
    _, token = session
    exp = parts(token)[1]["exp"]
    assert Verifier(actas.base, actas.app_id, clock=lambda: exp + 2.0).verify(token).expires_at == exp
    assert refused(Verifier(actas.base, actas.app_id, clock=lambda: exp + 6.0), token) == TokenRefusal.EXPIRED
    assert refused(Verifier(actas.base, actas.app_id, leeway=0, clock=lambda: exp), token) == TokenRefusal.EXPIRED


def test_a_wrong_audience_or_issuer_is_refused(actas: Actas, session: tuple[str, str]) -> None:
    _, token = session
    assert refused(Verifier(actas.base, "app_someone_else"), token) == TokenRefusal.WRONG_AUDIENCE
    same_server = actas.base.replace("127.0.0.1", "localhost")
    assert refused(Verifier(same_server, actas.app_id), token) == TokenRefusal.WRONG_ISSUER
    # Reaching actas by another address than its public one, named as the issuer.
    assert Verifier(same_server, actas.app_id, issuer=actas.base).verify(token).agent == "maria"
    # A trailing slash on the base is not a different issuer.
    assert Verifier(actas.base + "/", actas.app_id).verify(token).agent == "maria"


def test_malformed_tokens_are_refused(actas: Actas) -> None:
    verifier = Verifier(actas.base, actas.app_id)
    for bad in ("", "abc", "a.b", "a.b.c.d", "!!!.e30.x", b64(b"[1]") + ".e30.x", b64(b'{"alg":"EdDSA"}') + ".e30.x"):
        assert refused(verifier, bad) in (TokenRefusal.MALFORMED,)
    assert verifier.fetches == 0


def test_an_unknown_kid_refetches_at_most_once_per_interval(actas: Actas, session: tuple[str, str]) -> None:
    _, token = session
    requests: list[str] = []
    with httpx.Client(event_hooks={"request": [lambda r: requests.append(str(r.url))]}) as http:
        check_refetches(actas, token, Verifier(actas.base, actas.app_id, refetch_every=1.0, http=http), requests)


def check_refetches(actas: Actas, token: str, verifier: Verifier, requests: list[str]) -> None:
    verifier.verify(token)
    assert verifier.fetches == 1 and len(requests) == 1
    for i in range(20):
        assert refused(verifier, foreign(token, kid=f"k_made_up_{i}")) == TokenRefusal.UNKNOWN_KEY
    assert verifier.fetches == 1 and len(requests) == 1, "a flood of unknown kids must not reach actas"
    time.sleep(1.1)
    for i in range(20):
        assert refused(verifier, foreign(token, kid=f"k_later_{i}")) == TokenRefusal.UNKNOWN_KEY
    assert verifier.fetches == 2 and len(requests) == 2
    assert requests == [f"{actas.base}/.well-known/jwks.json"] * 2
    # Known keys stay usable throughout.
    assert verifier.verify(token).agent == "maria"
    assert verifier.fetches == 2


def test_keys_that_cannot_be_fetched_refuse_the_token(actas: Actas, session: tuple[str, str]) -> None:
    _, token = session
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    verifier = Verifier(f"http://127.0.0.1:{port}", actas.app_id, timeout=1.0)
    assert refused(verifier, token) == TokenRefusal.UNAVAILABLE
    # The failed fetch counts: the next token does not try again at once.
    assert refused(verifier, token) == TokenRefusal.UNKNOWN_KEY
    assert verifier.fetches == 1
