/**
 * The part of the middleware that does not depend on a web framework: where
 * the token is, whether it verifies, and whether its session is known to
 * have ended.
 */

import type { Client } from './client.js';
import { sessionIsOver } from './client.js';
import { TokenError } from './errors.js';
import type { Feed, FollowOptions } from './feed.js';
import type { Impersonation, Verifier } from './verify.js';
import type { AuthorizeResponse, Session } from './types.js';

/** Where the host app carries the impersonation token. */
export type TokenSource =
  /** A request header, e.g. `x-actas-token`. */
  | { header: string }
  /** A cookie of this name, e.g. `actas_token`. */
  | { cookie: string };

/** Request headers: the Web `Headers`, or Node's `IncomingHttpHeaders`. */
export type HeaderBag = { get(name: string): string | null } | Record<string, string | string[] | undefined>;

/** One header's value (several values joined as the header allows). */
export function headerValue(headers: HeaderBag, name: string): string | null {
  const lower = name.toLowerCase();
  if (typeof (headers as { get?: unknown }).get === 'function') {
    return (headers as { get(name: string): string | null }).get(lower);
  }
  const v = (headers as Record<string, string | string[] | undefined>)[lower];
  if (v === undefined) {
    return null;
  }
  return Array.isArray(v) ? v.join(lower === 'cookie' ? '; ' : ', ') : v;
}

/** The value of the first cookie named `name` in a `Cookie` header. */
export function cookieValue(header: string | null, name: string): string | null {
  if (!header) {
    return null;
  }
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq < 0) {
      continue;
    }
    if (pair.slice(0, eq).trim() === name) {
      let value = pair.slice(eq + 1).trim();
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
        value = value.slice(1, -1);
      }
      return value;
    }
  }
  return null;
}

/**
 * Reads `sid` from a token without checking it. Used only to name the
 * session on the end page, whose handler asks actas about it with the app
 * key (and so learns nothing about another app's sessions).
 */
export function unverifiedSession(token: string): string | null {
  const payload = token.split('.')[1];
  if (!payload) {
    return null;
  }
  try {
    const sid = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { sid?: unknown }).sid;
    return typeof sid === 'string' && /^[A-Za-z0-9_]{1,100}$/.test(sid) ? sid : null;
  } catch {
    return null;
  }
}

/** Why the guard refused a request. */
export class Refusal extends Error {
  override readonly name = 'Refusal';
  /** `token`: the token was refused; `ended`: its session has ended. */
  readonly kind: 'token' | 'ended';
  /** Why the token was refused (kind `token`). */
  readonly tokenError: TokenError | undefined;
  /** The session, when it is known (or readable from the token). */
  readonly sessionId: string | undefined;

  constructor(kind: 'token' | 'ended', sessionId?: string | null, tokenError?: TokenError) {
    super(kind === 'ended' ? 'the support session has ended' : `the support session token was refused (${tokenError?.message})`);
    this.kind = kind;
    this.sessionId = sessionId ?? undefined;
    this.tokenError = tokenError;
  }

  /** Whether the refusal says the session is over (ended, or its token expired). */
  get sessionOver(): boolean {
    return this.kind === 'ended' || this.tokenError?.code === 'expired';
  }

  /** A plain HTML page (status 401), as actas's own layer answers. */
  page(): { status: number; headers: Record<string, string>; body: string } {
    const detail = this.sessionOver
      ? 'The support session has ended.'
      : `The support session token was refused (${escapeHtml(this.tokenError?.message ?? 'refused')}).`;
    const body =
      '<!doctype html><html lang="en"><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">' +
      `<title>Support session ended</title><h1>Support session ended</h1><p>${detail}</p>` +
      "<p>Open the customer's account again from the staff console.</p></html>";
    return {
      status: 401,
      headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' },
      body,
    };
  }
}

