// A scripted provider for the trunk unit tests: `send` records every request with the (fake)
// time it left and answers through a handler — a response, `null` for silence (the send times
// out after its timeoutMs), or `'hang'` for a send that never settles. Digest checks use core's
// own hashing, so a wrong response value fails the test.
import type { DigestAlgorithm, DigestQop, SipMessage } from '@sipfront/core';
import { createResponse, digestResponse, formatChallenge, ha1, parseAlgorithm, parseDigestCredentials } from '@sipfront/core';
import type { TrunkSender, TrunkSpec } from '../../src/types.js';

export interface Sent {
  req: SipMessage;
  destination: string;
  at: number;
  timeoutMs: number;
}

export type Handler = (req: SipMessage, index: number) => SipMessage | null | 'hang';

export interface FakeProvider {
  send: TrunkSender;
  sent: Sent[];
  /** replaces the handler (the provider's behaviour from now on) */
  handle(h: Handler): void;
  /** the times (ms) requests left at */
  times(): number[];
}

export const fakeProvider = (handler: Handler): FakeProvider => {
  let h = handler;
  const sent: Sent[] = [];
  const send: TrunkSender = (req, destination, timeoutMs) => {
    sent.push({ req, destination, at: Date.now(), timeoutMs });
    const res = h(req, sent.length - 1);
    if (res === 'hang') return new Promise(() => undefined);
    if (res === null) return new Promise((resolve) => setTimeout(() => resolve({ response: undefined, code: null, error: 'timeout' }), timeoutMs));
    return Promise.resolve({ response: res, code: res.status });
  };
  return { send, sent, handle: (n) => (h = n), times: () => sent.map((s) => s.at) };
};

export const reply = (req: SipMessage, status: number, reason?: string, extra: Array<[string, string]> = []): SipMessage =>
  createResponse(req, status, reason, extra);

export const challenge = (realm: string, nonce: string, opts: { algorithm?: DigestAlgorithm; qop?: DigestQop[]; stale?: boolean; opaque?: string } = {}): string =>
  formatChallenge({ realm, nonce, algorithm: opts.algorithm ?? 'MD5', ...(opts.qop !== undefined ? { qop: opts.qop } : {}), ...(opts.stale === true ? { stale: true } : {}), ...(opts.opaque !== undefined ? { opaque: opts.opaque } : {}) });

/** A 401 (or 407) with one challenge. */
export const challenged = (req: SipMessage, realm: string, nonce: string, opts: Parameters<typeof challenge>[2] & { proxy?: boolean } = {}): SipMessage =>
  reply(req, opts.proxy === true ? 407 : 401, undefined, [[opts.proxy === true ? 'Proxy-Authenticate' : 'WWW-Authenticate', challenge(realm, nonce, opts)]]);

/** 200 with our Contact and `;expires=` when given, else an Expires header when given. */
export const ok = (req: SipMessage, opts: { contactExpires?: number; expiresHeader?: number } = {}): SipMessage => {
  const extra: Array<[string, string]> = [];
  const c = req.get('contact');
  if (c !== undefined) extra.push(['Contact', opts.contactExpires !== undefined ? `${c};expires=${opts.contactExpires}` : c]);
  if (opts.expiresHeader !== undefined) extra.push(['Expires', String(opts.expiresHeader)]);
  return reply(req, 200, 'OK', extra);
};

/** Whether the request's credentials verify for `password` (what a registrar checks). */
export const verifies = (req: SipMessage, password: string, header: 'authorization' | 'proxy-authorization' = 'authorization'): boolean => {
  const v = req.get(header);
  if (v === undefined) return false;
  const p = parseDigestCredentials(v);
  if (!p.ok) return false;
  const c = p.value;
  const alg = parseAlgorithm(c.algorithm);
  if (alg === undefined) return false;
  const expected = digestResponse({
    alg, ha1: ha1(alg, c.username, c.realm, password), method: req.method, uri: c.uri, nonce: c.nonce, nc: c.nc, cnonce: c.cnonce, qop: c.qop as DigestQop | undefined,
  });
  return expected === c.response;
};

export const credentialsOf = (req: SipMessage, header: 'authorization' | 'proxy-authorization' = 'authorization') => {
  const p = parseDigestCredentials(req.get(header) ?? '');
  if (!p.ok) throw new Error(`no ${header} credentials: ${req.get(header) ?? '(none)'}`);
  return p.value;
};

export const trunk = (over: Partial<Omit<TrunkSpec, 'retry'>> & { retry?: Partial<TrunkSpec['retry']> } = {}): TrunkSpec => {
  const { retry, ...rest } = over;
  return {
    id: 'p1',
    registrar: 'sip:192.0.2.10',
    user: '200200',
    password: 'secret',
    ha1: null,
    authUser: '200200',
    realm: null,
    contactUser: '200200',
    domain: 'sip.provider.example',
    fromUser: '200200',
    outboundProxy: null,
    inboundFrom: [],
    expires: 3600,
    routeTo: 1,
    ...rest,
    retry: { interval: 20_000, forbiddenInterval: 300_000, maxAttempts: 0, initialDelayMax: 0, ...retry },
  };
};
