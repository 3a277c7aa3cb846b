"""Acme Billing's own data: customer accounts, kept in memory.

This is a demo, not a billing system: the accounts are seeded at start and
forgotten at exit.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class Activity:
    """One line of an account's activity feed."""

    at: str
    """When, as text."""
    text: str
    """What happened, in plain words."""
    by_support: bool
    """Done by support acting for the customer."""


@dataclass
class Invoice:
    number: str
    amount: str
    status: str


@dataclass
class Account:
    """One customer account."""

    id: str
    name: str
    timezone: str
    tax_id: str
    invoice_email: str
    plan: str
    invoices: list[Invoice]
    bank_account: str
    """Sensitive: support sees it only when actas allows it."""
    activity: list[Activity] = field(default_factory=list)
    """What happened, newest last."""
    inbox: list[str] = field(default_factory=list)
    """Notes for the customer from actas."""


PLANS = ("Starter", "Business", "Enterprise")


def _account(id: str, name: str, email: str, plan: str) -> Account:
    return Account(
        id=id,
        name=name,
        timezone="UTC",
        tax_id="EU123456789",
        invoice_email=email,
        plan=plan,
        invoices=[
            Invoice("INV-1001", "€49.00", "paid"),
            Invoice("INV-1002", "€49.00", "paid"),
            Invoice("INV-1003", "€98.00", "open"),
        ],
        bank_account="DE89 3704 0044 0532 0130 00",
        activity=[Activity("2026-11-20 09:12 UTC", "You changed the plan to Business", by_support=False)],
    )


def seed() -> dict[str, Account]:
    """The demo's accounts, by id (in id order, as the home page lists them)."""
    accounts = [
        _account("acct_42", "Acme Corp", "billing@acme.test", "Business"),
        _account("acct_7", "Globex", "ap@globex.test", "Starter"),
        _account("acct_99", "Initech", "finance@initech.test", "Enterprise"),
    ]
    return {a.id: a for a in sorted(accounts, key=lambda a: a.id)}


class Accounts:
    """The accounts, safe to use from several threads at once.

    Readers get copies, so a page never sees an account half changed.
    """

    def __init__(self, accounts: dict[str, Account]) -> None:
        self._accounts = accounts
        self._lock = threading.Lock()

    def all(self) -> list[Account]:
        with self._lock:
            return [copy.deepcopy(a) for a in self._accounts.values()]

    def get(self, account_id: str) -> Account | None:
        with self._lock:
            account = self._accounts.get(account_id)
            return copy.deepcopy(account) if account is not None else None

    def update(self, account_id: str, change: Callable[[Account], None]) -> Account | None:
        """Applies ``change`` to the account and answers a copy of the result."""
        with self._lock:
            account = self._accounts.get(account_id)
            if account is None:
                return None
            change(account)
            return copy.deepcopy(account)
