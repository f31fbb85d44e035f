// SIP, SIPS and tel URIs (RFC 3261 §19.1, RFC 3966); other schemes are kept opaque.
import { isIP } from 'node:net';
import type { Params } from './params.js';
import { ParamCollector, getParam, paramName } from './params.js';
import { bytesOf } from './grammar.js';

/** the URI parsers' parameters, collected and handed out at their exact size */
const collected = new ParamCollector();

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

/** `s.indexOf(char, from)` bounded by `end`: String.indexOf would search on through the rest of the header section. */
const find = (b: Uint8Array, c: number, from: number, end: number): number => {
  for (let i = from; i < end; i++) if (b[i] === c) return i;
  return -1;
};

// a module-local copy: vitest's module runner turns each use of an import into a getter call
const nameOf = paramName;

const allIn = (b: Uint8Array, t: Uint8Array, from: number, to: number): boolean => {
  for (let i = from; i < to; i++) {
    const c = b[i]!;
    if (c > 127 || t[c] !== 1) return false;
  }
  return true;
};

/**
 * Parses `param *( ";" param )` from `s[from]` (the text after the first ';') into `out`, up to
 * `to` or a '?'. Returns where it stopped, -1 when malformed.
 */
const parseUriParams = (b: Uint8Array, s: string, from: number, to: number, out: ParamCollector): number => {
  let i = from;
  for (;;) {
    let eq = -1;
    let upper = false;
    let j = i;
    for (; j < to; j++) {
      const c = b[j]!;
      if (c === 59 || c === 63) break; // ';' '?'
      if (c === 61 && eq === -1) eq = j; // '='
      else if (c > 127 || PARAM[c] !== 1) return -1;
      else if (eq === -1 && c >= 65 && c <= 90) upper = true;
    }
    if (j === i || eq === i) return -1; // empty parameter or empty name
    const name = nameOf(b, s, i, eq === -1 ? j : eq, upper);
    out.add(name, eq === -1 ? null : s.slice(eq + 1, j));
    if (j >= to || b[j] === 63) return j;
    i = j + 1;
  }
};

const lower = (s: string): string => {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) return s.toLowerCase();
  }
  return s;
};

const IPV4_TAIL = /^[0-9]{1,3}(?:\.[0-9]{1,3}){3}$/;

/**
 * An IPv6 address as written inside `[` `]`. Besides RFC 4291 text this tolerates the form
 * RFC 3261's ABNF allows by mistake, `2001:db8:::192.0.2.1` (RFC 5118 §4.10: "an implementation
 * must tolerate both"); it is kept as written.
 */
export const isIPv6Address = (s: string): boolean => {
  if (s.length < 2 || s.length > 46) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 58) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102) || c === 46)) return false;
  }
  if (isIP(s) === 6) return true;
  const k = s.indexOf(':::');
  if (k === -1 || s.indexOf(':::', k + 1) !== -1 || !IPV4_TAIL.test(s.slice(k + 3))) return false;
  return isIP(`${s.slice(0, k)}::${s.slice(k + 3)}`) === 6;
};

/** Parses a URI; undefined when it is not a well-formed URI. No white space is allowed anywhere. */
export const parseUri = (s: string): Uri | undefined => {
  const b = bytesOf(s);
  return b === undefined ? undefined : uriAt(b, s, 0, s.length);
};

/**
 * Parses the URI written at `s[start..end)`, reading its characters from `b` (`b[k]` is
 * `b[k]!`): the parser hands in the header section as received, text and bytes.
 * @internal
 */
