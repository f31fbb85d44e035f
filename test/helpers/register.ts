// REGISTER with digest from a raw UDP peer, and in-dialog requests along a 200's route set:
// the SIP steps the registrar tests share.
import { buildAuthorization, type SipMessage } from '@sipfront/core';
import { sipText, type UdpPeer } from './sip-client.js';
import { uniq } from './sip-text.js';

export const DOMAIN = 'example.com';

export interface RegisterOpts {
  /** the address the peer sends from (its Via) */
  host: string;
  user: string;
  contact: string;
  expires: number;
  callId: string;
  cseq: number;
  auth?: string;
}

export const registerText = (peer: UdpPeer, o: RegisterOpts): string =>
  sipText([
    `REGISTER sip:${DOMAIN} SIP/2.0`,
    `Via: SIP/2.0/UDP ${o.host}:${peer.port};branch=z9hG4bK-${uniq()};rport`,
    'Max-Forwards: 70',
    `From: <sip:${o.user}@${DOMAIN}>;tag=r-${o.callId}`,
    `To: <sip:${o.user}@${DOMAIN}>`,
    `Call-ID: ${o.callId}`,
    `CSeq: ${o.cseq} REGISTER`,
    `Contact: <${o.contact}>`,
    `Expires: ${o.expires}`,
    ...(o.auth !== undefined ? [`Authorization: ${o.auth}`] : []),
  ]);

/**
 * REGISTER, and when challenged, REGISTER again with credentials. `first` is the answer to the
 * first REGISTER; `final` the answer to the second (or `first` when it was not a 401).
 */
export const registerWithDigest = async (
  peer: UdpPeer,
  o: { host: string; user: string; password: string; contact: string; expires: number },
): Promise<{ first: SipMessage; final: SipMessage }> => {
  const callId = `reg-${uniq()}`;
  const base = { host: o.host, user: o.user, contact: o.contact, expires: o.expires, callId };
  peer.send(registerText(peer, { ...base, cseq: 1 }));
  const first = await peer.next(3000, (m) => m.status >= 200 && m.callId === callId && m.cseq?.seq === 1);
  if (first.status !== 401) return { first, final: first };
  const auth = buildAuthorization(first.get('www-authenticate')!, { username: o.user, password: o.password }, 'REGISTER', `sip:${DOMAIN}`);
  peer.send(registerText(peer, { ...base, cseq: 2, auth }));
  const final = await peer.next(3000, (m) => m.status >= 200 && m.callId === callId && m.cseq?.seq === 2);
  return { first, final };
};

export const isFinal = (callId: string, method = 'INVITE') => (m: SipMessage): boolean =>
  m.status >= 200 && m.callId === callId && m.cseq?.method === method;

/** ACK (for a 2xx) or BYE from the caller, along the route set the 200 brought back. */
export const inDialog = (method: 'ACK' | 'BYE', ok: SipMessage, from: UdpPeer, cseq: number): string => {
  const target = ok.contacts()[0]?.nameAddr?.uri;
  if (target === undefined) throw new Error('the 200 has no Contact');
  return sipText([
    `${method} ${target} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${from.port};branch=z9hG4bK-${uniq()};rport`,
    'Max-Forwards: 70',
    ...ok.list('record-route').map((i) => i.value).reverse().map((r) => `Route: ${r}`),
    `From: ${ok.get('from')!}`,
    `To: ${ok.get('to')!}`,
    `Call-ID: ${ok.callId!}`,
    `CSeq: ${cseq} ${method}`,
  ]);
};
