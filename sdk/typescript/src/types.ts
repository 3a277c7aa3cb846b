/**
 * Wire types of the actas HTTP API (`/api/v1`) that a host app meets.
 * Field names are the API's own (snake_case), as in the OpenAPI document
 * actas serves at `/api/v1/openapi.json`. Times are RFC 3339 strings.
 */

/** Whether a session is live. */
export const SESSION_STATES = ['live', 'ended'] as const;
/** Whether a session is live. */
export type SessionState = (typeof SESSION_STATES)[number];

/** Why a session ended; each reason is its own audit event. */
export const END_REASONS = [
  'ended',
  'expired',
  'idle_timeout',
  'revoked',
  'staff_disabled',
  'superseded',
  'ticket_closed',
  'customer_revoked',
] as const;
/** Why a session ended (a newer actas may send reasons not listed here). */
export type EndReason = (typeof END_REASONS)[number] | (string & {});

/** Refusal codes of `POST /authorize`. */
export const REFUSALS = [
  'bad_token',
  'wrong_app',
  'wrong_account',
  'unknown_action',
  'not_in_scope',
  'session_ended',
  'session_expired',
  'idle_timeout',
  'session_revoked',
  'staff_disabled',
  'ticket_closed',
  'customer_revoked',
] as const;
/** Refusal codes of `POST /authorize`. */
export type AuthorizeRefusal = (typeof REFUSALS)[number];

/** `POST /authorize`'s `reason`: `ok`, or why not. */
export type AuthorizeReason = 'ok' | AuthorizeRefusal | (string & {});

/**
 * Audit event types, as the server lists them. A host app meets the
 * session changes on the feed (`session.*`, `scope.changed`); the others
 * name events of the audit trail (a newer actas may add types).
 */
export type EventType =
  | 'ticket.created'
  | 'ticket.updated'
  | 'request.created'
  | 'request.refused'
  | 'request.approved'
  | 'request.denied'
  | 'request.withdrawn'
  | 'request.expired'
  | 'session.started'
  | 'session.ended'
  | 'session.expired'
  | 'session.idle_timeout'
  | 'session.revoked'
  | 'session.ticket_closed'
  | 'scope.requested'
  | 'scope.approved'
  | 'scope.denied'
  | 'scope.changed'
  | 'stepup.requested'
  | 'stepup.approved'
  | 'stepup.denied'
  | 'stepup.used'
  | 'action.performed'
  | 'action.denied'
  | 'record.viewed'
  | 'staff.created'
  | 'staff.disabled'
  | 'staff.updated'
  | 'staff.enabled'
  | 'app.created'
  | 'app.updated'
  | 'policy.loaded'
  | 'key.rotated'
  | 'customer.notified'
  | 'session.entered'
  | 'grant.created'
  | 'grant.revoked'
  | 'session.customer_revoked'
  | 'breakglass.started'
  | 'session.reviewed'
  | 'webhook.created'
  | 'webhook.paused'
  | 'webhook.resumed'
  | 'webhook.removed'
  | (string & {});

/** A ticket's state in its own system. */
export const TICKET_STATUSES = ['open', 'pending', 'solved', 'closed'] as const;
/** A ticket's state in its own system. */
export type TicketStatus = (typeof TICKET_STATUSES)[number];

/** Where a ticket came from. */
export const TICKET_SOURCES = ['hand', 'app', 'zendesk', 'jira'] as const;
/** Where a ticket came from. */
export type TicketSource = (typeof TICKET_SOURCES)[number];

/** Where a request stands. */
export const REQUEST_STATUSES = ['pending', 'approved', 'denied', 'withdrawn', 'expired', 'started', 'used'] as const;
/** Where a request stands (`used`: a step-up whose one change was made). */
export type RequestStatus = (typeof REQUEST_STATUSES)[number];

/** What a request is for. */
export const REQUEST_KINDS = ['access', 'scope', 'stepup', 'breakglass'] as const;
/**
 * What a request is for: access to an account, more actions, one change,
 * or access without a lead's approval in an emergency (`breakglass`).
 */
export type RequestKind = (typeof REQUEST_KINDS)[number];

/** An action with its plain label. */
export interface ActionRef {
  /** Dotted name, e.g. `invoice_email.update`. */
  name: string;
  /** Plain label, e.g. "Update invoice email". */
  label: string;
}

/** One approval of a session's scope. */
export interface Approver {
  /** `policy` or the approver's login. */
  id: string;
  /** Display name. */
  name: string;
}

