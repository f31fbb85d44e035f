// Shared by the registrar's tests (excluded from the build): REGISTER messages as CRLF-joined
// lines, a UA that answers challenges, a fake clock.
import { buildAuthorization, parseMessage, selectChallenge } from '@sipfront/core';
import type { Endpoint, SipMessage } from '@sipfront/core';
import type { RegistrarReply } from './registrar.js';

export const fakeClock = (t = 1_700_000_000_000): { now(): number; t: number } => {
  const c = { t, now: () => c.t };
  return c;
};

export const PHONE: Endpoint = { transport: 'udp', address: '203.0.113.7', port: 5062 };

export interface RegisterSpec {
  user?: string;
  domain?: string;
  ruri?: string;
  callId?: string;
  cseq?: number;
  contacts?: string[];
  expires?: number;
  extra?: string[];
  authorization?: string;
  method?: string;
  fromUser?: string;
}

export const registerMessage = (s: RegisterSpec = {}): SipMessage => {
  const user = s.user ?? '1001';
  const domain = s.domain ?? 'example.com';
  const method = s.method ?? 'REGISTER';
  const lines = [
    `${method} ${s.ruri ?? `sip:${domain}`} SIP/2.0`,
    'Via: SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bK-' + Math.random().toString(36).slice(2) + ';rport',
    'Max-Forwards: 70',
    `From: <sip:${s.fromUser ?? user}@${domain}>;tag=ft1`,
    `To: <sip:${user}@${domain}>`,
    `Call-ID: ${s.callId ?? 'call-1@192.168.1.20'}`,
    `CSeq: ${s.cseq ?? 1} ${method}`,
    ...(s.contacts ?? ['<sip:1001@192.168.1.20:5062>']).map((c) => `Contact: ${c}`),
    ...(s.expires === undefined ? [] : [`Expires: ${s.expires}`]),
    ...(s.authorization === undefined ? [] : [`${method === 'REGISTER' ? 'Authorization' : 'Proxy-Authorization'}: ${s.authorization}`]),
    'User-Agent: TestPhone/1.0',
    ...(s.extra ?? []),
    'Content-Length: 0',
    '',
    '',
  ];
  return parseMessage(Buffer.from(lines.join('\r\n'), 'latin1'));
};

export const headersOf = (r: RegistrarReply, name: string): string[] =>
  r.headers.filter(([n]) => n.toLowerCase() === name.toLowerCase()).map(([, v]) => v);

/** The Authorization answering the first usable challenge of a 401/407. */
export const answer = (r: RegistrarReply, user: string, password: string, method: string, uri: string, nc = 1): string => {
  const ch = selectChallenge([...headersOf(r, 'WWW-Authenticate'), ...headersOf(r, 'Proxy-Authenticate')]);
  if (ch === undefined) throw new Error(`no usable challenge in ${JSON.stringify(r)}`);
  return buildAuthorization(ch, { username: user, password }, method, uri, { nc });
};
