// Errors of the dispatcher package. Each has a stable `code` and the HTTP status the API maps
// it to; `field` names the offending input (`sets[0].destinations[1].uri`) where there is one.

export type DispatcherErrorCode =
  | 'UNKNOWN_SET'
  | 'UNKNOWN_DESTINATION'
  | 'DUPLICATE_SET'
  | 'DUPLICATE_DESTINATION'
  | 'INVALID_SET' // a set or destination that cannot be used (bad URI, weight, algorithm…)
  | 'INVALID_OPTIONS' // probe options out of range
  | 'INVALID_STATE' // a state an operator may not set (`inactive`, `probing`)
  | 'CLOSED'; // the dispatcher was closed

const HTTP_STATUS: Readonly<Record<DispatcherErrorCode, number>> = {
  UNKNOWN_SET: 404,
  UNKNOWN_DESTINATION: 404,
  DUPLICATE_SET: 409,
  DUPLICATE_DESTINATION: 409,
  INVALID_SET: 400,
  INVALID_OPTIONS: 400,
  INVALID_STATE: 400,
  CLOSED: 503,
};

export class DispatcherError extends Error {
  override readonly name = 'DispatcherError';
  readonly code: DispatcherErrorCode;
  readonly httpStatus: number;
  readonly field: string | undefined;

  constructor(code: DispatcherErrorCode, message: string, options: { field?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.httpStatus = HTTP_STATUS[code];
    this.field = options.field;
  }
}

export const isDispatcherError = (e: unknown): e is DispatcherError => e instanceof DispatcherError;
