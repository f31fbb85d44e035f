// Via header values (RFC 3261 §20.42, RFC 3581 rport).
import type { Params } from './params.js';
import { getParam, paramsAt, formatParams } from './params.js';
import { TOKEN, bytesOf } from './grammar.js';
import { isIPv6Address } from './uri.js';

export interface Via {
  protocol: string; // "SIP/2.0"
  /** transport as written, upper-case (UDP, TCP, TLS, SCTP, WS, ...) */
  transport: string;
  host: string; // IPv6 without brackets
  ipv6: boolean;
  port: number | undefined;
  params: Params;
  branch: string | undefined;
}

// Module-local bindings of what the per-message paths call: vitest's module runner (tests,
// benchmarks) turns each use of an import into a getter call.
const TOKEN_CHAR = TOKEN.slice();
const paramsAt_ = paramsAt;
const getParam_ = getParam;
const isIPv6Address_ = isIPv6Address;

const skipWs = (b: Uint8Array, i: number, n: number): number => {
  let c: number;
  while (i < n && ((c = b[i]!) === 32 || c === 9)) i++;
  return i;
};

const skipToken = (b: Uint8Array, i: number, n: number): number => {
  while (i < n) {
    const c = b[i]!;
    if (c > 127 || TOKEN_CHAR[c] !== 1) break;
    i++;
  }
  return i;
};

const isHostChar = (c: number): boolean =>
  (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || c === 45 || c === 46;

const upper = (s: string): string => {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 97 && c <= 122) return s.toUpperCase();
  }
  return s;
};

const TRANSPORTS = ['UDP', 'TCP', 'TLS'];
/** `UDP`, `TCP` or `TLS` in any case at `s[i..i+3)` as a shared string, without a copy. */
const commonTransport = (b: Uint8Array, s: string, i: number): string => {
  for (let k = 0; k < TRANSPORTS.length; k++) {
    const t = TRANSPORTS[k]!;
    if ((b[i]! & ~32) === t.charCodeAt(0) && (b[i + 1]! & ~32) === t.charCodeAt(1) && (b[i + 2]! & ~32) === t.charCodeAt(2)) return t;
  }
  return upper(s.slice(i, i + 3));
};

/**
 * Parses one via-parm:
 * `protocol-name SLASH protocol-version SLASH transport LWS host [ COLON port ] *( SEMI param )`.
 * Undefined when malformed.
 */
export const parseVia = (value: string): Via | undefined => {
  const b = bytesOf(value);
  return b === undefined ? undefined : viaAt(b, value, 0, value.length);
};

/** `parseVia` over `value[start..n)`, reading the characters from `b` (`b[k]` is `value.charCodeAt(k)`). @internal */
export const viaAt = (b: Uint8Array, value: string, start: number, n: number): Via | undefined => {
  let i: number;
  let protocol: string;
  const s0 = start;
  if (
    n - s0 > 8 && (b[s0]! | 32) === 115 && (b[s0 + 1]! | 32) === 105 &&
    (b[s0 + 2]! | 32) === 112 && b[s0 + 3]! === 47 && b[s0 + 4]! === 50 &&
    b[s0 + 5]! === 46 && b[s0 + 6]! === 48 && b[s0 + 7]! === 47
  ) {
    protocol = 'SIP/2.0';
    i = s0 + 8;
  } else {
    const ns = s0;
    i = skipToken(b, ns, n);
    if (i === ns) return undefined;
    const name = value.slice(ns, i);
    i = skipWs(b, i, n);
    if (i >= n || b[i]! !== 47) return undefined;
    const vs = skipWs(b, i + 1, n);
    i = skipToken(b, vs, n);
    if (i === vs) return undefined;
    protocol = `${upper(name)}/${value.slice(vs, i)}`;
    i = skipWs(b, i, n);
    if (i >= n || b[i]! !== 47) return undefined;
    i = skipWs(b, i + 1, n);
  }
  const ts = i;
  i = skipToken(b, ts, n);
  if (i === ts || i >= n || (b[i]! !== 32 && b[i]! !== 9)) return undefined;
  const transport = i - ts === 3 ? commonTransport(b, value, ts) : upper(value.slice(ts, i));
  i = skipWs(b, i, n);
  let host: string;
  let ipv6 = false;
  if (i < n && b[i]! === 91) { // '['
    let close = i + 1;
    while (close < n && b[close]! !== 93) close++; // ']'
    if (close >= n) return undefined;
    host = value.slice(i + 1, close);
    if (!isIPv6Address_(host)) return undefined;
    ipv6 = true;
    i = close + 1;
  } else {
    const hs = i;
    while (i < n && isHostChar(b[i]!)) i++;
    if (i === hs) return undefined;
    host = value.slice(hs, i);
  }
  i = skipWs(b, i, n);
  let port: number | undefined;
  if (i < n && b[i]! === 58) { // ':'
    const ps = i = skipWs(b, i + 1, n);
    let p = 0;
    while (i < n) {
      const c = b[i]!;
      if (c < 48 || c > 57) break;
      p = p * 10 + (c - 48);
      i++;
    }
    if (i === ps || i - ps > 5 || p > 65535) return undefined;
    port = p;
    i = skipWs(b, i, n);
  }
  let params: Params | undefined = [];
  let branch: string | undefined;
  if (i < n) {
    if (b[i]! !== 59) return undefined; // ';'
    params = paramsAt_(b, value, i, n);
    if (params === undefined) return undefined;
    const br = getParam_(params, 'branch');
    if (br === null) return undefined; // branch needs a value
    branch = br;
  }
  return { protocol, transport, host, ipv6, port, params, branch };
};

export const formatVia = (v: Via): string =>
  `${v.protocol}/${v.transport} ${v.ipv6 ? `[${v.host}]` : v.host}${v.port !== undefined ? `:${v.port}` : ''}${formatParams(v.params)}`;

export const isTokenChar = (c: number): boolean => c < 128 && TOKEN[c] === 1;

/** RFC 3261 magic cookie: branches that start with it are unique per transaction. */
export const MAGIC_COOKIE = 'z9hG4bK';
