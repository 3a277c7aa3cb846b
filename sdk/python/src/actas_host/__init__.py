"""The host app's side of actas: what a SaaS product adds so that support
can act as a customer safely.

- :class:`Verifier` checks impersonation tokens offline against actas's JWKS.
- :class:`Client` / :class:`AsyncClient` ask ``authorize`` before every
  change and every view of sensitive data, ask a lead for one change the
  scope lacks (``ask_stepup``), record and withdraw the customer's
  permission (``grant_access``, ``withdraw_access``), read access logs
  and customer notes, exchange entry codes, and follow the session feed.
- :class:`Guard` decides per request; :mod:`actas_host.fastapi` and
  :mod:`actas_host.django` build on it.
- :class:`SupportRoutes` owns the way in (one-time entry codes) and out.
- :func:`banner_tag` renders the banner's script tag.
"""

import logging

from .banner import BannerTag, banner_tag
from .client import AsyncClient, AsyncFeed, Client, Feed
from .errors import ActasError, ActasProblem, ActasUnavailable, TokenError, TokenRefusal
from .guard import ENDED_REASONS, Follower, Guard, Refused
from .models import (
    AUTHORIZE_REFUSALS,
    END_REASON_WORDS,
    END_REASONS,
    REQUEST_KINDS,
    REQUEST_STATUSES,
    SESSION_STATES,
    TICKET_SOURCES,
    TICKET_STATUSES,
    AccessLog,
    AccessLogEntry,
    AccountConsent,
    ActionRef,
    Approver,
    AuthorizeAnswer,
    Change,
    Consent,
    Grant,
    NewGrant,
    NewStepUp,
    Notice,
    NoticeData,
    Playbook,
    Request,
    Review,
    Session,
    SessionChange,
    Started,
    StepUp,
    StepUpChange,
    Target,
    Ticket,
    end_reason_words,
)
from .sse import SseEvent, SseParser
from .support import EndedPage, SupportRoutes, ended_page
from .verify import Impersonation, Verifier

__version__ = "0.1.0"

logging.getLogger("actas_host").addHandler(logging.NullHandler())

__all__ = [
    "AUTHORIZE_REFUSALS",
    "AccessLog",
    "AccessLogEntry",
    "AccountConsent",
    "ActasError",
    "ActasProblem",
    "ActasUnavailable",
    "ActionRef",
    "Approver",
    "AsyncClient",
    "AsyncFeed",
    "AuthorizeAnswer",
    "BannerTag",
    "Change",
    "Consent",
    "EndedPage",
    "Client",
    "END_REASON_WORDS",
    "END_REASONS",
    "ENDED_REASONS",
    "Feed",
    "Follower",
    "Grant",
    "Guard",
    "Impersonation",
    "NewGrant",
    "NewStepUp",
    "Notice",
    "NoticeData",
    "Playbook",
    "REQUEST_KINDS",
    "REQUEST_STATUSES",
    "Refused",
    "Request",
    "Review",
    "SESSION_STATES",
    "Session",
    "SessionChange",
    "SseEvent",
    "SseParser",
    "SupportRoutes",
    "Started",
    "StepUp",
    "StepUpChange",
    "TICKET_SOURCES",
    "TICKET_STATUSES",
    "Target",
    "Ticket",
    "TokenError",
    "TokenRefusal",
    "Verifier",
    "banner_tag",
    "end_reason_words",
    "ended_page",
]