/** `s` safe in HTML text and in quoted attribute values. */
export function escapeHtml(s: string): string {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** How long a session known to have ended is remembered past its end, in milliseconds. */
const KEEP_AFTER_END = 10 * 60 * 1000;
/** ... and when its end is not known. */
const KEEP_UNKNOWN = 24 * 60 * 60 * 1000;

/**
 * Verifies tokens and remembers which sessions ended: the same decisions
 * as actas's own axum layer. Requests without a token are the customer's
 * own and pass (`check` answers `null`).
 *
 * ```ts
 * const guard = new Guard(new Verifier(ACTAS, 'app_123'), { cookie: 'actas_token' });
 * guard.follow(client); // hears every session end from the feed
 * ```
 */
export class Guard {
  readonly verifier: Verifier;
  readonly source: TokenSource;
  /** Ended sessions, with when they may be forgotten (their tokens have expired by then). */
  readonly #ended = new Map<string, number>();
  #marks = 0;

  /** A guard reading tokens from `source` (the `actas_token` cookie by default). */
  constructor(verifier: Verifier, source: TokenSource = { cookie: 'actas_token' }) {
    this.verifier = verifier;
    this.source = source;
  }

  /** The token a request carries, or `null` (an empty value counts as none). */
  tokenFrom(headers: HeaderBag): string | null {
    const raw =
      'header' in this.source
        ? headerValue(headers, this.source.header)
        : cookieValue(headerValue(headers, 'cookie'), this.source.cookie);
    const token = raw?.trim() ?? '';
    return token === '' ? null : token;
  }

  /**
   * Records that a session ended (from the feed, or because `authorize`
   * answered that it is over). Pass the session itself when you have it:
   * its end tells how long to remember it.
   */
  markEnded(session: string | Pick<Session, 'id' | 'ends_at'>): void {
    const now = Date.now();
    let id: string;
    let until = now + KEEP_UNKNOWN;
    if (typeof session === 'string') {
      id = session;
    } else {
      id = session.id;
      const end = Date.parse(session.ends_at);
      if (Number.isFinite(end)) {
        until = Math.max(now, end) + KEEP_AFTER_END;
      }
    }
    this.#ended.set(id, Math.max(until, this.#ended.get(id) ?? 0));
    if (++this.#marks % 256 === 0) {
      for (const [sid, forget] of this.#ended) {
        if (forget < now) {
          this.#ended.delete(sid);
        }
      }
    }
  }

  /** Whether a session is known to have ended. */
  hasEnded(sessionId: string): boolean {
    return this.#ended.has(sessionId);
  }

  /**
   * Notes an `authorize` answer: one that says the session is over marks
   * it ended, so its token is refused from the next request on.
   */
  note(who: Impersonation, answer: AuthorizeResponse): AuthorizeResponse {
    if (!answer.allowed && sessionIsOver(answer.reason)) {
      this.markEnded(who.sessionId);
    }
    return answer;
  }

  /**
   * Follows the session feed in the background and records every end.
   * Answers the feed (`close()` it to stop). A feed that cannot go on (a
   * wrong app key) is reported to `onError` (or the console).
   */
  follow(client: Client, options: FollowOptions = {}): Feed {
    const feed = client.follow(options);
    void (async () => {
      try {
        for await (const change of feed) {
          if (change.session.state === 'ended') {
            this.markEnded(change.session);
          }
        }
      } catch (e) {
        if (options.onError) {
          options.onError(e);
        } else {
          console.error('actas: the session feed stopped; ended sessions are no longer heard of:', e);
        }
      }
    })();
    return feed;
  }

  /**
   * Checks a request's headers: `null` without a token, the context with a
   * valid token of a session not known to have ended; throws a `Refusal`
   * otherwise.
   */
  async check(headers: HeaderBag): Promise<Impersonation | null> {
    const token = this.tokenFrom(headers);
    if (token === null) {
      return null;
    }
    let who: Impersonation;
    try {
      who = await this.verifier.verify(token);
    } catch (e) {
      const err = e instanceof TokenError ? e : new TokenError('malformed', { cause: e });
      throw new Refusal('token', unverifiedSession(token), err);
    }
    if (this.hasEnded(who.sessionId)) {
      throw new Refusal('ended', who.sessionId);
    }
    return who;
  }
}
