// The REGISTER a trunk sends (RFC 3261 §10.2) and what its answers mean: the expiry the
// registrar granted (our Contact's `expires`, else the Expires header), 423's Min-Expires,
// Retry-After, and the Asterisk classes of failure (temporary or permanent).
import type { SipMessage, SipUri } from '@sipfront/core';
import { SipMessage as Message, formatUri, getParam, isSipUri, parseNameAddr, unescapeUri, uriTransport } from '@sipfront/core';
import { sipUriOf } from './spec.js';
import type { TrunkSpec } from './types.js';

/** Request-URI of a REGISTER: the registrar URI without user part (§10.2: "names the domain"). */
export const registerUri = (t: TrunkSpec): string => {
  const u = sipUriOf(t.registrar, 'registrar');
  return formatUri({ ...u, user: undefined, password: undefined, headers: undefined });
};

/** Where requests through the trunk are sent: the outbound proxy, else the registrar. */
export const nextHop = (t: TrunkSpec): string => t.outboundProxy ?? t.registrar;

/** The transport of the next hop (`udp`, `tcp`, `tls`). */
export const trunkTransport = (t: TrunkSpec): string => uriTransport(sipUriOf(nextHop(t), 'registrar'));

/** The Route set for the outbound proxy (loose routing), or none. */
export const outboundRoute = (t: TrunkSpec): string[] => {
  if (t.outboundProxy === null) return [];
  const u = sipUriOf(t.outboundProxy, 'outboundProxy');
  const params = getParam(u.params, 'lr') === undefined ? [...u.params, ['lr', null] as [string, null]] : u.params;
  return [`<${formatUri({ ...u, params, user: undefined, password: undefined, headers: undefined })}>`];
};

/** `sip:contact_user@host:port[;transport=x]` for the trunk. */
export const contactUri = (t: TrunkSpec, hostPort: string): string => {
  const transport = trunkTransport(t);
  const withTransport = transport !== 'udp' && !/;transport=/i.test(hostPort) ? `${hostPort};transport=${transport}` : hostPort;
  return `sip:${t.contactUser}@${withTransport}`;
};

export const aorOf = (t: TrunkSpec): string => `sip:${t.user}@${t.domain}`;

export interface RegisterParams {
  callId: string;
  fromTag: string;
  cseq: number;
  contact: string;
  /** more Contacts of ours (an Expires: 0 for a binding the registrar may hold besides `contact`) */
  others?: readonly string[] | undefined;
  expires: number;
  userAgent: string;
  /** `[header, value]` credentials, when answering (or reusing) a challenge */
  authorization?: [string, string] | undefined;
}

export const buildRegister = (t: TrunkSpec, p: RegisterParams): SipMessage => {
  const req = Message.request('REGISTER', registerUri(t));
  for (const r of outboundRoute(t)) req.append('Route', r);
  req.append('Max-Forwards', '70');
  req.append('From', `<${aorOf(t)}>;tag=${p.fromTag}`);
  req.append('To', `<${aorOf(t)}>`);
  req.append('Call-ID', p.callId);
  req.append('CSeq', `${p.cseq} REGISTER`);
  req.append('Contact', `<${p.contact}>`);
  for (const c of p.others ?? []) req.append('Contact', `<${c}>`);
  req.append('Expires', String(p.expires));
  if (p.authorization !== undefined) req.append(p.authorization[0], p.authorization[1]);
  req.append('User-Agent', p.userAgent);
  req.append('Content-Length', '0');
  return req;
};

const sameContact = (a: SipUri, b: SipUri): boolean =>
  unescapeUri(a.user ?? '') === unescapeUri(b.user ?? '') && a.host.toLowerCase() === b.host.toLowerCase() && (a.port ?? 5060) === (b.port ?? 5060);

/**
 * The seconds the registrar granted our Contact: its `expires` parameter in the 200 (matched by
 * URI, else by user part, else the only Contact), else the Expires header, else what we asked.
 */
export const grantedExpires = (res: SipMessage, ourContact: string, asked: number): number => {
  const ours = sipUriOf(ourContact, 'contact');
  const contacts: Array<{ uri: SipUri; expires: number | undefined }> = [];
  for (const item of res.list('contact')) {
    const na = parseNameAddr(item.value);
    if (na === undefined || !isSipUri(na.parsedUri)) continue;
    const e = getParam(na.params, 'expires');
    contacts.push({ uri: na.parsedUri, expires: typeof e === 'string' && /^\d+$/.test(e) ? Number(e) : undefined });
  }
  const match =
    contacts.find((c) => sameContact(c.uri, ours)) ??
    (() => {
      const byUser = contacts.filter((c) => unescapeUri(c.uri.user ?? '') === ours.user);
      return byUser.length === 1 ? byUser[0] : undefined;
    })() ??
    (contacts.length === 1 ? contacts[0] : undefined);
  if (match?.expires !== undefined) return match.expires;
  return res.expires ?? asked;
};

/** `Min-Expires` of a 423, or undefined. */
export const minExpires = (res: SipMessage): number | undefined => {
  const v = res.get('min-expires')?.trim();
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
};

/** `Retry-After` seconds (`120 (comment);duration=60` → 120), or undefined. */
export const retryAfter = (res: SipMessage | undefined): number | undefined => {
  const m = /^\s*(\d+)/.exec(res?.get('retry-after') ?? '');
  return m === null ? undefined : Number(m[1]);
};

export type FailureClass = 'temporary' | 'permanent';

/**
 * Asterisk's classes (the articles): no response, 408, 500, 502, 503, 504 and a 6xx with
 * Retry-After are temporary; 401/403/407 after authenticating and every other 3xx–6xx permanent.
 */
export const classifyFailure = (code: number | null, res: SipMessage | undefined): FailureClass => {
  if (code === null) return 'temporary';
  if (code === 408 || code === 500 || code === 502 || code === 503 || code === 504) return 'temporary';
  if (code >= 600 && retryAfter(res) !== undefined) return 'temporary';
  return 'permanent';
};
