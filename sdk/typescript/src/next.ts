/**
 * A route-handler wrapper over the Web `Request`/`Response` API, as Next.js
 * route handlers (and any fetch-style server: Hono, Bun, Deno, workers)
 * use it. Next.js itself is not needed.
 */

import { Refusal, type Guard } from './guard.js';
import type { SupportRoutes } from './support.js';
import type { Impersonation } from './verify.js';

/** What the wrapped handler gets besides the request. */
export type ActasContext<C> = C & {
  /** The impersonation context; `null` for the customer's own requests. */
  actas: Impersonation | null;
};

/** Options of `withActas`. */
export interface WithActasOptions {
  /** Answer 401 when the request carries no impersonation token. */
  required?: boolean;
  /** Enter, leave and ended, handled before the handler (cookie tokens only). */
  routes?: SupportRoutes;
  /** Answers a refused request yourself. */
  onRefused?: (refusal: Refusal, request: Request) => Response | Promise<Response>;
}

/**
 * Wraps a route handler: the token is read and verified as the Express
 * middleware does, and the handler gets the context as `context.actas`. A
 * refused token or an ended session never reaches the handler.
 *
 * ```ts
 * // app/api/settings/route.ts
 * export const POST = withActas(guard, async (request, { actas }) => {
 *   if (actas) { ... await client.authorize(actas.token, 'settings.update') ... }
 *   return Response.json({ ok: true });
 * });
 * ```
 */
export function withActas<C = unknown>(
  guard: Guard,
  handler: (request: Request, context: ActasContext<C>) => Response | Promise<Response>,
  options: WithActasOptions = {},
): (request: Request, context: C) => Promise<Response> {
  const routes = 'cookie' in guard.source ? options.routes : undefined;
  const cookie = 'cookie' in guard.source ? guard.source.cookie : '';
  return async (request, context) => {
    const ctx = (context ?? {}) as C & object;
    if (routes) {
      const answer = await routes.route(guard, request.method, request.url, request.headers);
      if (answer === 'ended') {
        return handler(request, { ...ctx, actas: null } as ActasContext<C>);
      }
      if (answer) {
        return new Response(answer.body || null, { status: answer.status, headers: answer.headers });
      }
    }
    let actas: Impersonation | null;
    try {
      actas = await guard.check(request.headers);
    } catch (e) {
      if (!(e instanceof Refusal)) {
        throw e;
      }
      if (options.onRefused) {
        return options.onRefused(e, request);
      }
      if (routes) {
        const a = routes.refused(cookie, e);
        return new Response(null, { status: a.status, headers: a.headers });
      }
      const page = e.page();
      return new Response(page.body, { status: page.status, headers: page.headers });
    }
    if (!actas && options.required) {
      return new Response('This page is for a support session.', {
        status: 401,
        headers: { 'content-type': 'text/plain; charset=utf-8' },
      });
    }
    return handler(request, { ...ctx, actas } as ActasContext<C>);
  };
}
