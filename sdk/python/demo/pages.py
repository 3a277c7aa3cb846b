"""The HTML of Acme Billing's pages, built with the standard library.

Every value that goes into the markup passes through :func:`esc`; the only
markup taken as it is comes from these functions themselves and from the
kit's banner tag (which escapes its own attributes).
"""

from __future__ import annotations

import html
from datetime import datetime, timezone
from typing import Iterable

from actas_host import AccessLog, Consent, Session

from accounts import PLANS, Account, Activity

CSS = (
    "body{font-family:system-ui,sans-serif;margin:0;color:#1b1f24;background:#f6f8fa}"
    "header.top{background:#0b3d91;color:#fff;padding:.6rem 1rem;display:flex;flex-wrap:wrap;gap:1rem;align-items:center}"
    "header.top a{color:#fff}.brand{font-weight:700;text-decoration:none}nav{display:flex;flex-wrap:wrap;gap:.8rem}"
    "main{padding:1rem;max-width:52rem}"
    "form{margin:.8rem 0;padding:.8rem;background:#fff;border:1px solid #d0d7de;border-radius:6px}"
    "label{display:block;margin:.3rem 0}input,select{font:inherit;padding:.3rem}button{font:inherit;padding:.35rem .8rem}"
    ".support{color:#8a4b00;font-weight:600}"
    ".refusal{background:#ffebe9;border:1px solid #cf222e;padding:.8rem;border-radius:6px}"
    ".ok{background:#dafbe1;border:1px solid #1a7f37;padding:.8rem;border-radius:6px}"
    "table{border-collapse:collapse}.scroll{overflow-x:auto;max-width:100%}td,th{padding:.3rem .6rem;border-bottom:1px solid #d0d7de;text-align:left}"
)


def esc(value: object) -> str:
    """A value as HTML text or as a quoted attribute value."""
    return html.escape(str(value), quote=True)


def utc(moment: datetime, fmt: str) -> str:
    return moment.astimezone(timezone.utc).strftime(fmt)


def _nav(account: Account) -> str:
    base = f"/accounts/{account.id}"
    links = [
        (base, "Overview"),
        (f"{base}/settings", "Settings"),
        (f"{base}/plan", "Plan"),
        (f"{base}/invoices", "Invoices"),
        (f"{base}/bank", "Bank details"),
        (f"{base}/activity", "Activity"),
        (f"{base}/access", "Who accessed my account"),
    ]
    items = "".join(f'<a href="{esc(href)}">{esc(text)}</a>' for href, text in links)
    return f'<nav aria-label="Account">{items}</nav>'


def layout(title: str, body: str, *, banner: str | None = None, account: Account | None = None) -> str:
    """A whole page: the header (with the account's pages when there is an
    account), the title as ``h1``, and ``body``. ``banner`` is the kit's
    banner tag, given while support is acting."""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} · Acme Billing</title><style>{CSS}</style>{banner or ''}</head>"
        '<body><header class="top"><a class="brand" href="/">Acme Billing</a>'
        f"{_nav(account) if account else ''}</header>"
        f"<main><h1>{esc(title)}</h1>{body}</main></body></html>"
    )


def paragraph(text: str) -> str:
    return f"<p>{esc(text)}</p>"


def refusal(why: str, account: Account | None, stepup: str = "") -> str:
    """Why actas said no; ``stepup`` is the form that asks a lead for the
    one change (see :func:`stepup_form`), when there is one to ask for."""
    back = f'<p><a href="/accounts/{esc(account.id)}">Back to the account</a></p>' if account else ""
    return (
        '<p class="refusal" id="refusal" role="alert">'
        f"actas refused this, so nothing was done: {esc(why)}.</p>{stepup}{back}"
    )


def stepup_form(what: str, offer: str, error: str | None = None, reason: str = "") -> str:
    """The form that asks a lead for one change: ``what`` is the change in
    words, ``offer`` what the form sends back, ``error`` why actas refused a
    previous ask, and ``reason`` what was typed."""
    alert = f'<p class="refusal" id="stepup-error" role="alert">{esc(error)}</p>' if error is not None else ""
    return (
        '<form id="stepup-form" method="post" action="/support/stepup">'
        "<h2>Ask a lead for this one change</h2>"
        "<p>A lead can allow exactly this change, once, within 5 minutes: "
        f'<strong id="stepup-what">{esc(what)}</strong>.</p>{alert}'
        f'<input type="hidden" name="offer" value="{esc(offer)}">'
        '<label for="stepup-reason">Why (name what the customer asked for)</label>'
        f'<textarea id="stepup-reason" name="reason" required rows="3" cols="60">{esc(reason)}</textarea>'
        '<p><button type="submit">Ask a lead for this one change</button></p></form>'
    )


