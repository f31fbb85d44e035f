// Errors of the security package. Each has a stable `code` and the HTTP status the API maps it
// to; `field` names the offending input (`security.flood.max`, `ip`) where there is one.

export type SecurityErrorCode =
  | 'INVALID_IP' // not an IPv4 or IPv6 address
  | 'INVALID_DURATION' // a ban length that is not a positive number of seconds (at most ten years)
  | 'INVALID_REASON' // not one of flood, auth-failures, scanner, manual
  | 'TRUSTED_SOURCE' // the address is in a trusted network: trusted sources are never banned
  | 'INVALID_OPTIONS' // createSecurity / a store was given options it cannot use
  | 'STORE_UNAVAILABLE'; // the ban store could not be reached (bans then hold locally only)

const HTTP_STATUS: Readonly<Record<SecurityErrorCode, number>> = {
  INVALID_IP: 400,
  INVALID_DURATION: 400,
  INVALID_REASON: 400,
  TRUSTED_SOURCE: 409,
  INVALID_OPTIONS: 400,
  STORE_UNAVAILABLE: 503,
};

export class SecurityError extends Error {
  override readonly name = 'SecurityError';
  readonly code: SecurityErrorCode;
  readonly httpStatus: number;
  readonly field: string | undefined;

  constructor(code: SecurityErrorCode, message: string, options: { field?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.httpStatus = HTTP_STATUS[code];
    this.field = options.field;
  }
}

export const isSecurityError = (e: unknown): e is SecurityError => e instanceof SecurityError;
