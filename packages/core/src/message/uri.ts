// SIP, SIPS and tel URIs (RFC 3261 §19.1, RFC 3966); other schemes are kept opaque.
import type { Params } from './params.js';
import { getParam } from './params.js';

export interface SipUri {
  readonly scheme: 'sip' | 'sips';
  user: string | undefined;
  password: string | undefined;
  /** host name or address, IPv6 without brackets */
  host: string;
  /** true when host is an IPv6 reference (written in brackets) */
  ipv6: boolean;
  port: number | undefined;
  params: Params;
  /** the `?hname=hvalue&...` part without the `?`, as written */
  headers: string | undefined;
}

export interface TelUri {
  readonly scheme: 'tel';
  number: string;
  params: Params;
}

export interface OtherUri {
  readonly scheme: string;
  /** everything after `scheme:` */
  opaque: string;
}

export type Uri = SipUri | TelUri | OtherUri;

export const isSipUri = (u: Uri | undefined): u is SipUri => u !== undefined && (u.scheme === 'sip' || u.scheme === 'sips');

// paramchar and user characters: unreserved, escaped, and the reserved marks RFC 3261 lets through.
const mk = (chars: string): Uint8Array => {
  const t = new Uint8Array(128);
  for (let c = 48; c <= 57; c++) t[c] = 1;
  for (let c = 65; c <= 90; c++) t[c] = 1;
  for (let c = 97; c <= 122; c++) t[c] = 1;
  for (let i = 0; i < chars.length; i++) t[chars.charCodeAt(i)] = 1;
  return t;
};
const UNRESERVED_MARKS = "-_.!~*'()%";
const USER = mk(UNRESERVED_MARKS + '&=+$,;?/');
const PASSWORD = mk(UNRESERVED_MARKS + '&=+$,');
const PARAM = mk(UNRESERVED_MARKS + '[]/:&+$');
const HEADERS = mk(UNRESERVED_MARKS + '[]/?:+$&=');
const HOSTNAME = mk('-.');
const SCHEME = mk('+-.');

const allIn = (s: string, t: Uint8Array, from = 0, to = s.length): boolean => {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c > 127 || t[c] !== 1) return false;
  }
  return true;
};

const parseUriParams = (s: string): Params | undefined => {
  const out: Params = [];
  if (s.length === 0) return out;
  for (const part of s.split(';')) {
    if (part.length === 0) return undefined;
    const eq = part.indexOf('=');
    if (eq === -1) {
      if (!allIn(part, PARAM)) return undefined;
      out.push([part.toLowerCase(), null]);
    } else {
      const n = part.slice(0, eq);
      const v = part.slice(eq + 1);
      if (n.length === 0 || !allIn(n, PARAM) || !allIn(v, PARAM)) return undefined;
      out.push([n.toLowerCase(), v]);
    }
  }
  return out;
};

const isIPv6 = (s: string): boolean => /^[0-9A-Fa-f:.]+$/.test(s) && s.includes(':');

const parseHostPort = (hp: string): { host: string; ipv6: boolean; port: number | undefined } | undefined => {
  let host: string;
  let rest: string;
  let ipv6 = false;
  if (hp.charCodeAt(0) === 91) { // '['
    const close = hp.indexOf(']');
    if (close === -1) return undefined;
    host = hp.slice(1, close);
    if (!isIPv6(host)) return undefined;
    ipv6 = true;
    rest = hp.slice(close + 1);
  } else {
    const colon = hp.indexOf(':');
    host = colon === -1 ? hp : hp.slice(0, colon);
    rest = colon === -1 ? '' : hp.slice(colon);
    if (host.length === 0 || !allIn(host, HOSTNAME)) return undefined;
  }
  let port: number | undefined;
  if (rest.length > 0) {
    if (rest.charCodeAt(0) !== 58) return undefined;
    const p = rest.slice(1);
    if (!/^[0-9]{1,5}$/.test(p)) return undefined;
    port = Number(p);
    if (port > 65535) return undefined;
  }
  return { host, ipv6, port };
};