def stepup_asked(what: str, back: str) -> str:
    return (
        '<p class="ok" id="stepup-asked" role="status">'
        f"Asked a lead for this one change: <strong>{esc(what)}</strong>. "
        "The support banner shows the answer. Once it is approved, make the change again "
        "within 5 minutes; it is allowed once.</p>"
        f'<p><a id="stepup-back" href="{esc(back)}">Back to the page</a></p>'
    )


def saved(text: str) -> str:
    return f'<p class="ok" id="saved" role="status">{esc(text)}</p>'


def home(accounts: Iterable[Account]) -> str:
    items = "".join(f'<li><a href="/accounts/{esc(a.id)}">{esc(a.name)} ({esc(a.id)})</a></li>' for a in accounts)
    return (
        f"<p>Sign in as a customer:</p><ul>{items}</ul>"
        "<p>Support enters an account from the actas staff console (<em>Open in the host app</em>), "
        "with a one-time code.</p>"
    )


def _to_console(href: str) -> str:
    return f'<p><a id="to-console" href="{esc(href)}">Back to the staff console</a></p>'


def entry_refused(words: str, console: str) -> str:
    return (
        f'<p id="ended-why" role="alert">{esc(words)}</p>'
        "<p>Open the customer's account again from the staff console: each "
        "<em>Open in the host app</em> makes a new link.</p>"
        f"{_to_console(console)}"
    )


def account_words(session: Session) -> str:
    """``Acme Corp (acct_42)``, or the id alone when actas knows no other name."""
    name = session.account_name
    return f"{name} ({session.account_id})" if name and name != session.account_id else session.account_id


def left(session: Session, console: str) -> str:
    return (
        f'<p id="ended-why" role="status">You left {esc(account_words(session))}. '
        f"The support session is still live until {esc(utc(session.ends_at, '%H:%M UTC'))}; "
        "end it in the staff console when you are done.</p>"
        f"{_to_console(console)}"
    )


def session_ended(session: Session, console: str) -> str:
    note = f" (\u201c{esc(session.end_note)}\u201d)" if session.end_note else ""
    return (
        f'<p id="ended-why" role="status">The support session on {esc(account_words(session))} ended: '
        f"{esc(session.end_words or '')}{note}.</p>"
        "<p>Nothing more can be done in this account under that session. "
        "To continue, ask for a new session from the ticket.</p>"
        f"{_to_console(console)}"
    )


def ended(console: str) -> str:
    return f'<p id="ended-why" role="status">The support session has ended.</p>{_to_console(console)}'


def overview(account: Account, acting: bool) -> str:
    inbox = ""
    if account.inbox:
        notes = "".join(f'<p class="ok">{esc(n)}</p>' for n in account.inbox)
        inbox = f'<section id="inbox" aria-label="Messages"><h2>Messages</h2>{notes}</section>'
    leave = '<p><a href="/support/leave">Leave the account</a></p>' if acting else ""
    return (
        f"<p>Plan: <strong>{esc(account.plan)}</strong></p>"
        f"<p>Invoices go to {esc(account.invoice_email)}</p>{inbox}{leave}"
    )


def settings(account: Account, notice: str | None) -> str:
    base = f"/accounts/{esc(account.id)}"
    return (
        (saved(notice) if notice else "")
        + f'<form method="post" action="{base}/settings"><h2>Account settings</h2>'
        f'<label>Time zone <input name="timezone" value="{esc(account.timezone)}"></label>'
        f'<label>Tax id <input name="tax_id" value="{esc(account.tax_id)}"></label>'
        '<button type="submit">Save settings</button></form>'
        f'<form method="post" action="{base}/invoice-email"><h2>Invoice email</h2>'
        '<label>Send invoices to '
        f'<input name="invoice_email" type="email" value="{esc(account.invoice_email)}"></label>'
        '<button type="submit">Save invoice email</button></form>'
        f'<form method="post" action="{base}/password-reset"><h2>Password</h2>'
        "<p>Send the account owner a password reset link.</p>"
        '<button type="submit">Reset password</button></form>'
        f'<form method="post" action="{base}/export"><h2>Export</h2>'
        '<button type="submit">Export all account data</button></form>'
        '<button id="open-help" type="button" onclick="document.getElementById(\'help\').showModal()">'
        "Open help</button>"
        '<dialog id="help" aria-label="Help"><p>Settings apply to every user of the account.</p>'
        '<form method="dialog"><button>Close</button></form></dialog>'
    )


