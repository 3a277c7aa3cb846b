/**
 * Offline verification of impersonation tokens against actas's published
 * keys (`GET /.well-known/jwks.json`).
 */

import { decodeProtectedHeader, importJWK, jwtVerify, type JWK, type JWTPayload } from 'jose';

import { TokenError } from './errors.js';
import { trimBase } from './http.js';

/** The RFC 8693 actor claim: the staff member acting. */
export interface ActClaim {
  /** Staff login. */
  sub: string;
  /** Display name. */
  name: string;
}

/** The claims of an impersonation token (SPEC §4). */
export interface ImpersonationClaims {
  /** The actas base URL. */
  iss: string;
  /** The host app's id. */
  aud: string;
  /** The customer account. */
  sub: string;
  /** The staff member acting. */
  act: ActClaim;
  /** Session id. */
  sid: string;
  /** Granted actions, space-separated. */
  scope: string;
  /** Ticket reference. */
  ticket: string;
  /** Issued at (seconds since the epoch). */
  iat: number;
  /** Expiry (seconds since the epoch), never after the session's end. */
  exp: number;
  /** Token id. */
  jti: string;
}

/**
 * The impersonation context of a verified token: a support agent acting as
 * a customer account. A valid token is necessary, never sufficient: the
 * session may have ended early. Ask `authorize` before every change (or
 * follow the feed, which the `Guard` does).
 */
export class Impersonation {
  /** The customer account the agent acts as (`sub`). */
  readonly accountId: string;
  /** The agent's staff login (`act.sub`). */
  readonly agent: string;
  /** The agent's display name (`act.name`). Show it as text, never as HTML. */
  readonly agentName: string;
  /** The session id (`sid`). */
  readonly sessionId: string;
  /** Granted action names (`scope`). */
  readonly scope: readonly string[];
  /** The ticket reference. */
  readonly ticket: string;
  /** Issue time, seconds since the epoch. */
  readonly issuedAt: number;
  /** Expiry, seconds since the epoch (never after the session's end). */
  readonly expiresAt: number;
  /** The token id (`jti`). */
  readonly tokenId: string;
  /** The app the token is for (`aud`). */
  readonly appId: string;
  /**
   * The token itself, to pass on to `Client.authorize`. Not enumerable, so
   * it stays out of logs and `JSON.stringify`.
   */
  declare readonly token: string;

  constructor(claims: ImpersonationClaims, token: string) {
    this.accountId = claims.sub;
    this.agent = claims.act.sub;
    this.agentName = claims.act.name;
    this.sessionId = claims.sid;
    this.scope = Object.freeze(claims.scope.split(/\s+/).filter(Boolean));
    this.ticket = claims.ticket;
    this.issuedAt = claims.iat;
    this.expiresAt = claims.exp;
    this.tokenId = claims.jti;
    this.appId = claims.aud;
    Object.defineProperty(this, 'token', { value: token, enumerable: false, writable: false });
  }

  /** The RFC 8693 actor claim, as signed. */
  get act(): ActClaim {
    return { sub: this.agent, name: this.agentName };
  }

  /**
   * Whether the token grants `action`. The answer that counts is
   * `authorize`'s: scope can grow mid-session and a session can end.
   */
  grants(action: string): boolean {
    return this.scope.includes(action);
  }

  /** Seconds left until the token expires (0 once it has). */
  secondsLeft(now: number = Date.now()): number {
    return Math.max(0, this.expiresAt - Math.floor(now / 1000));
  }
}

/** Options of a `Verifier`. */
export interface VerifierOptions {
  /**
   * The least time, in milliseconds, between two JWKS fetches caused by
   * unknown key ids (10 000 by default), so that a flood of tokens with
   * made-up key ids cannot hammer actas.
   */
  refetchEvery?: number;
  /** Clock skew allowed on `exp`, in seconds (5 by default). */
  clockTolerance?: number;
  /** Time allowed for one JWKS fetch, in milliseconds (5 000 by default). */
  timeout?: number;
  /** Where the keys are, when not at `{base}/.well-known/jwks.json`. */
  jwksUrl?: string;
  /**
   * The issuer tokens must name, when actas's public base URL (its
   * `--base-url`) is not the `base` this app reaches it at.
   */
  issuer?: string;
  /** The host app's clock, in milliseconds since the epoch (`Date.now` by default). */
  now?: () => number;
  /** The `fetch` to use (the global one by default). */
  fetch?: typeof fetch;
}

