/** Following `GET /sessions/feed` with reconnect, backoff and resume. */

import { ActasProblem, problemFrom } from './errors.js';
import { sleep, type Transport } from './http.js';
import { SseParser } from './sse.js';
import type { SessionChange } from './types.js';

/** Options of `Client.follow`. */
export interface FollowOptions {
  /** Start after the change with this seq (resume from a stored position). */
  after?: number;
  /** Stops following when aborted (as `close()` does). */
  signal?: AbortSignal;
  /** First wait before reconnecting, in milliseconds (200 by default). */
  minBackoff?: number;
  /** Longest wait before reconnecting, in milliseconds (5 000 by default). */
  maxBackoff?: number;
  /**
   * Reconnect when nothing, not even a keep-alive, arrived for this long,
   * in milliseconds (45 000 by default; actas sends a keep-alive every 15 s).
   */
  idleTimeout?: number;
  /** Told about every failure the feed recovers from (for logs). */
  onError?: (error: unknown) => void;
}

/**
 * Whether a refused connection will be refused again however often it is
 * tried: a wrong app key (401), a caller that may not follow (403), ...
 */
function permanent(status: number): boolean {
  return status >= 400 && status < 500 && status !== 408 && status !== 429;
}

/**
 * The session changes the caller may see, as an async iterable that
 * reconnects by itself (with backoff) and resumes where it left off
 * (`Last-Event-ID`), delivering each change once and in order.
 *
 * ```ts
 * const feed = client.follow();
 * for await (const change of feed) {
 *   if (change.session.state === 'ended') guard.markEnded(change.session);
 * }
 * ```
 *
 * `close()` (or the `signal`) stops it; the loop then ends. A refusal that
 * cannot get better by retrying (a wrong app key) ends the loop with an
 * `ActasProblem`.
 */
export class Feed implements AsyncIterable<SessionChange> {
  readonly #t: Transport;
  readonly #url: string;
  readonly #min: number;
  readonly #max: number;
  readonly #idle: number;
  readonly #onError: (error: unknown) => void;
  readonly #stop = new AbortController();
  #last: number | null;
  #iterating = false;
  #connections = 0;

  constructor(t: Transport, options: FollowOptions = {}) {
    this.#t = t;
    this.#url = `${t.base}/api/v1/sessions/feed`;
    this.#last = options.after ?? null;
    this.#min = options.minBackoff ?? 200;
    this.#max = options.maxBackoff ?? 5_000;
    this.#idle = options.idleTimeout ?? 45_000;
    this.#onError = options.onError ?? (() => {});
    const outer = options.signal;
    if (outer) {
      if (outer.aborted) {
        this.#stop.abort();
      } else {
        outer.addEventListener('abort', () => this.close(), { once: true, signal: this.#stop.signal });
      }
    }
  }

  /** The seq of the last change delivered (store it to resume later with `after`). */
  get lastSeq(): number | null {
    return this.#last;
  }

  /** How many times a stream was opened so far (for monitoring). */
  get connections(): number {
    return this.#connections;
  }

  /** Whether `close()` was called (or the signal aborted). */
  get closed(): boolean {
    return this.#stop.signal.aborted;
  }

  /** Stops following; a pending `next()` resolves as done. */
  close(): void {
    this.#stop.abort();
  }

  [Symbol.asyncIterator](): AsyncIterator<SessionChange> {
    if (this.#iterating) {
      throw new Error('a Feed is read by one loop only; call client.follow() again for another');
    }
    this.#iterating = true;
    return this.#run();
  }

  async *#run(): AsyncGenerator<SessionChange, void, undefined> {
    let backoff = this.#min;
    while (!this.closed) {
      const conn = new AbortController();
      const stopConn = () => conn.abort();
      this.#stop.signal.addEventListener('abort', stopConn, { once: true });
      let timer: ReturnType<typeof setTimeout> | undefined;
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(() => conn.abort(new Error('the session feed went quiet')), this.#idle);
      };
      const disarm = () => clearTimeout(timer);
      try {
        const headers: Record<string, string> = {
          authorization: `Bearer ${this.#t.credentials}`,
          accept: 'text/event-stream',
          'cache-control': 'no-cache',
          'user-agent': this.#t.userAgent,
        };
        if (this.#last !== null) {
          headers['last-event-id'] = String(this.#last);
        }
        arm();
        const res = await this.#t.fetch(this.#url, { headers, signal: conn.signal, redirect: 'error' });
        if (!res.ok) {
          const problem = problemFrom(res.status, res.statusText, await res.text().catch(() => ''));
          if (permanent(res.status)) {
            throw problem;
          }
          this.#onError(problem);
        } else if (!res.body || !(res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
          this.#onError(new Error(`the session feed answered ${res.headers.get('content-type') ?? 'no content type'}`));
        } else {
          this.#connections += 1;
          backoff = this.#min;
          const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
          const parser = new SseParser();
          try {
            for (;;) {
              arm();
              const { value, done } = await reader.read();
              if (done) {
                break;
              }
              for (const event of parser.push(value)) {
                const change = readChange(event.data);
                if (!change) {
                  this.#onError(new Error(`unreadable session change: ${event.data.slice(0, 200)}`));
                  continue;
                }
                if (this.#last !== null && change.seq <= this.#last) {
                  continue;
                }
                this.#last = change.seq;
                // The consumer's time is not the stream's silence.
                disarm();
                yield change;
                if (this.closed) {
                  return;
                }
              }
            }
          } finally {
            reader.cancel().catch(() => {});
          }
          this.#onError(new Error('the session feed closed; reconnecting'));
        }
      } catch (e) {
        if (this.closed) {
          return;
        }
        if (e instanceof ActasProblem && permanent(e.status)) {
          throw e;
        }
        this.#onError(e);
      } finally {
        disarm();
        this.#stop.signal.removeEventListener('abort', stopConn);
        conn.abort();
      }
      if (this.closed) {
        return;
      }
      await sleep(backoff / 2 + Math.random() * (backoff / 2), this.#stop.signal);
      backoff = Math.min(backoff * 2, this.#max);
    }
  }
}

function readChange(data: string): SessionChange | null {
  try {
    const c = JSON.parse(data) as SessionChange;
    if (c && typeof c.seq === 'number' && typeof c.type === 'string' && c.session && typeof c.session.id === 'string') {
      return c;
    }
  } catch {
    // Reported by the caller.
  }
  return null;
}