def plan(account: Account) -> str:
    options = "".join(
        f"<option{' selected' if p == account.plan else ''}>{esc(p)}</option>" for p in PLANS
    )
    return (
        f'<p>Current plan: <strong id="plan">{esc(account.plan)}</strong></p>'
        f'<form method="post" action="/accounts/{esc(account.id)}/plan">'
        f'<label>Change to <select name="plan">{options}</select></label>'
        '<button type="submit">Change plan</button></form>'
    )


def invoices(account: Account) -> str:
    rows = "".join(
        f"<tr><td>{esc(i.number)}</td><td>{esc(i.amount)}</td><td>{esc(i.status)}</td></tr>" for i in account.invoices
    )
    return (
        "<table><thead><tr><th>Invoice</th><th>Amount</th><th>Status</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def bank(account: Account) -> str:
    return f"<p>IBAN: <code>{esc(account.bank_account)}</code></p>"


def _activity_line(line: Activity) -> str:
    label = ' class="support"' if line.by_support else ""
    return f"<li{label}>{esc(line.at)}: {esc(line.text)}</li>"


def activity(account: Account) -> str:
    lines = "".join(_activity_line(line) for line in reversed(account.activity))
    notes = ""
    if account.inbox:
        notes = "<h2>Messages from support</h2>" + "".join(f'<p class="ok note">{esc(n)}</p>' for n in account.inbox)
    return f'<ul id="activity">{lines}</ul>{notes}'


def access_log(log: AccessLog) -> str:
    if not log.entries:
        return "<p>Nobody from support has accessed this account.</p>"
    rows = []
    for e in log.entries:
        when = utc(e.started_at, "%Y-%m-%d %H:%M")
        when += " UTC, in progress" if e.state == "live" else "\u2013" + utc(e.ended_at, "%H:%M UTC")
        changed = "; ".join(e.changes) if e.changes else "nothing"
        rows.append(
            f"<tr><td>{esc(e.agent_name)} ({esc(e.approved_by)})</td><td>{esc(when)}</td>"
            f"<td>Ticket {esc(e.ticket)}: {esc(e.reason)}</td><td>{esc(', '.join(e.allowed))}</td>"
            f"<td>{esc(changed)}</td></tr>"
        )
    return (
        '<div class="scroll"><table id="access-log"><thead><tr>'
        "<th>Who</th><th>When</th><th>Why</th><th>Allowed</th><th>Changed</th>"
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def access_log_unavailable() -> str:
    return '<p class="refusal">The access log cannot be read right now.</p>'


PERMISSION_HOURS = ((1, "1 hour"), (4, "4 hours"), (24, "24 hours"))
"""How long the customer may let support in, from the "Support access" form."""

PERMISSION_DONE = {
    "allowed": "You allowed support to access your account.",
    "withdrawn": "You withdrew support's access; any live support session ended.",
}
"""What the customer just did, by the ``done`` of the access page's address."""


def permission(account: Account, consent: Consent | None, done: str | None) -> str:
    """The customer's say over support access: allow it for some hours, or
    withdraw it at once (the kill switch). ``consent`` is ``None`` when
    actas could not be asked."""
    base = f"/accounts/{esc(account.id)}"
    said = PERMISSION_DONE.get(done or "")
    parts = [
        '<section id="support-permission" aria-labelledby="support-permission-h">',
        '<h2 id="support-permission-h">Support access</h2>',
    ]
    if said is not None:
        parts.append(f'<p class="ok" id="permission-done" role="status">{esc(said)}</p>')
    if consent is None:
        parts.append('<p class="refusal">Support access cannot be read right now.</p>')
    elif consent.grant is not None:
        until = utc(consent.grant.expires_at, "%Y-%m-%d %H:%M UTC")
        parts.append(
            f'<p id="permission-state">Support may access your account until {esc(until)} '
            f"(allowed by {esc(consent.grant.granted_by)}).</p>"
            f'<form method="post" action="{base}/permission/withdraw">'
            '<button type="submit">Withdraw permission now</button></form>'
        )
    else:
        state = (
            "Support cannot access your account unless you allow it."
            if consent.required
            else "Support may access your account when you ask for help."
        )
        options = "".join(f'<option value="{hours}">{esc(text)}</option>' for hours, text in PERMISSION_HOURS)
        parts.append(
            f'<p id="permission-state">{esc(state)}</p>'
            f'<form method="post" action="{base}/permission">'
            '<label for="permission-hours">For how long</label> '
            f'<select id="permission-hours" name="hours">{options}</select> '
            '<button type="submit">Allow support to access my account</button></form>'
        )
    parts.append("</section>")
    return "".join(parts)
