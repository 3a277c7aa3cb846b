"""Acme Billing on FastAPI: a small billing SaaS that shows how a host app
uses actas through the Python kit (``actas_host``).

Customers use it as themselves. Support enters through
``/support/enter?code=...`` with a one-time code from the staff console,
which the kit's middleware exchanges for the session's token; from then on
every page carries the actas banner, every change and every view of
sensitive data is asked of actas first (``authorize``), refusals are shown
in plain words (a change the scope lacks with the offer to ask a lead for
that one change, ``ask_stepup``), the activity feed labels what support
did, and the customer sees who accessed their account and the note actas
queued when the session ended, and allows support in for some hours or
withdraws that permission at once (``grant_access``, ``withdraw_access``),
which ends any live support session. Password reset values never leave this
app.

Run it next to ``actas demo --host-app http://127.0.0.1:8000``::

    ACTAS_URL=http://127.0.0.1:7878 ACTAS_APP_ID=app_... ACTAS_APP_KEY=actas_app_... \\
        python sdk/python/demo/app.py

``HOST`` and ``PORT`` say where it listens (``127.0.0.1:8000`` by default).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import threading
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from urllib.parse import parse_qsl

import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from actas_host import (
    ActasError,
    ActasProblem,
    Change,
    Client,
    Consent,
    Guard,
    Impersonation,
    NewStepUp,
    Session,
    SupportRoutes,
    Target,
    Verifier,
    banner_tag,
    ended_page,
)
from actas_host.fastapi import ImpersonationMiddleware, SessionRefused, maybe_acting, refused_handler

import pages
from accounts import Account, Accounts, Activity, seed

log = logging.getLogger("acme_billing")

TOKEN_COOKIE = "actas_token"
"""The cookie that carries the impersonation token."""


@dataclass(frozen=True)
class Config:
    """How to reach actas."""

    actas_url: str
    """actas's base URL, as this app and the browser reach it and as it issues tokens."""
    app_id: str
    """This app's id at actas (the tokens' audience)."""
    app_key: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        missing = [name for name in ("ACTAS_URL", "ACTAS_APP_ID", "ACTAS_APP_KEY") if not env.get(name)]
        if missing:
            raise ValueError(f"set {', '.join(missing)}")
        return cls(env["ACTAS_URL"].rstrip("/"), env["ACTAS_APP_ID"], env["ACTAS_APP_KEY"])


@dataclass(frozen=True)
class Demo:
    """What every request may use."""

    accounts: Accounts
    actas: Client
    guard: Guard
    actas_url: str
    acting: Callable[[Request], Awaitable[Impersonation | None]]
    """The kit's dependency: the live session the request carries, or ``None``."""


# -- dependencies -------------------------------------------------------------


async def demo_of(request: Request) -> Demo:
    demo: Demo = request.app.state.demo
    return demo


async def acting(request: Request) -> Impersonation | None:
    return await (await demo_of(request)).acting(request)


MAX_FORM_FIELDS = 20


