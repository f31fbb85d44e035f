// The API's error catalogue and the one place where any error becomes the contract's reply
// `{ error: { code, message, field? } }`. Errors of the other packages carry their own `code`,
// `httpStatus` and `field`; they are recognised by shape (the api package imports none of them).

export type ApiErrorCode =
  | 'invalid-request' // a body, parameter or query string that does not match its schema
  | 'invalid-json' // a body that is not JSON
  | 'unauthorized' // no or wrong Bearer token
  | 'forbidden' // /metrics from an address outside api.metrics_allow
  | 'not-found' // an unknown id or route
  | 'conflict' // a duplicate
  | 'not-implemented' // an endpoint of the contract that this build does not serve yet
  | 'not-ready' // /ready while starting, draining or stopping, or with the store down
  | 'store-unavailable' // the store cannot be reached: retry later
  | 'insecure-bind' // no api.token and a non-loopback api.host
  | 'internal'; // anything unexpected

const HTTP_STATUS: Readonly<Record<ApiErrorCode, number>> = {
  'invalid-request': 400,
  'invalid-json': 400,
  unauthorized: 401,
  forbidden: 403,
  'not-found': 404,
  conflict: 409,
  'not-implemented': 501,
  'not-ready': 503,
  'store-unavailable': 503,
  'insecure-bind': 500,
  internal: 500,
};

export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly code: ApiErrorCode;
  readonly httpStatus: number;
  readonly field: string | undefined;

  constructor(code: ApiErrorCode, message: string, options: { field?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.httpStatus = HTTP_STATUS[code];
    this.field = options.field;
  }
}

export const isApiError = (e: unknown): e is ApiError => e instanceof ApiError;

export interface ErrorBody {
  error: { code: string; message: string; field?: string };
}

export interface MappedError {
  status: number;
  body: ErrorBody;
  /** seconds, for 503 */
  retryAfter?: number;
}

/** What a client should wait before retrying a 503. */
export const RETRY_AFTER_SECONDS = 5;

/** `UNKNOWN_SET` → `unknown-set`: one spelling for every package's codes. */
const kebab = (code: string): string => code.toLowerCase().replace(/_/g, '-');

interface CodedError {
  code: string;
  httpStatus: number;
  message: string;
  field?: string | undefined;
}

const isCoded = (e: unknown): e is CodedError =>
  e instanceof Error &&
  typeof (e as { code?: unknown }).code === 'string' &&
  typeof (e as { httpStatus?: unknown }).httpStatus === 'number';

/** AJV's instance path `/destinations/0/uri` as the field `destinations[0].uri`. */
export const fieldOfPath = (instancePath: string): string => {
  let out = '';
  for (const part of instancePath.split('/').slice(1)) {
    const p = part.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(p)) out += `[${p}]`;
    else out += out === '' ? p : `.${p}`;
  }
  return out;
};

interface AjvIssue {
  instancePath?: string;
  keyword?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/** The first validation issue as a field name and a message that names it. */
export const validationField = (issues: readonly AjvIssue[]): { field: string; message: string } => {
  const issue = issues[0] ?? {};
  let field = fieldOfPath(issue.instancePath ?? '');
  const params = issue.params ?? {};
  const child = params['missingProperty'] ?? params['additionalProperty'];
  if (typeof child === 'string') field = field === '' ? child : `${field}.${child}`;
  let what = issue.message ?? 'is invalid';
  if (issue.keyword === 'additionalProperties') what = 'unknown property';
  else if (issue.keyword === 'required') what = 'is required';
  else if (issue.keyword === 'enum' && Array.isArray(params['allowedValues'])) what = `must be one of ${(params['allowedValues'] as unknown[]).join(', ')}`;
  return { field, message: field === '' ? what : `${field}: ${what}` };
};

/** Field names of the other packages that differ from the API's camelCase ones. */
const FIELD_ALIASES: Readonly<Record<string, string>> = { ha1_sha256: 'ha1Sha256' };

/** Any error as the contract's reply. */
export const toErrorReply = (err: unknown): MappedError => {
  const e = err as {
    validation?: AjvIssue[];
    validationContext?: string;
    statusCode?: number;
    code?: unknown;
    message?: string;
  };
  if (Array.isArray(e?.validation)) {
    const { field, message } = validationField(e.validation);
    const where = e.validationContext !== undefined && e.validationContext !== 'body' ? `${e.validationContext}: ` : '';
    return { status: 400, body: { error: { code: 'invalid-request', message: `${where}${message}`, ...(field !== '' ? { field } : {}) } } };
  }
  if (isCoded(err)) {
    const status = err.httpStatus;
    const field = err.field === undefined ? undefined : (FIELD_ALIASES[err.field] ?? err.field);
    const code = kebab(err.code);
    const mapped: MappedError = { status, body: { error: { code, message: err.message, ...(field !== undefined ? { field } : {}) } } };
    if (status === 503) mapped.retryAfter = RETRY_AFTER_SECONDS;
    return mapped;
  }
  // Fastify's own 4xx (unparseable JSON, wrong content type, body too large)
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    const code = e.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || e.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || (err instanceof SyntaxError) ? 'invalid-json' : 'invalid-request';
    return { status: e.statusCode, body: { error: { code, message: e.message ?? 'bad request' } } };
  }
  return { status: 500, body: { error: { code: 'internal', message: 'internal error' } } };
};
