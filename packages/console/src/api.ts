// The REST client: every request goes to /api/v1 with the Bearer token, and every failure
// becomes an ApiFailure carrying the contract's `{ error: { code, message, field } }`.
import type { LadderMessage } from './ladder.js';

export const API_BASE = '/api/v1';

export type DestinationState = 'active' | 'inactive' | 'probing' | 'disabled' | 'draining';
export type OperatorState = 'active' | 'disabled' | 'draining';

export interface Probe {
  at: string | number;
  /** null on a local timeout or send failure */
  code: number | null;
  rttMs: number;
  timedOut: boolean;
  error?: string;
}

export interface Destination {
  id: string;
  uri: string;
  weight: number;
  priority: number;
  state: DestinationState;
  lastProbe: Probe | null;
  /** the last 10, newest first */
  probes: Probe[];
  activeCalls: number;
  selectedTotal: number;
}

export interface DispatcherSet {
  id: number;
  name: string;
  algorithm: string;
  destinations: Destination[];
}

export interface Contact {
  uri: string;
  expiresIn: number;
  /** `udp:203.0.113.7:5060` */
  source: string;
  userAgent: string | null;
  q: number | null;
  callId: string;
  path: string[];
  instanceId?: string;
}

export interface Registration {
  aor: string;
  contacts: Contact[];
}

export interface Subscriber {
  user: string;
  domain: string;
  realms: string[];
  algorithms: string[];
}

export type TrunkState = 'unregistered' | 'registering' | 'registered' | 'retrying' | 'rejected';

export interface Trunk {
  id: string;
  registrar: string;
  user: string;
  state: TrunkState;
  registeredUntil: string | number | null;
  lastCode: number | null;
  lastReason: string | null;
  nextAttemptAt: string | number | null;
}

export interface Ban {
  ip: string;
  reason: string;
  createdAt: string;
  expiresAt: string;
  expiresIn: number;
}

export interface CallSummary {
  callId: string;
  startedAt: number | string;
  lastAt: number | string;
  endedAt: number | string | null;
  from: string;
  to: string;
  ruri: string;
  status: number | null;
  state: string;
  messages: number;
}

export interface CallDetail {
  call: CallSummary;
  messages: LadderMessage[];
}

/** A failed API call: `status` 0 when the server could not be reached at all. */
export class ApiFailure extends Error {
  readonly status: number;
  readonly code: string;
  readonly field: string | undefined;
  constructor(status: number, code: string, message: string, field?: string) {
    super(message);
    this.name = 'ApiFailure';
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

/** One line for a panel or a notice, saying what went wrong in words an operator can act on. */
export const describeFailure = (err: unknown, what = 'this'): string => {
  if (!(err instanceof ApiFailure)) return `Could not load ${what}: ${err instanceof Error ? err.message : String(err)}`;
  if (err.status === 0) return `Cannot reach sipfront: ${err.message}`;
  if (err.status === 501) return `Not available on this server yet: the API answered 501 (${err.message}).`;
  if (err.status === 401) return 'The API refused the token (401). Sign in again.';
  if (err.status === 403) return `Not allowed (403): ${err.message}`;
  const field = err.field !== undefined ? ` (field ${err.field})` : '';
  return `${err.message}${field} — ${err.status} ${err.code}`;
};

export interface ApiClient {
  get<T>(path: string, signal?: AbortSignal): Promise<T>;
  send<T>(method: 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<T>;
  /** A file (pcap, text ladder) as a Blob, fetched with the token like everything else. */
  download(path: string): Promise<Blob>;
  readonly token: string | null;
}

export interface ApiClientOptions {
  token: string | null;
  /** called once per 401 so the app can sign out */
  onUnauthorized?: () => void;
  fetch?: typeof fetch;
  base?: string;
}

/** `encodeURIComponent` for path segments (destination URIs, AORs, Call-IDs). */
export const seg = (s: string | number): string => encodeURIComponent(String(s));

export const createApiClient = (options: ApiClientOptions): ApiClient => {
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const base = options.base ?? API_BASE;

  const request = async (method: string, path: string, body: unknown, signal: AbortSignal | undefined, accept: string): Promise<Response> => {
    const headers: Record<string, string> = { accept };
    if (options.token !== null) headers['authorization'] = `Bearer ${options.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await doFetch(`${base}${path}`, {
        method,
        headers,
        cache: 'no-store',
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        ...(signal !== undefined ? { signal } : {}),
      });
    } catch (err) {
      if (signal?.aborted === true) throw err;
      throw new ApiFailure(0, 'network', err instanceof Error ? err.message : String(err));
    }
    if (res.ok) return res;
    if (res.status === 401) options.onUnauthorized?.();
    let code = `http-${res.status}`;
    let message = res.statusText || `HTTP ${res.status}`;
    let field: string | undefined;
    try {
      const j = (await res.json()) as { error?: { code?: unknown; message?: unknown; field?: unknown } };
      if (typeof j.error?.code === 'string') code = j.error.code;
      if (typeof j.error?.message === 'string') message = j.error.message;
      if (typeof j.error?.field === 'string') field = j.error.field;
    } catch {
      // not JSON: keep the status line
    }
    throw new ApiFailure(res.status, code, message, field);
  };

  const json = async <T>(res: Response): Promise<T> => {
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    return (text === '' ? undefined : JSON.parse(text)) as T;
  };

  return {
    token: options.token,
    async get<T>(path: string, signal?: AbortSignal) {
      return json<T>(await request('GET', path, undefined, signal, 'application/json'));
    },
    async send<T>(method: 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, body?: unknown) {
      return json<T>(await request(method, path, body, undefined, 'application/json'));
    },
    async download(path: string) {
      return (await request('GET', path, undefined, undefined, '*/*')).blob();
    },
  };
};
