// Via header values (RFC 3261 §20.42, RFC 3581 rport).
import type { Params } from './params.js';
import { getParam, parseParams, formatParams } from './params.js';
import { TOKEN } from './grammar.js';

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

const VIA_RE = /^([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*\/[ \t]*([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*\/[ \t]*([A-Za-z0-9\-.!%*_+`'~]+)[ \t]+(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-.]+)(?:[ \t]*:[ \t]*([0-9]{1,5}))?[ \t]*(;.*)?$/;

/** Parses one via-parm; undefined when malformed. */
export const parseVia = (value: string): Via | undefined => {
  const m = VIA_RE.exec(value);
  if (m === null) return undefined;
  let host = m[4]!;
  let ipv6 = false;
  if (host.charCodeAt(0) === 91) {
    host = host.slice(1, -1);
    ipv6 = true;
  }
  let port: number | undefined;
  if (m[5] !== undefined) {
    port = Number(m[5]);
    if (port > 65535) return undefined;
  }
  const params = m[6] === undefined ? [] : parseParams(m[6]);
  if (params === undefined) return undefined;
  const b = getParam(params, 'branch');
  if (b === null) return undefined; // branch needs a value
  return {
    protocol: `${m[1]!.toUpperCase()}/${m[2]!}`,
    transport: m[3]!.toUpperCase(),
    host,
    ipv6,
    port,
    params,
    branch: b,
  };
};

export const formatVia = (v: Via): string =>
  `${v.protocol}/${v.transport} ${v.ipv6 ? `[${v.host}]` : v.host}${v.port !== undefined ? `:${v.port}` : ''}${formatParams(v.params)}`;

export const isTokenChar = (c: number): boolean => c < 128 && TOKEN[c] === 1;

/** RFC 3261 magic cookie: branches that start with it are unique per transaction. */
export const MAGIC_COOKIE = 'z9hG4bK';
