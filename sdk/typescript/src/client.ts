/** A client for the host-app calls of the actas API, holding the app key. */

import { Feed, type FollowOptions } from './feed.js';
import { request, segment, trimBase, type CallOptions, type Transport } from './http.js';
import type {
  AccessLog,
  AccountConsent,
  AuthorizeRequest,
  AuthorizeResponse,
  Change,
  Consent,
  Grant,
  NewGrant,
  NewStepUp,
  NewTicket,
  Notice,
  Session,
  Started,
  SupportRequest,
  Target,
  Ticket,
} from './types.js';

/** Options of a `Client`. */
export interface ClientOptions {
  /** Each call's deadline in milliseconds, retries included (10 000 by default). */
  timeout?: number;
  /** How many times a GET (or a POST that never left) is tried again (2 by default). */
  retries?: number;
  /** The `fetch` to use (the global one by default). */
  fetch?: typeof fetch;
}

/** `authorize`'s target and changes, and the call's options. */
export interface AuthorizeOptions extends CallOptions {
  /** What the action acts on; `account_id`, when given, must be the token's account. */
  target?: Target;
  /** The changes it makes (old → new); values of redacted actions are never stored. */
  changes?: Change[];
}

/** Options of `Client.notices`. */
export interface NoticeOptions extends CallOptions {
  /** At most this many (actas's default is 100, at most 1000). */
  limit?: number;
}

/** What `grantAccess` records: for how long, and who allowed it. */
export interface GrantOptions {
  /** For how many hours support may access the account (1 to 720). */
  hours: number;
  /** Who allows it, as the host app names the customer's user (an e-mail address, a login). */
  grantedBy: string;
}

/** What `requireConsent` sets: whether the account asks for its customer's grant, and who said so. */
export interface RequireConsentOptions {
  /** Whether support needs the customer's grant before any session on the account. */
  required: boolean;
  /** Who set it, as the host app names the customer's user. */
  setBy: string;
}

/** Authorize reasons that mean the session is over for good. */
const OVER = new Set([
  'session_ended',
  'session_expired',
  'idle_timeout',
  'session_revoked',
  'staff_disabled',
  'ticket_closed',
  'customer_revoked',
]);

/**
 * Whether an `authorize` refusal means the session is over for good, so the
 * host app can drop it (and a `Guard` can refuse its token from now on).
 */
export function sessionIsOver(reason: string): boolean {
  return OVER.has(reason);
}

/**
 * The host app's calls to actas, with its app key. Problems come back as
 * `ActasProblem`, no answer as `ActasUnavailable`; every call takes a
 * `signal` and a `timeout`.
 *
 * ```ts
 * const actas = new Client('https://actas.example.com', process.env.ACTAS_APP_KEY!);
 * const answer = await actas.authorize(token, 'invoice_email.update', {
 *   changes: [{ field: 'invoice_email', old: 'a@x.test', new: 'b@x.test' }],
 * });
 * if (!answer.allowed) console.log(`refused: ${answer.reason}`);
 * ```
 */
export class Client {
  readonly #t: Transport;

