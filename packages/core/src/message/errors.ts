// Typed errors of the SIP message layer. Code branches on `code`, never on message text.
import type { SipMessage } from './message.js';

export type ParseErrorCode =
  | 'empty'
  | 'too-large'
  | 'start-line'
  | 'version'
  | 'status-code'
  | 'header-syntax'
  | 'too-many-headers'
  | 'missing-header'
  | 'duplicate-header'
  | 'cseq'
  | 'cseq-method'
  | 'max-forwards'
  | 'content-length'
  | 'body-truncated'
  | 'via'
  | 'name-addr'
  | 'uri';

/**
 * A message that cannot be accepted. `status` is the response a server sends for a request
 * (400, or 505 for an unknown SIP version); responses that fail are discarded.
 * `partial` holds what was parsed, so a 400 can still be addressed when Via and friends are sane.
 */
export class SipParseError extends Error {
  readonly code: ParseErrorCode;
  readonly status: number;
  readonly header: string | undefined;
  partial: SipMessage | undefined;

  constructor(code: ParseErrorCode, message: string, options: { status?: number; header?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SipParseError';
    this.code = code;
    this.status = options.status ?? 400;
    this.header = options.header;
    this.partial = undefined;
  }
}

export const isSipParseError = (e: unknown): e is SipParseError => e instanceof SipParseError;