interface Jwks {
  keys?: unknown;
}

/**
 * Checks impersonation tokens offline against actas's published keys:
 * EdDSA (Ed25519) only, a `kid` actas publishes, issuer, audience and
 * expiry. Keys are cached; an unknown `kid` refetches the JWKS at most once
 * per `refetchEvery`.
 *
 * ```ts
 * const verifier = new Verifier('https://actas.example.com', 'app_123');
 * const who = await verifier.verify(token); // throws TokenError
 * console.log(`${who.agentName} acting as ${who.accountId}`);
 * ```
 */
export class Verifier {
  /** The issuer tokens must name (the actas base URL). */
  readonly issuer: string;
  /** The app tokens must be issued for. */
  readonly audience: string;
  readonly #jwksUrl: string;
  readonly #refetchEvery: number;
  readonly #tolerance: number;
  readonly #timeout: number;
  readonly #now: () => number;
  readonly #fetch: typeof fetch;
  #keys = new Map<string, CryptoKey>();
  #lastFetch: number | null = null;
  #inFlight: Promise<void> | null = null;
  #lastFailure: TokenError | null = null;
  #fetches = 0;

  /** A verifier for tokens issued by the actas at `base` for the app `audience`. */
  constructor(base: string, audience: string, options: VerifierOptions = {}) {
    this.issuer = trimBase(options.issuer ?? base);
    this.audience = audience;
    this.#jwksUrl = options.jwksUrl ?? `${trimBase(base)}/.well-known/jwks.json`;
    this.#refetchEvery = options.refetchEvery ?? 10_000;
    this.#tolerance = options.clockTolerance ?? 5;
    this.#timeout = options.timeout ?? 5_000;
    this.#now = options.now ?? Date.now;
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** How many keys are cached. */
  get cachedKeys(): number {
    return this.#keys.size;
  }

  /** How many times the JWKS was fetched so far (for monitoring). */
  get fetches(): number {
    return this.#fetches;
  }

  /**
   * Fetches the keys now, unless a fetch happened within `refetchEvery`
   * (a failure of that fetch is then thrown again). Concurrent callers
   * share one fetch.
   */
  async refresh(): Promise<void> {
    if (this.#inFlight) {
      return this.#inFlight;
    }
    const now = this.#now();
    if (this.#lastFetch !== null && now - this.#lastFetch < this.#refetchEvery) {
      // Too soon to ask again; a failure stays a failure until then.
      if (this.#lastFailure) {
        throw this.#lastFailure;
      }
      return;
    }
    this.#lastFetch = now;
    this.#inFlight = this.#fetchKeys()
      .then(
        () => {
          this.#lastFailure = null;
        },
        (e: TokenError) => {
          this.#lastFailure = e;
          throw e;
        },
      )
      .finally(() => {
        this.#inFlight = null;
      });
    return this.#inFlight;
  }

  async #fetchKeys(): Promise<void> {
    this.#fetches += 1;
    let body: Jwks;
    try {
      const res = await this.#fetch(this.#jwksUrl, {
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(this.#timeout),
        redirect: 'error',
      });
      if (!res.ok) {
        throw new Error(`${this.#jwksUrl} answered ${res.status}`);
      }
      body = (await res.json()) as Jwks;
    } catch (e) {
      throw new TokenError('unavailable', { cause: e, detail: e instanceof Error ? e.message : String(e) });
    }
    const keys = new Map<string, CryptoKey>();
    for (const k of Array.isArray(body.keys) ? (body.keys as JWK[]) : []) {
      const usable =
        k &&
        k.kty === 'OKP' &&
        k.crv === 'Ed25519' &&
        typeof k.kid === 'string' &&
        typeof k.x === 'string' &&
        (k.alg === undefined || k.alg === 'EdDSA') &&
        (k.use === undefined || k.use === 'sig');
      if (!usable) {
        continue;
      }
      try {
        const key = await importJWK({ kty: 'OKP', crv: 'Ed25519', x: k.x }, 'EdDSA');
        keys.set(k.kid as string, key as CryptoKey);
      } catch {
        // A key this runtime cannot read signs nothing we accept.
      }
    }
    this.#keys = keys;
  }

  /**
   * Verifies a token: an EdDSA signature by a published key, issuer,
   * audience and expiry, and the claims actas puts in. Throws a
   * `TokenError` otherwise. The session may still have ended early: ask
   * `authorize` (or follow the feed) for that.
   */
  async verify(token: string): Promise<Impersonation> {
    if (typeof token !== 'string' || token.split('.').length !== 3) {
      throw new TokenError('malformed');
    }
    // Read the header first, so that `none` and every other algorithm is
    // named as such, before any key is looked at.
    let header: { alg?: unknown; kid?: unknown };
    try {
      header = decodeProtectedHeader(token);
    } catch (e) {
      throw new TokenError('malformed', { cause: e });
    }
    if (header.alg !== 'EdDSA') {
      throw new TokenError('unsupported_algorithm');
    }
    if (typeof header.kid !== 'string' || header.kid === '') {
      throw new TokenError('malformed', { detail: 'no key id' });
    }
    const kid = header.kid;
    if (!this.#keys.has(kid)) {
      await this.refresh();
    }
    const key = this.#keys.get(kid);
    if (!key) {
      throw new TokenError('unknown_key');
    }
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, key, {
        algorithms: ['EdDSA'],
        issuer: this.issuer,
        audience: this.audience,
        clockTolerance: this.#tolerance,
        currentDate: new Date(this.#now()),
        requiredClaims: ['iss', 'aud', 'sub', 'exp'],
      }));
    } catch (e) {
      throw joseError(e);
    }
    const claims = readClaims(payload);
    if (!claims) {
      throw new TokenError('malformed', { detail: 'missing or mistyped claims' });
    }
    return new Impersonation(claims, token);
  }
}

