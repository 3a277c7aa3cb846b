/**
 * Express (and plain `node:http`) middleware: gives handlers the
 * impersonation context as `req.actas`. Express is not a dependency: the
 * middleware is typed against Node's own request and response, which
 * Express's extend.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';

import { Refusal, type Guard } from './guard.js';
import type { RouteAnswer, SupportRoutes } from './support.js';
import type { Impersonation } from './verify.js';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /**
       * The impersonation context when the request carries a valid token of
       * a live session; `null` for the customer's own requests.
       */
      actas?: Impersonation | null;
    }
  }
}

/** A request the middleware has seen. */
export type ActasRequest = IncomingMessage & { actas?: Impersonation | null; originalUrl?: string };

/** Connect-style middleware. */
export type Middleware = (req: ActasRequest, res: ServerResponse, next: (err?: unknown) => void) => void;

/** Options of `actasMiddleware`. */
export interface MiddlewareOptions {
  /**
   * Let the middleware handle entering, leaving and ended sessions (cookie
   * tokens only); refused requests are then redirected to the end page.
   */
  routes?: SupportRoutes;
  /**
   * Answers a refused request yourself. By default: the end page with
   * `routes`, a plain 401 page without.
   */
  onRefused?: (refusal: Refusal, req: ActasRequest, res: ServerResponse) => void;
}

function send(res: ServerResponse, a: RouteAnswer | ReturnType<Refusal['page']>): void {
  const headers = Array.isArray(a.headers) ? a.headers : Object.entries(a.headers);
  for (const [k, v] of headers) {
    res.appendHeader(k, v);
  }
  res.statusCode = a.status;
  res.end(a.body);
}

/**
 * Reads the impersonation token (header or cookie, as the guard says),
 * verifies it offline, and sets `req.actas`: the context, or `null` without
 * a token. A refused token, or a session known to have ended, never reaches
 * the handler.
 *
 * ```ts
 * app.use(actasMiddleware(guard));
 * app.get('/settings', (req, res) => res.send(req.actas ? `Support (${req.actas.agentName}) is here` : 'Settings'));
 * ```
 */
export function actasMiddleware(guard: Guard, options: MiddlewareOptions = {}): Middleware {
  const routes = 'cookie' in guard.source ? options.routes : undefined;
  const cookie = 'cookie' in guard.source ? guard.source.cookie : '';
  return (req, res, next) => {
    void (async () => {
      if (routes) {
        const answer = await routes.route(guard, req.method ?? 'GET', req.originalUrl ?? req.url ?? '/', req.headers);
        if (answer === 'ended') {
          req.actas = null;
          next();
          return;
        }
        if (answer) {
          send(res, answer);
          return;
        }
      }
      try {
        req.actas = await guard.check(req.headers);
      } catch (e) {
        if (!(e instanceof Refusal)) {
          throw e;
        }
        if (options.onRefused) {
          options.onRefused(e, req, res);
        } else if (routes) {
          send(res, routes.refused(cookie, e));
        } else {
          send(res, e.page());
        }
        return;
      }
      next();
    })().catch(next);
  };
}

/**
 * Refuses (401) a request without an impersonation context: for pages that
 * exist only in a support session. Put it after `actasMiddleware`.
 */
export function requireActas(req: ActasRequest, res: ServerResponse, next: (err?: unknown) => void): void {
  if (req.actas) {
    next();
    return;
  }
  res.statusCode = 401;
  res.setHeader('content-type', 'text/plain; charset=utf-8');
  res.end('This page is for a support session.');
}