export const uriAt = (b: Uint8Array, s: string, start: number, end: number): Uri | undefined => {
  let colon = -1;
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    if (c === 58) { colon = i; break; }
    if (c > 127 || SCHEME[c] !== 1) return undefined;
  }
  if (colon <= start) return undefined;
  const c0 = b[start]! | 32;
  if (c0 < 97 || c0 > 122) return undefined;
  // sip: and sips: are checked character by character by parseSip; the rest only here
  if (c0 === 115 && (b[start + 1]! | 32) === 105 && (b[start + 2]! | 32) === 112) {
    if (colon === start + 3) return parseSip('sip', b, s, colon + 1, end);
    if (colon === start + 4 && (b[start + 3]! | 32) === 115) return parseSip('sips', b, s, colon + 1, end);
  }
  for (let i = colon + 1; i < end; i++) {
    const c = b[i]!;
    // white space (SP, HTAB, CR, LF, NBSP), controls, and the characters that delimit a URI
    if (c <= 32 || c === 34 || c === 60 || c === 62 || c === 127 || c === 160) return undefined;
  }
  const scheme = lower(s.slice(start, colon));
  if (scheme === 'tel') {
    const semi = find(b, 59, colon + 1, end); // ';'
    const number = s.slice(colon + 1, semi === -1 ? end : semi);
    if (!/^\+?[0-9A-Fa-f*#().\-]+$/.test(number)) return undefined;
    const params = collected.finish(semi === -1 || parseUriParams(b, s, semi + 1, end, collected) === end);
    return params === undefined ? undefined : { scheme: 'tel', number, params };
  }
  if (colon + 1 === end) return undefined;
  return { scheme, opaque: s.slice(colon + 1, end) };
};

/** `s[start..end)` is what follows `sip:` / `sips:`. One pass, left to right. */
const parseSip = (scheme: 'sip' | 'sips', b: Uint8Array, s: string, start: number, end: number): SipUri | undefined => {
  let user: string | undefined;
  let password: string | undefined;
  let i = start;
  // userinfo: user characters up to '@', or up to ':' and password characters up to '@'
  let j = start;
  while (j < end) {
    const c = b[j]!;
    if (c > 127 || USER[c] !== 1) break;
    j++;
  }
  if (j < end) {
    const c = b[j]!;
    if (c === 64) { // '@'
      if (j === start) return undefined;
      user = s.slice(start, j);
      i = j + 1;
    } else if (c === 58 && j > start) { // ':'
      let k = j + 1;
      while (k < end) {
        const d = b[k]!;
        if (d > 127 || PASSWORD[d] !== 1) break;
        k++;
      }
      if (k < end && b[k]! === 64) {
        user = s.slice(start, j);
        password = s.slice(j + 1, k);
        i = k + 1;
      }
    }
  }
  let host: string;
  let ipv6 = false;
  j = i;
  if (j < end && b[j]! === 91) { // '['
    const close = find(b, 93, j, end); // ']'
    if (close === -1) return undefined;
    host = s.slice(j + 1, close);
    if (!isIPv6Address(host)) return undefined;
    ipv6 = true;
    j = close + 1;
  } else {
    while (j < end) {
      const c = b[j]!;
      if (c > 127 || HOSTNAME[c] !== 1) break;
      j++;
    }
    if (j === i) return undefined;
    host = s.slice(i, j);
  }
  let port: number | undefined;
  if (j < end && b[j]! === 58) { // ':'
    const ps = ++j;
    let p = 0;
    while (j < end) {
      const c = b[j]!;
      if (c < 48 || c > 57) break;
      p = p * 10 + (c - 48);
      j++;
    }
    if (j === ps || j - ps > 5 || p > 65535) return undefined;
    port = p;
  }
  let params: Params = [];
  if (j < end && b[j]! === 59) { // ';'
    j = parseUriParams(b, s, j + 1, end, collected);
    const p = collected.finish(j !== -1);
    if (p === undefined) return undefined;
    params = p;
  }
  let headers: string | undefined;
  if (j < end && b[j]! === 63) { // '?'
    if (j + 1 === end || !allIn(b, HEADERS, j + 1, end)) return undefined;
    headers = s.slice(j + 1, end);
    j = end;
  }
  if (j !== end) return undefined;
  return { scheme, user, password, host, ipv6, port, params, headers };
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
