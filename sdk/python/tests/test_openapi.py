"""The kit's models, request arguments and enum values against the OpenAPI
document the real actas serves, so that a field added, renamed or made
optional on either side fails here, naming the model and the field."""

from __future__ import annotations

import dataclasses
import inspect
import typing
from typing import Any, Callable, Iterator

import httpx
import pytest

from actas_host import models
from actas_host.client import AsyncClient, Client
from actas_host.errors import ActasProblem
from actas_host.guard import ENDED_REASONS
from conftest import Actas

MODELS: dict[type, str] = {
    models.AccessLog: "AccessLog",
    models.AccessLogEntry: "AccessLogEntry",
    models.AccountConsent: "AccountConsent",
    models.ActionRef: "ActionRef",
    models.Approver: "Approver",
    models.AuthorizeAnswer: "AuthorizeResponse",
    models.Change: "Change",
    models.Consent: "Consent",
    models.Grant: "Grant",
    models.NewGrant: "NewGrant",
    models.NewStepUp: "NewStepUp",
    models.Notice: "Notice",
    models.NoticeData: "NoticeData",
    models.Playbook: "Playbook",
    models.Request: "Request",
    models.Review: "Review",
    models.Session: "Session",
    models.SessionChange: "SessionChange",
    models.Started: "Started",
    models.StepUp: "StepUp",
    models.StepUpChange: "StepUpChange",
    models.Target: "Target",
    models.Ticket: "Ticket",
}
"""Each model of models.py and the schema it reads or writes."""

SERVER_ONLY: dict[str, set[str]] = {"Ticket": {"requests", "sessions"}, "Request": {"decisions", "sessions"}}
"""Fields only staff see (``GET /tickets/{ref}``, ``GET /requests/{id}``), never a host app."""

KIT_ONLY = {"raw"}
"""The JSON an answer was read from, kept beside its fields."""

ARGUMENTS: dict[str, str] = {
    "authorize": "AuthorizeRequest",
    "create_ticket": "NewTicket",
    "enter": "EntryExchange",
}
"""Client calls whose arguments are the fields of a request body."""

ACCOUNT_ARGUMENTS: dict[str, str] = {
    "grant_access": "NewGrant",
    "require_consent": "AccountConsent",
}
"""Client calls whose arguments are an account id and the fields of a request body."""

ENUMS: dict[str, tuple[str, ...]] = {
    "EndReason": models.END_REASONS,
    "SessionState": models.SESSION_STATES,
    "AuthorizeReason": ("ok", *models.AUTHORIZE_REFUSALS),
    "TicketStatus": models.TICKET_STATUSES,
    "TicketSource": models.TICKET_SOURCES,
    "RequestStatus": models.REQUEST_STATUSES,
    "RequestKind": models.REQUEST_KINDS,
}

CALLS = [
    ("post", "/api/v1/authorize"),
    ("get", "/api/v1/sessions/{id}"),
    ("post", "/api/v1/sessions/{id}/heartbeat"),
    ("post", "/api/v1/sessions/{id}/stepup"),
    ("post", "/api/v1/entry"),
    ("post", "/api/v1/tickets"),
    ("get", "/api/v1/accounts/{id}/access-log"),
    ("post", "/api/v1/accounts/{id}/grants"),
    ("delete", "/api/v1/accounts/{id}/grants"),
    ("get", "/api/v1/accounts/{id}/grants"),
    ("put", "/api/v1/accounts/{id}/consent"),
    ("get", "/api/v1/notices"),
    ("post", "/api/v1/notices/{id}/delivered"),
    ("get", "/api/v1/sessions/feed"),
    ("get", "/.well-known/jwks.json"),
]