function joseError(e: unknown): TokenError {
  const code = (e as { code?: string } | null)?.code;
  const claim = (e as { claim?: string } | null)?.claim;
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return new TokenError('expired', { cause: e });
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return new TokenError('bad_signature', { cause: e });
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return new TokenError('unsupported_algorithm', { cause: e });
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (claim === 'aud') {
        return new TokenError('wrong_audience', { cause: e });
      }
      if (claim === 'iss') {
        return new TokenError('wrong_issuer', { cause: e });
      }
      return new TokenError('malformed', { cause: e, detail: (e as Error).message });
    default:
      return new TokenError('malformed', { cause: e });
  }
}

function readClaims(p: JWTPayload): ImpersonationClaims | null {
  const act = p['act'] as { sub?: unknown; name?: unknown } | undefined;
  const str = (v: unknown): v is string => typeof v === 'string';
  const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
  if (
    !str(p.iss) ||
    !str(p.aud) ||
    !str(p.sub) ||
    !act ||
    typeof act !== 'object' ||
    !str(act.sub) ||
    !str(act.name) ||
    !str(p['sid']) ||
    !str(p['scope']) ||
    !str(p['ticket']) ||
    !num(p.exp) ||
    !num(p.iat) ||
    !str(p.jti)
  ) {
    return null;
  }
  return {
    iss: p.iss,
    aud: p.aud,
    sub: p.sub,
    act: { sub: act.sub, name: act.name },
    sid: p['sid'],
    scope: p['scope'],
    ticket: p['ticket'],
    iat: p.iat,
    exp: p.exp,
    jti: p.jti,
  };
}
