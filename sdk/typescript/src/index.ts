/**
 * The host app's side of actas: what a SaaS product adds so that support
 * can act as a customer safely.
 *
 * - `Verifier` checks impersonation tokens offline against actas's JWKS.
 * - `Client` asks `authorize` before every change and every view of
 *   sensitive data, asks a lead for one change a session lacks
 *   (`askStepUp`), reads access logs and customer notes, records the
 *   customer's permission for support (`grantAccess`, `withdrawAccess`),
 *   exchanges entry codes, and follows the session feed (`Client.follow`).
 * - `Guard` with `actasMiddleware` (Express) or `withActas` (Web
 *   `Request`/`Response`, Next.js route handlers) gives handlers the
 *   `Impersonation` context and refuses requests whose session has ended.
 * - `bannerTag` renders the banner's script tag.
 *
 * `createActas` wires them together.
 */

import { Client, type AuthorizeOptions, type ClientOptions } from './client.js';
import { actasMiddleware, type Middleware, type MiddlewareOptions } from './express.js';
import type { Feed, FollowOptions } from './feed.js';
import { Guard, type TokenSource } from './guard.js';
import { bannerTag } from './banner.js';
import { ActasProblem } from './errors.js';
import { withActas, type ActasContext, type WithActasOptions } from './next.js';
import { SupportRoutes, type SupportRoutesOptions } from './support.js';
import type { CallOptions } from './http.js';
import type { AuthorizeResponse, NewStepUp, SupportRequest } from './types.js';
import { Verifier, type Impersonation, type VerifierOptions } from './verify.js';

export * from './types.js';
export { ActasProblem, ActasUnavailable, TokenError, type TokenErrorCode } from './errors.js';
export { Verifier, Impersonation, type VerifierOptions, type ImpersonationClaims, type ActClaim } from './verify.js';
export {
  Client,
  sessionIsOver,
  type ClientOptions,
  type AuthorizeOptions,
  type NoticeOptions,
  type GrantOptions,
  type RequireConsentOptions,
} from './client.js';
export { type CallOptions } from './http.js';
export { Feed, type FollowOptions } from './feed.js';
export { SseParser, type SseEvent } from './sse.js';
export { Guard, Refusal, cookieValue, headerValue, escapeHtml, type TokenSource, type HeaderBag } from './guard.js';
export {
  SupportRoutes,
  readEndedPage,
  refusalWords,
  endReasonWords,
  type SupportRoutesOptions,
  type EndedPage,
  type RouteAnswer,
} from './support.js';
export { actasMiddleware, requireActas, type ActasRequest, type Middleware, type MiddlewareOptions } from './express.js';
export { withActas, type ActasContext, type WithActasOptions } from './next.js';
export { bannerTag, type BannerOptions } from './banner.js';

/** Options of `createActas`. */
export interface ActasOptions {
  /** The actas base URL, as it issues tokens (their `iss`). */
  url: string;
  /** This host app's id at actas (`app_...`, the tokens' `aud`). */
  appId: string;
  /** This host app's key (`actas_app_...`). Keep it on the server. */
  appKey: string;
  /** Where requests carry the token: the `actas_token` cookie by default. */
  token?: TokenSource;
  /**
   * Enter, leave and ended routes (cookie tokens only), on by default;
   * `false` turns them off.
   */
  routes?: SupportRoutesOptions | false;
  /** Follow the session feed (to refuse ended sessions at once); on by default. */
  follow?: boolean | FollowOptions;
  verifier?: VerifierOptions;
  client?: ClientOptions;
}

/** Everything a host app needs, wired together. */
export interface Actas {
  readonly client: Client;
  readonly verifier: Verifier;
  readonly guard: Guard;
  /** The support routes, unless turned off (or the token is in a header). */
  readonly routes: SupportRoutes | undefined;
  /** Express middleware setting `req.actas`. */
  express(options?: Omit<MiddlewareOptions, 'routes'>): Middleware;
  /** Wraps a Web `Request`/`Response` route handler (Next.js). */
  withActas<C = unknown>(
    handler: (request: Request, context: ActasContext<C>) => Response | Promise<Response>,
    options?: Omit<WithActasOptions, 'routes'>,
  ): (request: Request, context: C) => Promise<Response>;
  /**
   * `authorize` for the agent in `who`; an answer that says the session is
   * over makes the guard refuse its token from the next request on.
   */
  authorize(who: Impersonation, action: string, options?: AuthorizeOptions): Promise<AuthorizeResponse>;
  /**
   * `askStepUp` for `who`'s session, with its token: asks a lead for the
   * one change `authorize` refused as `not_in_scope`. A `session-ended`
   * refusal makes the guard refuse the session's token from the next
   * request on.
   */
  askStepUp(who: Impersonation, ask: NewStepUp, options?: CallOptions): Promise<SupportRequest>;
  /** The banner's script tag for `who`'s session. */
  bannerTag(who: Impersonation, options?: { leaveUrl?: string; nonce?: string }): string;
  /** Starts following the session feed, if it is not followed yet (the middleware does this). */
  follow(): Feed | undefined;
  /** Stops following the session feed. */
  close(): void;
}

/**
 * Wires a `Client`, a `Verifier`, a `Guard` (following the session feed)
 * and the support routes together.
 *
 * ```ts
 * const actas = createActas({ url: 'https://actas.example.com', appId: 'app_123', appKey: process.env.ACTAS_APP_KEY! });
 * app.use(actas.express());
 * ```
 */
export function createActas(options: ActasOptions): Actas {
  const client = new Client(options.url, options.appKey, options.client);
  const verifier = new Verifier(options.url, options.appId, options.verifier);
  const guard = new Guard(verifier, options.token ?? { cookie: 'actas_token' });
  const routes =
    options.routes === false || !('cookie' in guard.source) ? undefined : new SupportRoutes(client, options.routes || {});
  const leaveUrl = routes?.leavePath;
  let feed: Feed | undefined;
  const follow = () => {
    if (options.follow === false) {
      return undefined;
    }
    if (!feed || feed.closed) {
      feed = guard.follow(client, typeof options.follow === 'object' ? options.follow : {});
    }
    return feed;
  };
  return {
    client,
    verifier,
    guard,
    routes,
    express(opts = {}) {
      follow();
      return actasMiddleware(guard, { ...opts, ...(routes ? { routes } : {}) });
    },
    withActas(handler, opts = {}) {
      follow();
      return withActas(guard, handler, { ...opts, ...(routes ? { routes } : {}) });
    },
    async authorize(who, action, opts) {
      return guard.note(who, await client.authorize(who.token, action, opts));
    },
    async askStepUp(who, ask, opts) {
      try {
        return await client.askStepUp(who.token, who.sessionId, ask, opts);
      } catch (e) {
        if (e instanceof ActasProblem && e.slug === 'session-ended') {
          guard.markEnded(who.sessionId);
        }
        throw e;
      }
    },
    bannerTag(who, opts = {}) {
      const leave = opts.leaveUrl ?? leaveUrl;
      return bannerTag({
        actasUrl: client.base,
        token: who.token,
        ...(leave !== undefined ? { leaveUrl: leave } : {}),
        ...(opts.nonce !== undefined ? { nonce: opts.nonce } : {}),
      });
    },
    follow,
    close() {
      feed?.close();
    },
  };
}