/** A support session. */
export interface Session {
  /** `ses_...` */
  id: string;
  /** The request it came from. */
  request_id: string;
  /** Ticket reference. */
  ticket: string;
  /** The customer account. */
  account_id: string;
  /** The account's display name. */
  account_name?: string | null;
  /** The agent's login. */
  agent: string;
  /** The agent's display name. Show it as text, never as HTML. */
  agent_name: string;
  /** `policy` or the approver's login. */
  approver: string;
  /** The approver's display name. */
  approver_name: string;
  /** Everyone who approved the session's scope, in order. */
  approvers: Approver[];
  /** Who approved it, in plain words. */
  approved_by: string;
  /** The host app its tokens are for (the tokens' `aud`). */
  app_id: string;
  /** Granted actions with labels. */
  scope: ActionRef[];
  /** The reason. */
  reason: string;
  started_at: string;
  /** Absolute end. */
  ends_at: string;
  /** When it idles out without activity. */
  idle_deadline: string;
  last_activity_at: string;
  state: SessionState;
  end_reason?: EndReason | null;
  ended_at?: string | null;
  ended_by?: string | null;
  /** The revoke note. */
  end_note?: string | null;
  /** Its step-ups, the latest first (only on `GET /sessions/{id}`, at most 10; absent when none). */
  stepups?: StepUp[];
  /**
   * Started without a lead's approval, in an emergency (break-glass);
   * `approved_by` then says so. Always sent by an actas that knows
   * break-glass.
   */
  breakglass: boolean;
  /** A lead's review of a break-glass session, once given after it ended. */
  review?: Review | null;
}

/** A lead's review of a break-glass session after it ended. */
export interface Review {
  /** The lead's login. */
  by: string;
  /** The lead's display name. */
  by_name: string;
  /** When. */
  at: string;
  /** What the lead found. */
  note: string;
}

/** `POST /requests/{id}/start` and `POST /entry` answer. */
export interface Started {
  session: Session;
  /** The signed impersonation token for the host app. */
  token: string;
}

/** The target of an action. */
export interface Target {
  /** Must be the token's `sub` when given. */
  account_id?: string;
  /** Record type. */
  type?: string;
  /** Record id. */
  id?: string;
}

/** One changed field. Values of redacted actions are never stored. */
export interface Change {
  field: string;
  old?: string;
  new?: string;
}

/** `POST /authorize` body. */
export interface AuthorizeRequest {
  token: string;
  action: string;
  target?: Target;
  changes?: Change[];
}

/** `POST /authorize` answer. */
export interface AuthorizeResponse {
  /** Whether the host app may go ahead. */
  allowed: boolean;
  /** `ok`, or why not. */
  reason: AuthorizeReason;
  /** The audit event recording the answer. */
  event_id?: string | null;
}

/** `POST /sessions/{id}/stepup` body: one change the session's scope lacks. */
export interface NewStepUp {
  /** The action's dotted name: a change the policy allows and the scope lacks. */
  action: string;
  /** What it will be done to; when given, only that target matches. */
  target?: Target;
  /**
   * The changes it will make; when given, only the same fields with the
   * same new values match (old values are not compared).
   */
  changes?: Change[];
  /** Why, naming what the customer asked for. */
  reason: string;
}

/** What a step-up is for. */
export interface StepUpChange {
  /** The target named, if any. */
  target?: Target | null;
  /**
   * The changes named, as the trail keeps them (`(value not stored)` where
   * the policy stores no value); empty when none were named.
   */
  changes: Change[];
}

/** A step-up of a session, as the agent's banner and the lead see it. */
export interface StepUp {
  /** The request (`req_...`), decided with `approve` and `deny`. */
  id: string;
  /** The one action. */
  action: ActionRef;
  /** What it is for. */
  change: StepUpChange;
  /** The change in words: "Change billing details (plan from Pro to Basic on subscription sub_9)". */
  summary: string;
  /** The agent's reason. */
  reason: string;
  /** `pending`, `approved` (usable once until `use_by`), `used`, `denied`, `withdrawn` or `expired`. */
  status: RequestStatus;
  /** Who decided, by display name. */
  decided_by?: string | null;
  /** The decision's note (a denial's reason). */
  decision_note?: string | null;
  /** Approved: usable once until then. */
  use_by?: string | null;
  /** When it was asked. */
  created_at: string;
}

/**
 * A request for access, for more actions, or for one change (a step-up),
 * as `POST /sessions/{id}/stepup` answers it.
 */
export interface SupportRequest {
  /** `req_...` */
  id: string;
  kind: RequestKind;
  status: RequestStatus;
  /** Ticket reference. */
  ticket: string;
  /** The one account. */
  account_id: string;
  /** The account's display name. */
  account_name?: string | null;
  /** The requester's login (the agent's, when the host app asked with the session's token). */
  requester: string;
  /** The requester's display name. */
  requester_name: string;
  /** The reason. */
  reason: string;
  /** Actions asked for. */
  actions: ActionRef[];
  /** Minutes asked for. */
  minutes: number;
  /** Whether a person must approve. */
  needs_approval: boolean;
  /** Actions granted, once decided. */
  granted_actions?: ActionRef[] | null;
  /** Minutes granted, once decided. */
  granted_minutes?: number | null;
  /** Who decided. */
  decided_by?: string | null;
  /** When decided. */
  decided_at?: string | null;
  /** The decision's note. */
  decision_note?: string | null;
  /** Approved: started (or, for a step-up, used) before this. */
  start_by?: string | null;
  /** For scope requests and step-ups, the session concerned; for started requests, the session started. */
  session_id?: string | null;
  /** The playbook of the ticket's kind of case, when its tags named one. */
  playbook?: string | null;
  /** For a step-up (`kind = "stepup"`): the one change it is for. */
  stepup?: StepUpChange | null;
  created_at: string;
}

