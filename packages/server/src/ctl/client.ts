// A small client for sipfront's REST API over node's fetch: adds the Bearer token, turns every
// way a request can fail into one CtlError whose message is the one line ctl prints.
import { CtlError } from './errors.js';
import type { ApiTarget } from './target.js';

export interface RequestOptions {
  readonly body?: unknown;
  /** what a 404 means for this request, e.g. `no registration for 1001@example.com` */
  readonly notFound?: string;
  /** `text`: return the body as text (ladders, /metrics); default JSON */
  readonly as?: 'json' | 'text';
}

export interface ApiClient {
  readonly baseUrl: string;
  /** JSON body (undefined for an empty one, e.g. 204) */
  json(method: string, path: string, options?: RequestOptions): Promise<unknown>;
  text(method: string, path: string, options?: RequestOptions): Promise<string>;
}

export interface ClientDeps {
  readonly fetch?: typeof fetch;
  readonly timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;

export function createApiClient(target: ApiTarget, deps: ClientDeps = {}): ApiClient {
  const doFetch = deps.fetch ?? fetch;
  const timeoutMs = deps.timeoutMs ?? DEFAULT_TIMEOUT_MS;

  async function send(method: string, path: string, options: RequestOptions, accept: string): Promise<{ res: Response; text: string }> {
    const url = `${target.baseUrl}${path}`;
    const headers: Record<string, string> = { accept };
    if (target.token !== undefined) headers['authorization'] = `Bearer ${target.token}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.body);
    }
    let res: Response;
    let text: string;
    try {
      res = await doFetch(url, { method, headers, ...(body !== undefined ? { body } : {}), signal: AbortSignal.timeout(timeoutMs) });
      text = await res.text();
    } catch (err) {
      throw unreachable(target.baseUrl, err, timeoutMs);
    }
    if (!res.ok) throw refused(method, path, res.status, text, options, target);
    return { res, text };
  }

  return {
    baseUrl: target.baseUrl,
    async json(method, path, options = {}) {
      const { text } = await send(method, path, options, 'application/json');
      if (text.trim() === '') return undefined;
      try {
        return JSON.parse(text) as unknown;
      } catch (err) {
        throw new CtlError('CTL_BAD_RESPONSE', `${method} ${target.baseUrl}${path}: the answer is not JSON (is ${target.baseUrl} sipfront's API?)`, { cause: err });
      }
    },
    async text(method, path, options = {}) {
      const { text } = await send(method, path, options, 'text/plain, */*');
      return text;
    },
  };
}

function unreachable(baseUrl: string, err: unknown, timeoutMs: number): CtlError {
  const e = err as { name?: string; cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') {
    return new CtlError('CTL_UNREACHABLE', `${baseUrl}: no answer within ${timeoutMs / 1000} s`, { cause: err });
  }
  const code = e.cause?.code;
  const why: Record<string, string> = {
    ECONNREFUSED: 'connection refused: is sipfront running, and is this its api.host/api.port?',
    ENOTFOUND: 'host not found',
    EAI_AGAIN: 'host not found (DNS lookup failed)',
    ECONNRESET: 'connection reset',
    EHOSTUNREACH: 'host unreachable',
    ENETUNREACH: 'network unreachable',
    ETIMEDOUT: 'connection timed out',
  };
  const reason = (code !== undefined ? why[code] : undefined) ?? e.cause?.message ?? (err instanceof Error ? err.message : String(err));
  return new CtlError('CTL_UNREACHABLE', `cannot reach ${baseUrl}: ${reason}`, { cause: err });
}

/** The API's own words, from `{ "error": { "code", "message", "field" } }`, if it sent them. */
function apiMessage(text: string): string | undefined {
  try {
    const body = JSON.parse(text) as { error?: { message?: unknown; field?: unknown } | string; message?: unknown };
    const e = body.error;
    if (typeof e === 'object' && e !== null && typeof e.message === 'string') {
      return typeof e.field === 'string' && !e.message.includes(e.field) ? `${e.field}: ${e.message}` : e.message;
    }
    if (typeof body.message === 'string') return body.message;
    if (typeof e === 'string') return e;
  } catch {
    // not JSON: fall through
  }
  const line = text.trim().split('\n')[0]?.trim() ?? '';
  return line !== '' && line.length <= 200 ? line : undefined;
}

function refused(method: string, path: string, status: number, text: string, options: RequestOptions, target: ApiTarget): CtlError {
  const said = apiMessage(text);
  const where = `${method} ${target.baseUrl}${path}`;
  if (status === 401) {
    const why = target.token === undefined
      ? 'no API token given: set SIPFRONT_API_TOKEN, or api.token in the config'
      : `the API token from ${target.tokenSource === 'SIPFRONT_API_TOKEN' ? 'SIPFRONT_API_TOKEN' : `api.token${target.configFile !== undefined ? ` in ${target.configFile}` : ''}`} was refused`;
    return new CtlError('CTL_UNAUTHORIZED', `401 unauthorized: ${why} (${where})`, { httpStatus: status });
  }
  if (status === 403) {
    return new CtlError('CTL_UNAUTHORIZED', `403 forbidden: ${said ?? 'the API refused this client'} (${where})`, { httpStatus: status });
  }
  if (status === 404) {
    const what = options.notFound ?? `${method} ${path}`;
    return new CtlError('CTL_NOT_FOUND', `not found: ${what}${said !== undefined && !/^not found$/i.test(said) ? ` (${said})` : ''}`, { httpStatus: status });
  }
  return new CtlError('CTL_API', `${where}: ${status}${said !== undefined ? ` ${said}` : ''}`, { httpStatus: status });
}
