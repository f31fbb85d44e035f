// Errors of the registrar package. Each has a stable `code`, the HTTP status the API maps it
// to and, where a SIP request fails because of it, the SIP status the REGISTER handler sends.

export type RegistrarErrorCode =
  | 'store-unavailable' // the store (Redis) cannot be reached or did not answer in time
  | 'store-conflict' // an AOR kept changing under an update (Redis), retries exhausted
  | 'store-corrupt' // a persisted file that does not parse
  | 'invalid-subscriber' // a subscriber without user, domain or credentials, or a malformed HA1
  | 'invalid-domain' // an empty or malformed domain
  | 'invalid-binding' // a binding without AOR or URI
  | 'invalid-options' // registrar options out of range
  | 'closed'; // the store was closed

const HTTP_STATUS: Readonly<Record<RegistrarErrorCode, number>> = {
  'store-unavailable': 503,
  'store-conflict': 503,
  'store-corrupt': 500,
  'invalid-subscriber': 400,
  'invalid-domain': 400,
  'invalid-binding': 400,
  'invalid-options': 400,
  closed: 503,
};

const SIP_STATUS: Readonly<Partial<Record<RegistrarErrorCode, number>>> = {
  'store-unavailable': 500,
  'store-conflict': 500,
  'store-corrupt': 500,
  closed: 500,
};

export class RegistrarError extends Error {
  override readonly name = 'RegistrarError';
  readonly code: RegistrarErrorCode;
  readonly httpStatus: number;
  readonly sipStatus: number | undefined;
  readonly field: string | undefined;

  constructor(code: RegistrarErrorCode, message: string, options: { field?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.httpStatus = HTTP_STATUS[code];
    this.sipStatus = SIP_STATUS[code];
    this.field = options.field;
  }
}

export const isRegistrarError = (e: unknown): e is RegistrarError => e instanceof RegistrarError;

/** Store trouble that a request should answer with 500 + Retry-After rather than crash on. */
export const isStoreFailure = (e: unknown): e is RegistrarError =>
  isRegistrarError(e) && (e.code === 'store-unavailable' || e.code === 'store-conflict' || e.code === 'closed');