/** `POST /tickets` body. */
export interface NewTicket {
  ref: string;
  account_id: string;
  account_name?: string;
  subject: string;
  url?: string;
  /** Only a ticket system (an app key) may send another status than `open`. */
  status?: TicketStatus;
  assignee?: string;
  tags?: string[];
}

/** A kind of case and the smallest access the policy suggests for it. */
export interface Playbook {
  name: string;
  label: string;
  actions: ActionRef[];
  minutes: number;
}

/** A ticket. */
export interface Ticket {
  ref: string;
  account_id: string;
  account_name?: string | null;
  subject: string;
  url?: string | null;
  created_by: string;
  created_at: string;
  status: TicketStatus;
  assignee?: string | null;
  tags: string[];
  source: TicketSource;
  updated_at: string;
  playbook?: Playbook | null;
}

/** One entry of an account's access log, as a customer would see it. */
export interface AccessLogEntry {
  session_id: string;
  /** Who from support. */
  agent_name: string;
  /** Who approved (`Policy` for view-only access). */
  approver_name: string;
  /** Who approved, in plain words for the customer. */
  approved_by: string;
  ticket: string;
  /** Why. */
  reason: string;
  /** What they were allowed to do (plain labels). */
  allowed: string[];
  /** What they changed, in plain words. */
  changes: string[];
  started_at: string;
  /** End (or planned end while live). */
  ended_at: string;
  state: SessionState;
  end_reason?: EndReason | null;
}

/** An account's access log, newest first. */
export interface AccessLog {
  account_id: string;
  entries: AccessLogEntry[];
}

/** What a customer note says, field by field. */
export interface NoticeData {
  agent_name: string;
  approver_name: string;
  changes: string[];
  end_reason?: EndReason | null;
  ended_at: string;
  reason: string;
  started_at: string;
  ticket: string;
}

/** A customer note about an ended session, for the host app to deliver. */
export interface Notice {
  /** `ntc_...` */
  id: string;
  /** Queue position; pass the last one seen as `after`. */
  seq: number;
  session_id: string;
  account_id: string;
  /** The note, in plain words. */
  text: string;
  data: NoticeData;
  created_at: string;
  delivered_at?: string | null;
}

/** A session state change on `GET /sessions/feed`. */
export interface SessionChange {
  /** `session.started`, `session.ended`, ... or `scope.changed`. */
  type: EventType;
  /** The session after the change. */
  session: Session;
  /** The audit event's seq; the feed resumes after it. */
  seq: number;
}

/** `POST /accounts/{id}/grants` body: the customer allows support in. */
export interface NewGrant {
  /** For how many hours (1 to 720). */
  hours: number;
  /**
   * Who grants it, as the host app names the customer's user (an e-mail
   * address, a login); at most 200 characters.
   */
  granted_by: string;
}

/** A customer's grant: support may access the account until it runs out or is withdrawn. */
export interface Grant {
  /** `grt_...` */
  id: string;
  /** The customer account. */
  account_id: string;
  /** The host app that recorded it. */
  app_id: string;
  /** Who granted it. */
  granted_by: string;
  /** For how many hours. */
  hours: number;
  /** When it was granted. */
  created_at: string;
  /** When it runs out. */
  expires_at: string;
  /** When it was withdrawn. */
  revoked_at?: string | null;
  /** Who withdrew it. */
  revoked_by?: string | null;
  /** Whether support may access the account under it now. */
  live: boolean;
}

/** An account's consent (`GET /accounts/{id}/grants`, and `DELETE`'s answer). */
export interface Consent {
  /** The customer account. */
  account_id: string;
  /** Whether support needs the customer's grant for it (the app's or the account's setting). */
  required: boolean;
  /** The live grant, if any. */
  grant?: Grant | null;
  /** The latest grants, newest first (at most 20). */
  grants: Grant[];
  /** On `DELETE`: how many live sessions the withdrawal ended. */
  sessions_ended?: number | null;
}

/** `PUT /accounts/{id}/consent` body: whether one account asks for its customer's grant. */
export interface AccountConsent {
  /** Whether support needs the customer's grant. */
  required: boolean;
  /** Who set it, as the host app names the customer's user; at most 200 characters. */
  set_by: string;
}

/** An RFC 9457 problem document, as actas sends it. */
export interface ProblemDocument {
  /** Stable type URI, `urn:actas:problem:<slug>`. */
  type: string;
  title: string;
  status: number;
  detail: string;
  /** The field concerned, for validation problems. */
  field?: string | null;
  /** The request's id in actas's log (also the `X-Request-Id` header). */
  request_id?: string | null;
}
