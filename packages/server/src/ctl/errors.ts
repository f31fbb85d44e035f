// Errors of `sipfront ctl`. Each has a stable `code` and the exit status scripts can rely on;
// the message is the one line printed after "sipfront ctl: ".

export type CtlErrorCode =
  | 'CTL_USAGE' // bad arguments
  | 'CTL_CONFIG' // the config naming the API cannot be read
  | 'CTL_UNREACHABLE' // no connection, or no answer in time
  | 'CTL_UNAUTHORIZED' // 401 / 403
  | 'CTL_NOT_FOUND' // 404
  | 'CTL_API' // any other refusal or failure the API reported
  | 'CTL_BAD_RESPONSE'; // the answer is not what the contract promises

/** Exit statuses of `sipfront ctl`: 0 success, then one per kind of failure. */
export const CTL_EXIT: Readonly<Record<CtlErrorCode, number>> = Object.freeze({
  CTL_API: 1,
  CTL_BAD_RESPONSE: 1,
  CTL_CONFIG: 1,
  CTL_USAGE: 2,
  CTL_UNREACHABLE: 3,
  CTL_UNAUTHORIZED: 4,
  CTL_NOT_FOUND: 5,
});

export class CtlError extends Error {
  override readonly name = 'CtlError';
  readonly code: CtlErrorCode;
  /** The HTTP status the API answered, when there was one. */
  readonly httpStatus: number | undefined;

  constructor(code: CtlErrorCode, message: string, options?: { cause?: unknown; httpStatus?: number }) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.code = code;
    this.httpStatus = options?.httpStatus;
  }

  get exitCode(): number {
    return CTL_EXIT[this.code];
  }
}
