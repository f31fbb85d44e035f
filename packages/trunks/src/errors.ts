// Errors of the trunks package. Each has a stable `code` and the HTTP status the API maps it to;
// `field` names the offending input (`registrar`, `inbound_from[1]`) where there is one.

export type TrunkErrorCode =
  | 'unknown-trunk' // no trunk with that id
  | 'invalid-trunk' // a trunk that cannot be used (bad URI, no credentials, bad CIDR…)
  | 'closed'; // the manager was closed

const HTTP_STATUS: Readonly<Record<TrunkErrorCode, number>> = {
  'unknown-trunk': 404,
  'invalid-trunk': 400,
  closed: 503,
};

export class TrunkError extends Error {
  override readonly name = 'TrunkError';
  readonly code: TrunkErrorCode;
  readonly httpStatus: number;
  readonly field: string | undefined;

  constructor(code: TrunkErrorCode, message: string, options: { field?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.httpStatus = HTTP_STATUS[code];
    this.field = options.field;
  }
}

export const isTrunkError = (e: unknown): e is TrunkError => e instanceof TrunkError;
