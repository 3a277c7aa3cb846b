import type { ProblemDocument } from './types.js';

const PREFIX = 'urn:actas:problem:';

/**
 * actas answered with an RFC 9457 problem document (`application/problem+json`).
 *
 * `type` is stable (`urn:actas:problem:<slug>`); `detail` is a sentence for
 * people. Compare `slug` (or `type`) in code, never `detail`.
 */
export class ActasProblem extends Error implements ProblemDocument {
  override readonly name = 'ActasProblem';
  /** Stable type URI, `urn:actas:problem:<slug>`. */
  readonly type: string;
  /** Short title of the type. */
  readonly title: string;
  /** HTTP status. */
  readonly status: number;
  /** What happened, in a sentence. */
  readonly detail: string;
  /** The field concerned, for validation problems. */
  readonly field: string | undefined;

  constructor(problem: ProblemDocument) {
    super(`actas refused: ${problem.detail} (${problem.type})`);
    this.type = problem.type;
    this.title = problem.title;
    this.status = problem.status;
    this.detail = problem.detail;
    this.field = problem.field ?? undefined;
  }

  /** The part of `type` after `urn:actas:problem:` (e.g. `unauthorized`). */
  get slug(): string {
    return this.type.startsWith(PREFIX) ? this.type.slice(PREFIX.length) : this.type;
  }

  /** The problem document, as actas sent it. */
  toJSON(): ProblemDocument {
    const doc: ProblemDocument = { type: this.type, title: this.title, status: this.status, detail: this.detail };
    if (this.field !== undefined) {
      doc.field = this.field;
    }
    return doc;
  }
}

/**
 * actas could not be reached, did not answer in time, or answered something
 * that is not the API's. There is no answer: treat it as "no".
 */
export class ActasUnavailable extends Error {
  override readonly name = 'ActasUnavailable';
  /** Whether the call ran out of time (its `timeout` or the caller's signal). */
  readonly timedOut: boolean;

  constructor(message: string, options: { cause?: unknown; timedOut?: boolean } = {}) {
    super(message, { cause: options.cause });
    this.timedOut = options.timedOut ?? false;
  }
}

/** Why an impersonation token was refused. */
export type TokenErrorCode =
  /** Not a compact JWS, or without the claims actas puts in. */
  | 'malformed'
  /** Not EdDSA (`alg: none` included). */
  | 'unsupported_algorithm'
  /** Signed with a key actas does not publish. */
  | 'unknown_key'
  /** The signature does not match. */
  | 'bad_signature'
  /** Past its `exp` (the session's end). */
  | 'expired'
  /** Issued for another app. */
  | 'wrong_audience'
  /** Issued by another actas. */
  | 'wrong_issuer'
  /** The signing keys could not be fetched. */
  | 'unavailable';

const TOKEN_WORDS: Record<TokenErrorCode, string> = {
  malformed: 'malformed token',
  unsupported_algorithm: 'unsupported algorithm',
  unknown_key: 'unknown signing key',
  bad_signature: 'bad signature',
  expired: 'expired',
  wrong_audience: 'issued for another app',
  wrong_issuer: 'issued by another actas',
  unavailable: 'cannot fetch the signing keys',
};

/** An impersonation token was refused; `code` says why. */
export class TokenError extends Error {
  override readonly name = 'TokenError';
  readonly code: TokenErrorCode;

  constructor(code: TokenErrorCode, options: { cause?: unknown; detail?: string } = {}) {
    super(options.detail ? `${TOKEN_WORDS[code]}: ${options.detail}` : TOKEN_WORDS[code], { cause: options.cause });
    this.code = code;
  }
}

/** Reads a problem document from an answer body, or makes one from the status. */
export function problemFrom(status: number, statusText: string, body: string): ActasProblem {
  try {
    const doc = JSON.parse(body) as Partial<ProblemDocument>;
    if (doc && typeof doc.type === 'string' && typeof doc.detail === 'string') {
      return new ActasProblem({
        type: doc.type,
        title: typeof doc.title === 'string' ? doc.title : statusText,
        status: typeof doc.status === 'number' ? doc.status : status,
        detail: doc.detail,
        field: typeof doc.field === 'string' ? doc.field : undefined,
      });
    }
  } catch {
    // Not JSON: a proxy's page, say. Fall through.
  }
  return new ActasProblem({
    type: 'about:blank',
    title: statusText || 'error',
    status,
    detail: body.slice(0, 500),
  });
}