/** Parses a URI; undefined when it is not a well-formed URI. No white space is allowed anywhere. */
export const parseUri = (s: string): Uri | undefined => {
  const colon = s.indexOf(':');
  if (colon <= 0) return undefined;
  const scheme = s.slice(0, colon).toLowerCase();
  const c0 = scheme.charCodeAt(0);
  if (!((c0 >= 97 && c0 <= 122)) || !allIn(scheme, SCHEME)) return undefined;
  if (/[\s<>"]/.test(s)) return undefined;
  const rest = s.slice(colon + 1);
  if (scheme === 'sip' || scheme === 'sips') return parseSip(scheme, rest);
  if (scheme === 'tel') {
    const semi = rest.indexOf(';');
    const number = semi === -1 ? rest : rest.slice(0, semi);
    if (!/^\+?[0-9A-Fa-f*#().\-]+$/.test(number)) return undefined;
    const params = semi === -1 ? [] : parseUriParams(rest.slice(semi + 1));
    if (params === undefined) return undefined;
    return { scheme: 'tel', number, params };
  }
  if (rest.length === 0) return undefined;
  return { scheme, opaque: rest };
};

const parseSip = (scheme: 'sip' | 'sips', rest: string): SipUri | undefined => {
  let user: string | undefined;
  let password: string | undefined;
  let i = 0;
  const at = rest.indexOf('@');
  if (at !== -1) {
    const userinfo = rest.slice(0, at);
    const pc = userinfo.indexOf(':');
    // A ':' in the user part is the password separator; user-unreserved has no ':'.
    user = pc === -1 ? userinfo : userinfo.slice(0, pc);
    if (pc !== -1) {
      password = userinfo.slice(pc + 1);
      if (!allIn(password, PASSWORD)) return undefined;
    }
    if (user.length === 0 || !allIn(user, USER)) return undefined;
    i = at + 1;
  }
  let end = rest.length;
  const q = rest.indexOf('?', i);
  let headers: string | undefined;
  if (q !== -1) {
    headers = rest.slice(q + 1);
    if (headers.length === 0 || !allIn(headers, HEADERS)) return undefined;
    end = q;
  }
  const hostAndParams = rest.slice(i, end);
  // the ';' that starts parameters comes after the host (an IPv6 reference holds no ';')
  const semi = hostAndParams.indexOf(';');
  const hp = parseHostPort(semi === -1 ? hostAndParams : hostAndParams.slice(0, semi));
  if (hp === undefined) return undefined;
  const params = semi === -1 ? [] : parseUriParams(hostAndParams.slice(semi + 1));
  if (params === undefined) return undefined;
  return { scheme, user, password, host: hp.host, ipv6: hp.ipv6, port: hp.port, params, headers };
};

export const formatHost = (host: string, ipv6: boolean): string => (ipv6 ? `[${host}]` : host);

export const formatUri = (u: Uri): string => {
  if (u.scheme === 'sip' || u.scheme === 'sips') {
    const s = u as SipUri;
    let out = `${s.scheme}:`;
    if (s.user !== undefined) out += s.password !== undefined ? `${s.user}:${s.password}@` : `${s.user}@`;
    out += formatHost(s.host, s.ipv6);
    if (s.port !== undefined) out += `:${s.port}`;
    for (const [n, v] of s.params) out += v === null ? `;${n}` : `;${n}=${v}`;
    if (s.headers !== undefined) out += `?${s.headers}`;
    return out;
  }
  if (u.scheme === 'tel') {
    const t = u as TelUri;
    let out = `tel:${t.number}`;
    for (const [n, v] of t.params) out += v === null ? `;${n}` : `;${n}=${v}`;
    return out;
  }
  return `${u.scheme}:${(u as OtherUri).opaque}`;
};

/** The transport a SIP URI asks for (RFC 3263 defaults: sips → tls, else udp). */
export const uriTransport = (u: SipUri): 'udp' | 'tcp' | 'tls' | string => {
  const t = getParam(u.params, 'transport');
  if (typeof t === 'string') {
    const l = t.toLowerCase();
    if (u.scheme === 'sips' && l === 'tcp') return 'tls';
    return l;
  }
  return u.scheme === 'sips' ? 'tls' : 'udp';
};

/** Percent-decodes a URI component (user parts compare unescaped, RFC 3261 §19.1.4). */
export const unescapeUri = (s: string): string => {
  if (s.indexOf('%') === -1) return s;
  return s.replace(/%([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
};
