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
] as const;
/** Refusal codes of `POST /authorize`. */
export type AuthorizeRefusal = (typeof REFUSALS)[number];

/** `POST /authorize`'s `reason`: `ok`, or why not. */
export type AuthorizeReason = 'ok' | AuthorizeRefusal | (string & {});

/** Audit event types (those a host app sees on the session feed included). */
export type EventType =
  | 'session.started'
  | 'session.ended'
  | 'session.expired'
  | 'session.idle_timeout'
  | 'session.revoked'
  | 'session.ticket_closed'
  | 'scope.changed'
  | (string & {});

/** A ticket's state in its own system. */
export const TICKET_STATUSES = ['open', 'pending', 'solved', 'closed'] as const;
/** A ticket's state in its own system. */
export type TicketStatus = (typeof TICKET_STATUSES)[number];

/** Where a ticket came from. */
export const TICKET_SOURCES = ['hand', 'app', 'zendesk', 'jira'] as const;
/** Where a ticket came from. */
export type TicketSource = (typeof TICKET_SOURCES)[number];

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

/** An RFC 9457 problem document, as actas sends it. */
export interface ProblemDocument {
  /** Stable type URI, `urn:actas:problem:<slug>`. */
  type: string;
  title: string;
  status: number;
  detail: string;
  /** The field concerned, for validation problems. */
  field?: string | null;
}