@pytest.fixture(scope="module")
def doc(actas: Actas) -> Any:
    r = httpx.get(f"{actas.base}/api/v1/openapi.json", timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def schema(doc: Any, name: str) -> Any:
    found = doc["components"]["schemas"].get(name)
    assert found is not None, f"the OpenAPI document has no schema {name}"
    return found


def _variants(prop: Any) -> list[Any]:
    return [prop, *prop.get("oneOf", []), *prop.get("anyOf", [])]


def nullable(prop: Any) -> bool:
    def null(p: Any) -> bool:
        kind = p.get("type")
        return kind == "null" or (isinstance(kind, list) and "null" in kind)

    return any(null(p) for p in _variants(prop))


def referenced(prop: Any) -> set[str]:
    """The schemas a property is, or is an array of."""
    refs = set()
    for p in _variants(prop):
        for ref in (p.get("$ref"), p.get("items", {}).get("$ref")):
            if ref:
                refs.add(ref.rsplit("/", 1)[-1])
    return refs


def left_out_when_empty(prop: Any) -> bool:
    """An array that is never null: left out, it is empty (the kit reads an empty tuple)."""
    return prop.get("type") == "array" and not nullable(prop)


def left_out_when_false(prop: Any) -> bool:
    """A boolean that is never null: left out, it is false (the kit reads ``False``)."""
    return prop.get("type") == "boolean" and not nullable(prop)


def server_fields(doc: Any, name: str) -> dict[str, bool]:
    """A schema's properties, each with whether it may be left out or null."""
    s = schema(doc, name)
    required = set(s.get("required", []))
    skip = SERVER_ONLY.get(name, set())
    return {
        k: (k not in required and not left_out_when_empty(p) and not left_out_when_false(p)) or nullable(p)
        for k, p in s["properties"].items()
        if k not in skip
    }


def _types_in(hint: Any) -> Iterator[Any]:
    yield hint
    for arg in typing.get_args(hint):
        yield from _types_in(arg)


def optional(hint: Any) -> bool:
    return type(None) in typing.get_args(hint)


def kit_fields(model: type) -> dict[str, Any]:
    """A model's fields and their resolved types."""
    hints = typing.get_type_hints(model)
    return {f.name: hints[f.name] for f in dataclasses.fields(model) if f.name not in KIT_ONLY}


def compare(what: str, ours: dict[str, bool], theirs: dict[str, bool]) -> list[str]:
    """Differences in field names and in which may be left out, in words."""
    problems = []
    if missing := sorted(theirs.keys() - ours.keys()):
        problems.append(f"{what} lacks the server's fields {missing}")
    if extra := sorted(ours.keys() - theirs.keys()):
        problems.append(f"{what} names fields the server does not have: {extra}")
    for name in sorted(ours.keys() & theirs.keys()):
        if ours[name] != theirs[name]:
            want = "optional (may be absent or null)" if theirs[name] else "required"
            problems.append(f"{what}.{name} should be {want}, as the server has it")
    return problems


def test_every_model_is_mapped_to_a_schema() -> None:
    defined = {
        obj
        for obj in vars(models).values()
        if inspect.isclass(obj) and dataclasses.is_dataclass(obj) and obj.__module__ == models.__name__
    }
    assert defined - MODELS.keys() == set(), "map each model of models.py to its schema in MODELS"


@pytest.mark.parametrize("model", list(MODELS), ids=lambda m: m.__name__)
def test_a_model_names_exactly_the_fields_of_its_schema(doc: Any, model: type) -> None:
    name = MODELS[model]
    fields = kit_fields(model)
    ours = {k: optional(hint) for k, hint in fields.items()}
    problems = compare(f"{model.__name__} (schema {name})", ours, server_fields(doc, name))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("model", list(MODELS), ids=lambda m: m.__name__)
def test_a_model_reads_nested_objects_into_their_models(doc: Any, model: type) -> None:
    by_schema = {v: k for k, v in MODELS.items()}
    props = schema(doc, MODELS[model])["properties"]
    for field_name, hint in kit_fields(model).items():
        for ref in referenced(props.get(field_name, {})) & by_schema.keys():
            assert by_schema[ref] in set(_types_in(hint)), (
                f"{model.__name__}.{field_name} should hold {by_schema[ref].__name__} (schema {ref})"
            )


def call_fields(call: Callable[..., Any]) -> dict[str, bool]:
    params = list(inspect.signature(call).parameters.values())[1:]
    return {p.name: p.default is not inspect.Parameter.empty for p in params}


@pytest.mark.parametrize("call", list(ARGUMENTS))
def test_a_call_takes_exactly_the_fields_of_its_request_body(doc: Any, call: str) -> None:
    name = ARGUMENTS[call]
    theirs = server_fields(doc, name)
    for client in (Client, AsyncClient):
        problems = compare(f"{client.__name__}.{call} (schema {name})", call_fields(getattr(client, call)), theirs)
        assert not problems, "\n".join(problems)


@pytest.mark.parametrize("call", list(ACCOUNT_ARGUMENTS))
def test_an_account_call_takes_the_account_and_the_fields_of_its_request_body(doc: Any, call: str) -> None:
    name = ACCOUNT_ARGUMENTS[call]
    theirs = server_fields(doc, name)
    for client in (Client, AsyncClient):
        ours = call_fields(getattr(client, call))
        assert ours.pop("account_id", None) is False, f"{client.__name__}.{call} should take account_id first"
        problems = compare(f"{client.__name__}.{call} (schema {name})", ours, theirs)
        assert not problems, "\n".join(problems)


def test_a_problem_has_the_fields_of_the_problem_document(doc: Any) -> None:
    problems = compare("ActasProblem (schema Problem)", call_fields(ActasProblem.__init__), server_fields(doc, "Problem"))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", list(ENUMS))
def test_the_kit_knows_the_values_of_an_enum(doc: Any, name: str) -> None:
    theirs = schema(doc, name)["enum"]
    assert list(ENUMS[name]) == theirs, f"{name}: the kit knows {list(ENUMS[name])}, the server {theirs}"


def test_the_ended_reasons_are_authorize_refusals() -> None:
    assert ENDED_REASONS <= set(models.AUTHORIZE_REFUSALS)


def test_the_document_has_every_call_the_kit_makes(doc: Any) -> None:
    missing = [f"{m.upper()} {p}" for m, p in CALLS if m not in doc["paths"].get(p, {})]
    assert not missing, f"the OpenAPI document lacks {missing}"
    params = {p["name"] for p in doc["paths"]["/api/v1/notices"]["get"]["parameters"]}
    assert "after" in params
    withdrawal = {p["name"] for p in doc["paths"]["/api/v1/accounts/{id}/grants"]["delete"]["parameters"]}
    assert "revoked_by" in withdrawal