async def form_fields(request: Request) -> dict[str, str]:
    """The fields of a posted HTML form; a form of another kind is a 400 page."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise HTTPException(400, "This page takes a form.")
    try:
        text = (await request.body()).decode("utf-8")
        return dict(parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS))
    except ValueError as e:  # not UTF-8, or too many fields
        raise HTTPException(400, "The form could not be read.") from e


DemoDep = Annotated[Demo, Depends(demo_of)]
Who = Annotated[Impersonation | None, Depends(acting)]
Form = Annotated[dict[str, str], Depends(form_fields)]


def field(form: Mapping[str, str], name: str) -> str:
    value = form.get(name)
    if value is None:
        raise HTTPException(400, f"The form has no {name}.")
    return value


# -- pages that answer with an error status -----------------------------------


class PageError(Exception):
    """Answered with a page of its own (see :func:`page_error`)."""

    def __init__(
        self, status: int, title: str, body: str, who: Impersonation | None = None, account: Account | None = None
    ) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.body = body
        self.who = who
        self.account = account


@dataclass(frozen=True)
class Offer:
    """A change refused as ``not_in_scope``: what "Ask a lead for this one
    change" sends, and the page to go back to."""

    action: str
    target_type: str | None
    target_id: str | None
    changes: tuple[Change, ...]
    back: str

    def words(self) -> str:
        """The change in words, for the agent: "plan from Pro to Basic"."""
        parts = []
        for c in self.changes:
            name = c.field.replace("_", " ").replace(".", " ")
            if c.old is not None and c.new is not None:
                parts.append(f"{name} from {c.old} to {c.new}")
            elif c.new is not None:
                parts.append(f"{name} to {c.new}")
            else:
                parts.append(name)
        return ", ".join(parts) if parts else f"this change ({self.action})"

    def to_json(self) -> str:
        return json.dumps(
            {
                "action": self.action,
                "target_type": self.target_type,
                "target_id": self.target_id,
                "changes": [c.to_json() for c in self.changes],
                "back": self.back,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Offer | None:
        """The offer a form sent back; ``None`` when it is not one of ours."""
        try:
            j: Any = json.loads(text)
        except ValueError:
            return None

        def opt(value: Any) -> bool:
            return value is None or isinstance(value, str)

        if not isinstance(j, dict) or not isinstance(j.get("action"), str) or not isinstance(j.get("back"), str):
            return None
        changes = j.get("changes", [])
        if not opt(j.get("target_type")) or not opt(j.get("target_id")) or not isinstance(changes, list):
            return None
        if not all(
            isinstance(c, dict) and isinstance(c.get("field"), str) and opt(c.get("old")) and opt(c.get("new"))
            for c in changes
        ):
            return None
        return cls(
            action=j["action"],
            target_type=j.get("target_type"),
            target_id=j.get("target_id"),
            changes=tuple(Change(c["field"], old=c.get("old"), new=c.get("new")) for c in changes),
            back=j["back"],
        )


def refused(why: str, who: Impersonation | None, account: Account, offer: Offer | None = None) -> PageError:
    """The refusal page; with an offer (and support acting), the form that
    asks a lead for the one change."""
    stepup = pages.stepup_form(offer.words(), offer.to_json()) if offer is not None and who is not None else ""
    return PageError(403, "Not allowed", pages.refusal(why, account, stepup), who, account)


def render(
    demo: Demo,
    title: str,
    body: str,
    who: Impersonation | None = None,
    account: Account | None = None,
    status: int = 200,
) -> HTMLResponse:
    """A page; with the banner while support is acting."""
    banner = banner_tag(demo.actas_url, who.token) if who is not None else None
    return HTMLResponse(pages.layout(title, body, banner=banner, account=account), status_code=status)


async def page_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, PageError):
        raise exc
    return render(await demo_of(request), exc.title, exc.body, exc.who, exc.account, exc.status)


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (an unknown address, a wrong method, a bad form) as pages."""
    if not isinstance(exc, HTTPException):
        raise exc
    title, words = {
        400: ("Bad request", exc.detail),
        404: ("Not found", "There is no page at this address."),
        405: ("Method not allowed", "This page does not take that kind of request."),
    }.get(exc.status_code, ("Something went wrong", exc.detail))
    response = render(await demo_of(request), title, pages.paragraph(words), status=exc.status_code)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


# -- asking actas -------------------------------------------------------------

REFUSALS = {
    "not_in_scope": "this action is not among those approved for the support session",
    "session_ended": "the support session has ended",
    "session_expired": "the support session has expired",
    "idle_timeout": "the support session ended after a period without activity",
    "session_revoked": "a lead revoked the support session",
    "staff_disabled": "the support agent's account was disabled",
    "ticket_closed": "the support ticket was solved or closed",
    "customer_revoked": "the customer withdrew their permission for support to access their account",
    "wrong_account": "the support session is for another customer account",
    "unknown_action": "actas does not know this action",
    "bad_token": "the support session token is not valid",
    "wrong_app": "the support session token is not valid",
}
"""A refusal of ``authorize``, in the words this app shows its users."""


def ask(
    demo: Demo,
    who: Impersonation | None,
    account: Account,
    action: str,
    target: tuple[str, str] | None = None,
    changes: Sequence[Change] = (),
) -> None:
    """Asks actas when support is acting (customers act for themselves);
    raises the refusal page when actas says no or cannot be asked. A change
    the scope lacks comes back with the offer to ask a lead for it."""
    if who is None:
        return
    kind, target_id = target if target else (None, None)
    try:
        answer = demo.actas.authorize(
            who.token,
            action,
            target=Target(account_id=account.id, type=kind, id=target_id),
            changes=list(changes) or None,
        )
    except ActasError as e:
        log.warning("actas did not answer: %s", e)
        raise refused("actas could not be asked right now", who, account) from e
    # observe() records a session that is over, so its next request goes to the end page.
    if not demo.guard.observe(who.session_id, answer):
        offer = None
        if answer.reason == "not_in_scope" and not action.endswith(".view"):
            offer = Offer(action, kind, target_id, tuple(changes), f"/accounts/{account.id}")
        raise refused(REFUSALS.get(answer.reason, f"actas refused it ({answer.reason})"), who, account, offer)


def allow_view(demo: Demo, who: Impersonation | None, account: Account, action: str) -> None:
    """A view: allowed offline when the token grants it, else asked of actas
    (the scope may have grown, and a refusal is audited)."""
    if who is not None and who.account_id == account.id and who.grants(action):
        return
    ask(demo, who, account, action)


def find_account(demo: Demo, account_id: str, who: Impersonation | None) -> Account:
    account = demo.accounts.get(account_id)
    if account is None:
        raise PageError(404, "No such account", pages.paragraph(f"There is no account {account_id}."), who)
    return account


def now_text() -> str:
    return time.strftime("today %H:%M UTC", time.gmtime())


def record(demo: Demo, account: Account, who: Impersonation | None, what: str) -> None:
    """Adds a line to the account's activity feed, saying when support did it."""
    if who is not None:
        text = f"{who.agent_name} from support, acting for you under ticket {who.ticket}, {what}"
        line = Activity(now_text(), text, by_support=True)
    else:
        line = Activity(now_text(), f"You {what}", by_support=False)
    demo.accounts.update(account.id, lambda a: a.activity.append(line))


def landing(who: Impersonation) -> str:
    """Where support lands: the first page its session may see."""
    first_pages = [
        ("account.view", ""),
        ("settings.view", "/settings"),
        ("invoices.view", "/invoices"),
        ("plan.view", "/plan"),
        ("activity.view", "/activity"),
    ]
    page = next((path for action, path in first_pages if who.grants(action)), "")
    return f"/accounts/{who.account_id}{page}"


# -- the pages ----------------------------------------------------------------

router = APIRouter()


@router.get("/")
def home(demo: DemoDep, who: Who) -> Response:
    if who is not None:
        return RedirectResponse(landing(who), status_code=303)
    return render(demo, "Welcome", pages.home(demo.accounts.all()))


@router.get("/support/ended")
def ended(demo: DemoDep, request: Request) -> Response:
    """Where the kit sends an agent whose session ended, who left, or whose
    entry link was refused: what happened, why, and the way back."""
    page = ended_page(request.query_params)
    if page.refused:
        return render(demo, "Support entry refused", pages.entry_refused(page.words, f"{demo.actas_url}/"))
    session: Session | None = None
    if page.session:
        try:
            session = demo.actas.session(page.session)
        except ActasError as e:
            log.info("cannot read the ended session: %s", e)
    if session is None:
        return render(demo, "Support session ended", pages.ended(f"{demo.actas_url}/"))
    console = f"{demo.actas_url}/sessions/{session.id}"
    if session.live:
        return render(demo, "You left the customer's account", pages.left(session, console))
    return render(demo, "Support session ended", pages.session_ended(session, console))


@router.post("/support/stepup")
def ask_stepup(demo: DemoDep, who: Who, form: Form) -> Response:
    """Asks a lead for the one change, with the session's token, in the agent's name."""
    if who is None:
        return RedirectResponse("/", status_code=303)
    offer = Offer.from_json(field(form, "offer"))
    reason = field(form, "reason")
    if offer is None:
        return render(demo, "Not allowed", pages.paragraph("That form is not one of ours."), who, status=400)
    # Only a page of this app, never an address elsewhere.
    back = offer.back if offer.back.startswith("/accounts/") else landing(who)
    account = demo.accounts.get(who.account_id)
    ask_lead = NewStepUp(
        offer.action,
        reason=reason,
        target=Target(account_id=who.account_id, type=offer.target_type, id=offer.target_id),
        changes=list(offer.changes) or None,
    )
    try:
        demo.actas.ask_stepup(who.token, who.session_id, ask_lead)
    except ActasProblem as e:
        error = e.detail
    except ActasError as e:
        log.warning("actas did not answer: %s", e)
        error = "actas could not be asked right now; try again."
    else:
        return render(demo, "Asked a lead", pages.stepup_asked(offer.words(), back), who, account)
    form_again = pages.stepup_form(offer.words(), offer.to_json(), error, reason)
    body = pages.refusal(REFUSALS["not_in_scope"], account, form_again)
    return render(demo, "Not allowed", body, who, account, status=422)


@router.get("/accounts/{account_id}")
def overview(demo: DemoDep, who: Who, account_id: str) -> Response:
    account = find_account(demo, account_id, who)
    allow_view(demo, who, account, "account.view")
    return render(demo, account.name, pages.overview(account, acting=who is not None), who, account)


@router.get("/accounts/{account_id}/settings")
def settings(demo: DemoDep, who: Who, account_id: str) -> Response:
    account = find_account(demo, account_id, who)
    allow_view(demo, who, account, "settings.view")
    return render(demo, "Settings", pages.settings(account, None), who, account)


@router.post("/accounts/{account_id}/settings")
def save_settings(demo: DemoDep, who: Who, form: Form, account_id: str) -> Response:
    account = find_account(demo, account_id, who)
    timezone, tax_id = field(form, "timezone"), field(form, "tax_id")
    changes = [
        Change(name, old=old, new=new)
        for name, old, new in (("timezone", account.timezone, timezone), ("tax_id", account.tax_id, tax_id))
        if old != new
    ]
    ask(demo, who, account, "settings.update", ("settings", "account"), changes)

    def change(a: Account) -> None:
        a.timezone, a.tax_id = timezone, tax_id

    updated = demo.accounts.update(account.id, change) or account
    record(demo, account, who, "changed the account settings")
    return render(demo, "Settings", pages.settings(updated, "Settings saved."), who, updated)


@router.post("/accounts/{account_id}/invoice-email")
def save_invoice_email(demo: DemoDep, who: Who, form: Form, account_id: str) -> Response:
    account = find_account(demo, account_id, who)
    email = field(form, "invoice_email")
    change = Change("invoice_email", old=account.invoice_email, new=email)
    ask(demo, who, account, "invoice_email.update", ("settings", "invoice_email"), [change])

    def save(a: Account) -> None:
        a.invoice_email = email

    updated = demo.accounts.update(account.id, save) or account
    record(demo, account, who, f"changed the invoice email to {email}")
    return render(demo, "Settings", pages.settings(updated, "Invoice email saved."), who, updated)


@router.get("/accounts/{account_id}/plan")
def plan(demo: DemoDep, who: Who, account_id: str) -> Response:
    account = find_account(demo, account_id, who)
    allow_view(demo, who, account, "plan.view")
    return render(demo, "Plan", pages.plan(account), who, account)


@router.post("/accounts/{account_id}/plan")
def save_plan(demo: DemoDep, who: Who, form: Form, account_id: str) -> Response:
    account = find_account(demo, account_id, who)
    new_plan = field(form, "plan")
    change = Change("plan", old=account.plan, new=new_plan)
    ask(demo, who, account, "billing.update", ("plan", account.plan), [change])

    def save(a: Account) -> None:
        a.plan = new_plan

    demo.accounts.update(account.id, save)
    record(demo, account, who, f"changed the plan to {new_plan}")
    return RedirectResponse(f"/accounts/{account.id}/plan", status_code=303)


@router.get("/accounts/{account_id}/invoices")
def invoices(demo: DemoDep, who: Who, account_id: str) -> Response:
    account = find_account(demo, account_id, who)
    allow_view(demo, who, account, "invoices.view")
    return render(demo, "Invoices", pages.invoices(account), who, account)


@router.get("/accounts/{account_id}/bank")
def bank(demo: DemoDep, who: Who, account_id: str) -> Response:
    account = find_account(demo, account_id, who)
    # Sensitive: always asked, so that the view is recorded.
    ask(demo, who, account, "sensitive.view", ("bank account", "primary"))
    return render(demo, "Bank details", pages.bank(account), who, account)


@router.post("/accounts/{account_id}/export")
def export(demo: DemoDep, who: Who, account_id: str) -> Response:
    account = find_account(demo, account_id, who)
    ask(demo, who, account, "data.export", ("export", "all data"))
    record(demo, account, who, "exported the account data")
    body = pages.saved("The export is being prepared and will be emailed to the account owner.")
    return render(demo, "Export", body, who, account)


@router.post("/accounts/{account_id}/password-reset")
def password_reset(demo: DemoDep, who: Who, account_id: str) -> Response:
    account = find_account(demo, account_id, who)
    # The reset link and any new password stay here: actas hears only that it happened.
    ask(demo, who, account, "password.reset", ("user", "owner"), [Change("password")])
    record(demo, account, who, "sent a password reset link to the account owner")
    body = pages.saved("A password reset link was sent to the account owner.")
    return render(demo, "Password reset", body, who, account)


@router.get("/accounts/{account_id}/activity")
def activity(demo: DemoDep, who: Who, account_id: str) -> Response:
    account = find_account(demo, account_id, who)
    allow_view(demo, who, account, "activity.view")
    return render(demo, "Activity", pages.activity(account), who, account)


def customer_account(demo: Demo, who: Impersonation | None, account_id: str) -> Account:
    """The account, for its customer alone: support acting as them is refused."""
    account = find_account(demo, account_id, who)
    if who is not None:
        raise refused("this page is for the customer", who, account)
    return account


@router.get("/accounts/{account_id}/access")
def access(demo: DemoDep, who: Who, account_id: str, done: str | None = None) -> Response:
    account = customer_account(demo, who, account_id)
    consent: Consent | None = None
    try:
        consent = demo.actas.consent(account.id)
    except ActasError as e:
        log.warning("cannot read the customer's permission: %s", e)
    body = pages.permission(account, consent, done)
    try:
        body += pages.access_log(demo.actas.access_log(account.id))
    except ActasError as e:
        log.warning("cannot read the access log: %s", e)
        body += pages.access_log_unavailable()
    return render(demo, "Who accessed my account", body, account=account)


@router.post("/accounts/{account_id}/permission")
def allow_support(demo: DemoDep, who: Who, form: Form, account_id: str) -> Response:
    """The customer lets support in for some hours (granted by the account's name)."""
    account = customer_account(demo, who, account_id)
    try:
        hours = int(field(form, "hours"))
    except ValueError as e:
        raise HTTPException(400, "For how long must be a number of hours.") from e
    try:
        demo.actas.grant_access(account.id, hours, account.name)
    except ActasError as e:
        log.warning("could not allow support access: %s", e)
        raise refused(f"support access could not be allowed ({problem_words(e)})", None, account) from e
    return RedirectResponse(f"/accounts/{account.id}/access?done=allowed", status_code=303)


@router.post("/accounts/{account_id}/permission/withdraw")
def withdraw_support(demo: DemoDep, who: Who, account_id: str) -> Response:
    """The customer's kill switch: every live support session on the account ends at once."""
    account = customer_account(demo, who, account_id)
    try:
        demo.actas.withdraw_access(account.id, revoked_by=account.name)
    except ActasError as e:
        log.warning("could not withdraw support access: %s", e)
        raise refused(f"support access could not be withdrawn ({problem_words(e)})", None, account) from e
    return RedirectResponse(f"/accounts/{account.id}/access?done=withdrawn", status_code=303)


def problem_words(e: ActasError) -> str:
    """Why actas said no, for the customer: its problem's detail, or that it could not be asked."""
    if isinstance(e, ActasProblem) and e.detail:
        return e.detail.rstrip(".")
    return "actas could not be asked right now"


# -- customer notes -----------------------------------------------------------


def deliver_notes(demo: Demo, stop: threading.Event, every: float = 1.0) -> None:
    """Reads customer notes from actas, puts each in its account's inbox,
    and tells actas it was delivered; until ``stop`` is set."""
    after = 0
    while not stop.is_set():
        try:
            for note in demo.actas.notices(after):
                after = max(after, note.seq)
                if note.delivered_at is not None:
                    continue
                text = note.text
                demo.accounts.update(note.account_id, lambda a: a.inbox.append(text))
                try:
                    demo.actas.notice_delivered(note.id)
                except ActasError as e:
                    log.warning("could not acknowledge a customer note: %s", e)
        except ActasError as e:
            log.debug("customer notes unavailable: %s", e)
        stop.wait(every)


# -- the app ------------------------------------------------------------------


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Follows the session feed and delivers customer notes while the app serves."""
    demo: Demo = app.state.demo
    follower = demo.guard.follow(demo.actas)
    stop = threading.Event()
    notes = threading.Thread(target=deliver_notes, args=(demo, stop), name="customer-notes", daemon=True)
    notes.start()
    try:
        yield
    finally:
        stop.set()
        # The feed's thread sees the close at actas's next keep-alive; it is a
        # daemon thread, so the process need not wait for it.
        follower.stop(timeout=0)
        notes.join(2.0)
        demo.actas.close()


def create_app(config: Config) -> FastAPI:
    actas = Client(config.actas_url, config.app_key)
    guard = Guard(Verifier(config.actas_url, config.app_id), cookie=TOKEN_COOKIE)
    routes = SupportRoutes(actas, landing=landing)
    app = FastAPI(title="Acme Billing", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.demo = Demo(
        accounts=Accounts(seed()),
        actas=actas,
        guard=guard,
        actas_url=config.actas_url,
        acting=maybe_acting(guard, routes),
    )
    # Every request is checked once; /support/enter and /support/leave are the kit's.
    app.add_middleware(ImpersonationMiddleware, guard=guard, routes=routes)
    app.add_exception_handler(PageError, page_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(SessionRefused, refused_handler)
    app.include_router(router)
    return app


async def serve(server: uvicorn.Server, url: str) -> None:
    serving = asyncio.create_task(server.serve())
    while not server.started and not serving.done():
        await asyncio.sleep(0.05)
    if server.started:
        print(f"Acme Billing (FastAPI) is at {url}", flush=True)
    await serving


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per call to actas otherwise
    try:
        config = Config.from_env(os.environ)
        host = os.environ.get("HOST", "127.0.0.1")
        port = int(os.environ.get("PORT", "8000"))
    except ValueError as e:
        sys.exit(f"Acme Billing: {e} (ACTAS_URL, ACTAS_APP_ID, ACTAS_APP_KEY, and PORT as a number)")
    # No access log: the entry address carries a one-time code.
    server = uvicorn.Server(
        uvicorn.Config(create_app(config), host=host, port=port, access_log=False, log_level="warning")
    )
    # uvicorn shuts down gracefully on SIGTERM and SIGINT, then raises the
    # signal again for the handler that was there before; this one lets the
    # process end normally, with status 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: None)
    asyncio.run(serve(server, f"http://{host}:{port}"))


if __name__ == "__main__":
    main()
