"""The README's FastAPI integration and its step-up run as written, against the real server."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from actas_host import Change, Verifier
from conftest import ACCOUNT, AGENT_NAME, PACKAGE, Actas, wait_for


def test_the_readme_fastapi_snippet_works(actas: Actas) -> None:
    readme = (PACKAGE / "README.md").read_text()
    snippet = re.findall(r"```python\n(.*?)```", readme, re.S)[0]
    code = (
        snippet.replace("https://actas.example.com", actas.base)
        .replace('"app_123"', repr(actas.app_id))
        .replace('"actas_app_..."', repr(actas.app_key))
    )
    scope: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), scope)
    http = TestClient(scope["app"])
    sid, token = actas.new_session()
    http.cookies.set("actas_token", token)
    assert http.get("/settings").json() == f"{AGENT_NAME} from support is acting as {ACCOUNT}"
    actas.end(sid)
    wait_for(lambda: scope["guard"].has_ended(sid), what="the feed to report the end")
    assert http.get("/settings").status_code == 401


def test_the_readme_stepup_snippet_asks_a_lead(actas: Actas) -> None:
    readme = (PACKAGE / "README.md").read_text()
    snippet = next(s for s in re.findall(r"```python\n(.*?)```", readme, re.S) if "ask_stepup" in s)
    sid, token = actas.new_session()
    with actas.client() as client:
        scope: dict[str, Any] = {
            "actas": client,
            "who": Verifier(actas.base, actas.app_id).verify(token),
            "Change": Change,
        }
        exec(compile(snippet, "README.md", "exec"), scope)
        assert scope["answer"].reason == "not_in_scope"
        assert scope["asked"].kind == "stepup" and scope["asked"].status == "pending"
        assert [u.id for u in client.session(sid).stepups] == [scope["asked"].id]
    actas.end(sid)


def test_the_readme_consent_snippet_grants_and_withdraws(actas: Actas) -> None:
    readme = (PACKAGE / "README.md").read_text()
    snippet = next(s for s in re.findall(r"```python\n(.*?)```", readme, re.S) if "require_consent" in s)
    sid, token = actas.new_session()
    with actas.client() as client:
        try:
            scope: dict[str, Any] = {"actas": client}
            exec(compile(snippet, "README.md", "exec"), scope)
            assert scope["consent"].required and scope["grant"].live and scope["grant"].hours == 4
            assert scope["withdrawn"].sessions_ended == 1 and scope["withdrawn"].grant is None
            assert client.authorize(token, "settings.view").reason == "customer_revoked"
            actas.live = None
        finally:
            client.require_consent(ACCOUNT, False, set_by="owner@acme.test")
