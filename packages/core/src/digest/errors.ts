// Typed errors of the digest module. Code branches on `code`, never on message text.

export type DigestErrorCode =
  | 'unsupported-algorithm' // an algorithm name this module does not implement
  | 'unsupported-qop' // a challenge that offers only qop values this module does not implement
  | 'no-credentials' // no password, and no HA1 for the algorithm and realm asked for
  | 'invalid-challenge'; // a challenge header that is not a usable Digest challenge

export class DigestError extends Error {
  readonly code: DigestErrorCode;

  constructor(code: DigestErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DigestError';
    this.code = code;
  }
}

export const isDigestError = (e: unknown): e is DigestError => e instanceof DigestError;
