/**
 * The way in and out of a support session, handled by the middleware itself
 * (cookie tokens only), so that neither can be blocked by a stale cookie:
 *
 * - **enter** (`/support/enter?code=...`): exchanges the one-time entry code
 *   the staff console handed the browser for the session's token (with the
 *   app key), sets the cookie (replacing any older session's) and redirects
 *   to the landing page. The token never travels in a URL.
 * - **leave** (`/support/leave`): drops the cookie and shows the end page.
 * - **ended** (`/support/ended`): the host app's own page that says the
 *   session ended and why (`readEndedPage` reads its query); the middleware
 *   never checks a token there.
 * - Any other request whose session ended, or whose token is refused, drops
 *   the cookie and is redirected to the end page, so the customer's own
 *   pages stay reachable and the agent is never left at a bare error.
 */

import type { Client } from './client.js';
import { ActasProblem } from './errors.js';
import { type Guard, type HeaderBag, type Refusal, unverifiedSession } from './guard.js';
import type { EndReason } from './types.js';
import type { Impersonation } from './verify.js';

/** Options of `SupportRoutes`. */
export interface SupportRoutesOptions {
  /** The path that takes `?code=` (the app's entry address at actas); `/support/enter`. */
  enter?: string;
  /** The path that drops the support cookie; `/support/leave`. */
  leave?: string;
  /** The host app's page that says a session ended; `/support/ended`. */
  ended?: string;
  /** Where an agent lands after entering; `/` by default. */
  landing?: (who: Impersonation) => string;
  /** Marks the cookie `Secure` (set it when the host app is served over HTTPS). */
  secure?: boolean;
}

/** An answer the middleware sends by itself. */
export interface RouteAnswer {
  status: number;
  headers: [string, string][];
  body: string;
}

/** What the end page's query says. */
export interface EndedPage {
  /** The session that ended, when one was named. */
  session?: string;
  /**
   * Why entering was refused: `entry-code-used`, `entry-code-expired`,
   * `entry-code-unknown`, `entry-code-missing`, `session-ended`,
   * `wrong-app`, `entry-refused` or `unavailable`.
   */
  refused?: string;
  /** The agent left the account (the session may still be live). */
  left: boolean;
}

const KNOWN_REFUSALS = ['entry-code-unknown', 'entry-code-used', 'entry-code-expired', 'session-ended', 'wrong-app'];

/** Reads the end page's query; only values of the shapes actas issues get through. */
export function readEndedPage(url: string | URL): EndedPage {
  const q = new URL(url, 'http://host.invalid').searchParams;
  const page: EndedPage = { left: ['1', 'true', 'yes'].includes(q.get('left') ?? '') };
  const session = q.get('session');
  if (session && /^[A-Za-z0-9_]{1,100}$/.test(session)) {
    page.session = session;
  }
  const refused = q.get('refused');
  if (refused && /^[a-z-]{1,40}$/.test(refused)) {
    page.refused = refused;
  }
  return page;
}

/** Plain words for why an entry was refused. */
export function refusalWords(slug: string): string {
  switch (slug) {
    case 'entry-code-used':
      return 'This entry link was used already: each link works once.';
    case 'entry-code-expired':
      return 'This entry link has expired: links work for two minutes.';
    case 'entry-code-unknown':
      return 'This entry link is not known, or a newer one replaced it.';
    case 'entry-code-missing':
      return 'This entry link has no code.';
    case 'session-ended':
      return 'The support session has ended.';
    case 'wrong-app':
      return 'This entry link is for another app.';
    case 'unavailable':
      return 'actas could not be reached to check this entry link.';
    default:
      return 'actas refused this entry link.';
  }
}

/**
 * Why a session ended, in plain words that follow "ended:" ("a lead revoked
 * it"), for the end page. A reason a newer actas sends is told as ended.
 */
export function endReasonWords(reason: EndReason | null | undefined): string {
  switch (reason) {
    case 'expired':
      return 'its time was up';
    case 'idle_timeout':
      return 'nothing happened in it for too long';
    case 'revoked':
      return 'a lead revoked it';
    case 'staff_disabled':
      return "the agent's account was disabled";
    case 'superseded':
      return 'a new session replaced it after a scope change';
    case 'ticket_closed':
      return 'its ticket was solved or closed';
    case 'customer_revoked':
      return 'the customer withdrew their permission';
    default:
      return 'the agent ended it';
  }
}

