/** How the kit talks HTTP to actas: deadlines, safe retries, problems. */

import { ActasUnavailable, problemFrom } from './errors.js';

/** Per-call options, accepted by every `Client` method. */
export interface CallOptions {
  /** Aborts the call (it then rejects with the signal's reason). */
  signal?: AbortSignal;
  /**
   * The whole call's deadline in milliseconds, retries included (the
   * client's `timeout` by default).
   */
  timeout?: number;
}

/** `base` without trailing slashes. */
export function trimBase(base: string): string {
  return String(base).replace(/\/+$/, '');
}

/**
 * `s` as one path segment: every byte but the unreserved ones (RFC 3986:
 * letters, digits, `-._~`) is escaped, so an id with `/`, `?`, `#` or `%`
 * in it stays one segment and reaches actas as it was given.
 */
export function segment(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

/**
 * Error codes of connection failures that happen before a single byte of
 * the request is written: a POST that failed this way never reached actas
 * and may be sent again.
 */
const NOT_SENT = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** Whether `e` (a rejected `fetch`) failed before the request was sent. */
export function failedBeforeSending(e: unknown): boolean {
  for (let c: unknown = e, depth = 0; c && depth < 4; c = (c as { cause?: unknown }).cause, depth++) {
    const code = (c as { code?: unknown }).code;
    if (typeof code === 'string' && NOT_SENT.has(code)) {
      return true;
    }
  }
  return false;
}

/** Answers a GET may be asked again for: a proxy or actas itself is briefly unable to answer. */
const RETRY_STATUS = new Set([502, 503, 504]);

/** Waits `ms`, or less if `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** What a `Client` needs to make calls. */
export interface Transport {
  base: string;
  credentials: string;
  timeout: number;
  retries: number;
  fetch: typeof fetch;
  userAgent: string;
}

/** One API call. */
export interface Call {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** The path under `/api/v1`, already escaped. */
  path: string;
  body?: unknown;
  /** A bearer credential other than the app key (an impersonation token). */
  bearer?: string;
}

/**
 * Makes `call` and reads its JSON answer. A GET is retried after a
 * connection failure or a 502/503/504; a POST, PUT or DELETE only when the
 * connection failed before anything was sent. Never past the deadline.
 */
export async function request<T>(t: Transport, call: Call, options: CallOptions = {}): Promise<T> {
  const deadline = AbortSignal.timeout(options.timeout ?? t.timeout);
  const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline;
  const idempotent = call.method === 'GET';
  const headers: Record<string, string> = {
    authorization: `Bearer ${call.bearer ?? t.credentials}`,
    accept: 'application/json, application/problem+json',
    'user-agent': t.userAgent,
  };
  let body: string | undefined;
  if (call.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(call.body);
  }
  const url = `${t.base}/api/v1${call.path}`;
  for (let attempt = 0; ; attempt++) {
    const last = attempt >= t.retries;
    let res: Response;
    try {
      res = await t.fetch(url, { method: call.method, headers, body, signal, redirect: 'error' });
    } catch (e) {
      if (signal.aborted) {
        throw aborted(options.signal, deadline, e);
      }
      if (!last && (idempotent || failedBeforeSending(e))) {
        await sleep(backoff(attempt), signal);
        if (signal.aborted) {
          throw aborted(options.signal, deadline, e);
        }
        continue;
      }
      throw new ActasUnavailable(`cannot reach actas at ${t.base}: ${describe(e)}`, { cause: e });
    }
    let text: string;
    try {
      text = await res.text();
    } catch (e) {
      if (signal.aborted) {
        throw aborted(options.signal, deadline, e);
      }
      // The answer was cut: for a POST, actas may have acted on it.
      if (!last && idempotent) {
        await sleep(backoff(attempt), signal);
        continue;
      }
      throw new ActasUnavailable(`actas's answer was cut: ${describe(e)}`, { cause: e });
    }
    if (res.ok) {
      try {
        return (text ? JSON.parse(text) : null) as T;
      } catch (e) {
        throw new ActasUnavailable(`actas answered ${res.status} with a body that is not JSON`, { cause: e });
      }
    }
    if (idempotent && !last && RETRY_STATUS.has(res.status)) {
      await sleep(backoff(attempt), signal);
      if (!signal.aborted) {
        continue;
      }
    }
    throw problemFrom(res.status, res.statusText, text);
  }
}

/** 100 ms, 200 ms, 400 ms, ... at most 2 s, with jitter. */
function backoff(attempt: number): number {
  const base = Math.min(2000, 100 * 2 ** attempt);
  return base / 2 + Math.random() * (base / 2);
}

function aborted(caller: AbortSignal | undefined, deadline: AbortSignal, e: unknown): unknown {
  if (caller?.aborted) {
    return caller.reason;
  }
  if (deadline.aborted) {
    return new ActasUnavailable('actas did not answer in time', { cause: e, timedOut: true });
  }
  return e;
}

function describe(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } })?.cause;
  if (cause?.code) {
    return `${cause.code}${cause.message ? ` (${cause.message})` : ''}`;
  }
  return e instanceof Error ? e.message : String(e);
}