  /** A client for the actas at `base` (e.g. `https://actas.example.com`). */
  constructor(base: string, appKey: string, options: ClientOptions = {}) {
    this.#t = {
      base: trimBase(base),
      credentials: appKey,
      timeout: options.timeout ?? 10_000,
      retries: options.retries ?? 2,
      fetch: options.fetch ?? globalThis.fetch.bind(globalThis),
      userAgent: 'actas-host-js/0.1',
    };
  }

  /** The actas base URL. */
  get base(): string {
    return this.#t.base;
  }

  /**
   * Asks whether the agent holding `token` may do `action` now, recording
   * the target and the changes (old → new) in the audit trail. A refusal
   * resolves with `allowed: false` and a reason code; a rejection means no
   * answer (treat it as no). Never retried once sent: the answer and its
   * audit event are one.
   */
  authorize(token: string, action: string, options: AuthorizeOptions = {}): Promise<AuthorizeResponse> {
    const body: AuthorizeRequest = { token, action };
    if (options.target) {
      body.target = options.target;
    }
    if (options.changes) {
      body.changes = options.changes;
    }
    return request(this.#t, { method: 'POST', path: '/authorize', body }, options);
  }

  /**
   * Asks a lead for one change the session's scope lacks (a step-up), in
   * the agent's name, with the session's impersonation `token`
   * (`POST /sessions/{id}/stepup`): what an "Ask a lead for this one
   * change" button does after `authorize` answered `not_in_scope`. Name the
   * action, target and changes the refused call named: once a lead
   * approves, exactly that call is allowed, once, within 5 minutes; the
   * session's scope never grows. Resolves with the request (`kind`
   * `stepup`, `status` `pending`, or `approved` when the policy needs
   * nobody); `session(id).stepups` shows its decision, and so does the
   * banner. A refusal is an `ActasProblem`: `reason-vague`, `not-a-change`,
   * `forbidden-action`, `nothing-new`, `wrong-account`, `unknown-action`
   * (422), `session-ended` (409). Never retried once sent.
   */
  askStepUp(token: string, sessionId: string, ask: NewStepUp, options?: CallOptions): Promise<SupportRequest> {
    return request(
      this.#t,
      { method: 'POST', path: `/sessions/${segment(sessionId)}/stepup`, bearer: token, body: ask },
      options,
    );
  }

  /** A session's state (`GET /sessions/{id}`; only sessions issued for this app). */
  session(id: string, options?: CallOptions): Promise<Session> {
    return request(this.#t, { method: 'GET', path: `/sessions/${segment(id)}` }, options);
  }

  /**
   * Ends a session with its own impersonation token, as the banner's Exit
   * does (`POST /sessions/{id}/end`): the host app's "leave" button.
   * Ending a session that already ended is a `409` problem.
   */
  endSession(id: string, token: string, options?: CallOptions): Promise<Session> {
    return request(this.#t, { method: 'POST', path: `/sessions/${segment(id)}/end`, bearer: token, body: {} }, options);
  }

  /**
   * Records activity from the agent's screen with the session's token
   * (`POST /sessions/{id}/heartbeat`); the banner does this by itself.
   */
  heartbeat(id: string, token: string, options?: CallOptions): Promise<Session> {
    return request(
      this.#t,
      { method: 'POST', path: `/sessions/${segment(id)}/heartbeat`, bearer: token, body: {} },
      options,
    );
  }

  /**
   * Exchanges a one-time entry code (brought by the agent's browser from
   * the staff console) for the session and its token. A code works once,
   * for a short time; a used, expired or replaced code is an `ActasProblem`
   * (`entry-code-used`, `entry-code-expired`, `entry-code-unknown`).
   */
  enter(code: string, options?: CallOptions): Promise<Started> {
    return request(this.#t, { method: 'POST', path: '/entry', body: { code } }, options);
  }

  /** Records a ticket (the app needs the `tickets` permission). */
  createTicket(ticket: NewTicket, options?: CallOptions): Promise<Ticket> {
    return request(this.#t, { method: 'POST', path: '/tickets', body: ticket }, options);
  }

  /** Who from support entered an account, why, and what they changed (newest first). */
  accessLog(accountId: string, options?: CallOptions): Promise<AccessLog> {
    return request(this.#t, { method: 'GET', path: `/accounts/${segment(accountId)}/access-log` }, options);
  }

  /**
   * Records the customer's permission for support to access the account
   * for `hours` (1 to 720), as `grantedBy` allowed it
   * (`POST /accounts/{id}/grants`, `grant.created`): what an "Allow support
   * to access my account" button does. Where the app (`actas app add
   * --consent required`) or the account (`requireConsent`) asks for it,
   * support may request access only while a grant is live, and a session
   * ends no later than its grant. Resolves with the grant. A refusal is an
   * `ActasProblem`: `grant-hours-invalid` (422), `invalid-body` (400), or
   * `not-a-host-app` (403: an app that only pushes tickets). Never retried once sent.
   */
  grantAccess(accountId: string, grant: GrantOptions, options?: CallOptions): Promise<Grant> {
    const body: NewGrant = { hours: grant.hours, granted_by: grant.grantedBy };
    return request(this.#t, { method: 'POST', path: `/accounts/${segment(accountId)}/grants`, body }, options);
  }

  /**
   * The customer's kill switch (`DELETE /accounts/{id}/grants`,
   * `grant.revoked`): withdraws every live grant on the account, and every
   * live support session on it ends at once (`end_reason`
   * `customer_revoked`; `authorize` then answers `customer_revoked`).
   * `revokedBy` names the customer's user ("The customer" when not given).
   * Resolves with the account's consent, `sessions_ended` telling how many
   * sessions ended. Withdrawing when no grant is live still ends the live
   * sessions. Never retried once sent.
   */
  withdrawAccess(accountId: string, revokedBy?: string, options?: CallOptions): Promise<Consent> {
    const q = revokedBy === undefined ? '' : `?${new URLSearchParams({ revoked_by: revokedBy })}`;
    return request(this.#t, { method: 'DELETE', path: `/accounts/${segment(accountId)}/grants${q}` }, options);
  }

  /**
   * Whether the account needs its customer's grant, the live grant (or
   * `null`) and the latest ones, newest first (`GET /accounts/{id}/grants`).
   */
  consent(accountId: string, options?: CallOptions): Promise<Consent> {
    return request(this.#t, { method: 'GET', path: `/accounts/${segment(accountId)}/grants` }, options);
  }

  /**
   * Makes one account ask for its customer's grant before any support
   * session (`required: true`), or stop asking (`false`; an app registered
   * with `--consent required` still asks), whatever the apps say
   * (`PUT /accounts/{id}/consent`). Resolves with the account's consent.
   * Never retried once sent.
   */
  requireConsent(accountId: string, consent: RequireConsentOptions, options?: CallOptions): Promise<Consent> {
    const body: AccountConsent = { required: consent.required, set_by: consent.setBy };
    return request(this.#t, { method: 'PUT', path: `/accounts/${segment(accountId)}/consent`, body }, options);
  }

  /**
   * Customer notes of this app's ended sessions after `after` (a notice
   * `seq`; 0 for the start), oldest first. Deliver each, then call
   * `noticeDelivered`.
   */
  async notices(after = 0, options: NoticeOptions = {}): Promise<Notice[]> {
    const q = new URLSearchParams({ after: String(after) });
    if (options.limit !== undefined) {
      q.set('limit', String(options.limit));
    }
    const list = await request<{ notices: Notice[] }>(this.#t, { method: 'GET', path: `/notices?${q}` }, options);
    return list.notices;
  }

  /** Tells actas a note was delivered to the customer (`customer.notified`). */
  noticeDelivered(id: string, options?: CallOptions): Promise<Notice> {
    return request(this.#t, { method: 'POST', path: `/notices/${segment(id)}/delivered`, body: {} }, options);
  }

  /**
   * Follows `GET /sessions/feed`: every change of this app's sessions,
   * reconnecting after failures and resuming where it left off.
   */
  follow(options?: FollowOptions): Feed {
    return new Feed(this.#t, options);
  }
}