/** Enter, leave and ended; see the module's description. */
export class SupportRoutes {
  readonly client: Client;
  readonly enterPath: string;
  readonly leavePath: string;
  readonly endedPath: string;
  readonly #landing: (who: Impersonation) => string;
  readonly #secure: boolean;

  constructor(client: Client, options: SupportRoutesOptions = {}) {
    this.client = client;
    this.enterPath = options.enter ?? '/support/enter';
    this.leavePath = options.leave ?? '/support/leave';
    this.endedPath = options.ended ?? '/support/ended';
    this.#landing = options.landing ?? (() => '/');
    this.#secure = options.secure ?? false;
  }

  #cookie(name: string, value: string, maxAge: number): string {
    const parts = [`${name}=${value}`, 'Path=/', 'HttpOnly', 'SameSite=Lax', `Max-Age=${Math.floor(maxAge)}`];
    if (this.#secure) {
      parts.push('Secure');
    }
    return parts.join('; ');
  }

  /** The end page's address for `page`. */
  endedUrl(page: Partial<EndedPage>): string {
    const q = new URLSearchParams();
    if (page.session) {
      q.append('session', page.session);
    }
    if (page.refused) {
      q.append('refused', page.refused);
    }
    if (page.left) {
      q.append('left', '1');
    }
    const s = q.toString();
    return s ? `${this.endedPath}?${s}` : this.endedPath;
  }

  /** A redirect to `to` that also drops the cookie. */
  away(cookie: string, to: string): RouteAnswer {
    return {
      status: 303,
      headers: [
        ['location', to],
        ['set-cookie', this.#cookie(cookie, '', 0)],
        ['cache-control', 'no-store'],
      ],
      body: '',
    };
  }

  /** The answer to a refused request: to the end page, without the cookie. */
  refused(cookie: string, refusal: Refusal): RouteAnswer {
    return this.away(cookie, this.endedUrl(refusal.sessionId ? { session: refusal.sessionId } : {}));
  }

  /**
   * Handles the support routes: an answer for enter and leave, `'ended'`
   * for the end page (which the app serves, with no context), `null` for
   * every other path.
   */
  async route(guard: Guard, method: string, url: string, headers: HeaderBag): Promise<RouteAnswer | 'ended' | null> {
    if (!('cookie' in guard.source)) {
      return null;
    }
    const cookie = guard.source.cookie;
    const parsed = new URL(url, 'http://host.invalid');
    const path = parsed.pathname;
    if (path === this.enterPath && method.toUpperCase() === 'GET') {
      return this.#enter(guard, cookie, parsed.searchParams.get('code') ?? '');
    }
    if (path === this.leavePath) {
      const token = guard.tokenFrom(headers);
      const session = token ? unverifiedSession(token) : null;
      return this.away(cookie, this.endedUrl(session ? { session, left: true } : {}));
    }
    if (path === this.endedPath) {
      return 'ended';
    }
    return null;
  }

  async #enter(guard: Guard, cookie: string, rawCode: string): Promise<RouteAnswer> {
    const refused = (slug: string) => this.away(cookie, this.endedUrl({ refused: slug }));
    const code = rawCode.trim();
    if (!code) {
      return refused('entry-code-missing');
    }
    let token: string;
    try {
      ({ token } = await this.client.enter(code));
    } catch (e) {
      if (e instanceof ActasProblem) {
        return refused(KNOWN_REFUSALS.includes(e.slug) ? e.slug : 'entry-refused');
      }
      return refused('unavailable');
    }
    let who: Impersonation;
    try {
      who = await guard.verifier.verify(token);
    } catch {
      // actas answered the code with a token this app refuses.
      return refused('entry-refused');
    }
    const maxAge = Math.max(1, who.expiresAt - Math.floor(Date.now() / 1000));
    return {
      status: 303,
      headers: [
        ['location', this.#landing(who)],
        ['set-cookie', this.#cookie(cookie, token, maxAge)],
        ['cache-control', 'no-store'],
      ],
      body: '',
    };
  }
}
