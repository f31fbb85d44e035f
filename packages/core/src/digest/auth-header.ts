// `WWW-Authenticate` / `Proxy-Authenticate` challenges and `Authorization` /
// `Proxy-Authorization` credentials (RFC 3261 §25 `challenge` / `credentials`, RFC 7616 §3.3-3.4):
// parsing of the scheme and its auth-param list, typed Digest views, and formatting.
import { quote } from '../message/grammar.js';
import type { DigestAlgorithm, DigestQop } from './hash.js';

/** A challenge or credentials header split into its scheme and parameters. */
export interface AuthHeader {
  /** the scheme as written (`Digest`, `NoOneKnowsThisScheme`) */
  scheme: string;
  /** parameters by lower-case name, quoted strings unquoted; undefined when they do not parse (token68, junk) */
  params: Map<string, string> | undefined;
  /** true when a parameter appears twice (a Digest header must not have that) */
  duplicate: boolean;
}

const isWsc = (c: number): boolean => c === 32 || c === 9 || c === 13 || c === 10;
const TOKEN_RE = /^[A-Za-z0-9\-.!%*_+`'~]+/;

/** Splits `scheme [auth-param *("," auth-param)]`; undefined when there is no scheme token. */
export const parseAuthHeader = (value: string): AuthHeader | undefined => {
  let i = 0;
  const n = value.length;
  while (i < n && isWsc(value.charCodeAt(i))) i++;
  const m = TOKEN_RE.exec(value.slice(i));
  if (m === null) return undefined;
  const scheme = m[0];
  i += scheme.length;
  if (i < n && !isWsc(value.charCodeAt(i))) return undefined;
  const params = new Map<string, string>();
  let duplicate = false;
  const bad = (): AuthHeader => ({ scheme, params: undefined, duplicate });
  for (;;) {
    // skip white space and empty list elements
    while (i < n && (isWsc(value.charCodeAt(i)) || value.charCodeAt(i) === 44)) i++;
    if (i >= n) break;
    const nm = TOKEN_RE.exec(value.slice(i));
    if (nm === null) return bad();
    const name = nm[0].toLowerCase();
    i += nm[0].length;
    while (i < n && isWsc(value.charCodeAt(i))) i++;
    if (value.charCodeAt(i) !== 61) return bad(); // '='
    i++;
    while (i < n && isWsc(value.charCodeAt(i))) i++;
    let v = '';
    if (value.charCodeAt(i) === 34) {
      i++;
      for (;;) {
        if (i >= n) return bad();
        const c = value.charCodeAt(i);
        if (c === 92) {
          if (i + 1 >= n) return bad();
          v += value[i + 1];
          i += 2;
        } else if (c === 34) {
          i++;
          break;
        } else {
          v += value[i];
          i++;
        }
      }
    } else {
      // a token; leniently anything up to a comma or white space (some clients leave a URI unquoted)
      const s = i;
      while (i < n && value.charCodeAt(i) !== 44 && !isWsc(value.charCodeAt(i)) && value.charCodeAt(i) !== 34) i++;
      if (i === s) return bad();
      v = value.slice(s, i);
    }
    if (params.has(name)) duplicate = true;
    else params.set(name, v);
    while (i < n && isWsc(value.charCodeAt(i))) i++;
    if (i < n && value.charCodeAt(i) !== 44) return bad();
  }
  return { scheme, params, duplicate };
};

export type DigestParseError = 'not-digest' | 'malformed';

export type DigestParseResult<T> =
  | { ok: true; value: T }
  | { ok: false; error: DigestParseError; /** the scheme, when one was found */ scheme: string | undefined; detail: string };

export interface DigestCredentials {
  username: string;
  realm: string;
  nonce: string;
  /** the digest-uri, as written */
  uri: string;
  /** lower-case hex */
  response: string;
  /** as written; absent means MD5 */
  algorithm: string | undefined;
  cnonce: string | undefined;
  /** 8 hex digits as written */
  nc: string | undefined;
  /** as written (lower-cased): `auth`, `auth-int`, or another value the server did not offer */
  qop: string | undefined;
  opaque: string | undefined;
  userhash: boolean;
  /** every parameter, unquoted */
  params: ReadonlyMap<string, string>;
}

export interface DigestChallenge {
  realm: string;
  nonce: string;
  /** as written; absent means MD5 */
  algorithm: string | undefined;
  /** the offered qop values, lower-cased; empty = none (RFC 2069 compatibility) */
  qop: string[];
  opaque: string | undefined;
  stale: boolean;
  domain: string | undefined;
  userhash: boolean;
  params: ReadonlyMap<string, string>;
}

const HEX_RE = /^[0-9a-fA-F]+$/;
const NC_RE = /^[0-9a-fA-F]{1,8}$/;

const digestParams = (value: string): DigestParseResult<Map<string, string>> => {
  const h = parseAuthHeader(value);
  if (h === undefined) return { ok: false, error: 'malformed', scheme: undefined, detail: 'no auth scheme' };
  if (h.scheme.toLowerCase() !== 'digest') return { ok: false, error: 'not-digest', scheme: h.scheme, detail: `scheme ${h.scheme}` };
  if (h.params === undefined) return { ok: false, error: 'malformed', scheme: h.scheme, detail: 'parameters do not parse' };
  if (h.duplicate) return { ok: false, error: 'malformed', scheme: h.scheme, detail: 'a parameter appears twice' };
  return { ok: true, value: h.params };
};

const malformed = (detail: string): { ok: false; error: 'malformed'; scheme: string; detail: string } => ({
  ok: false, error: 'malformed', scheme: 'Digest', detail,
});

/** Parses `Authorization` / `Proxy-Authorization` Digest credentials. */
export const parseDigestCredentials = (value: string): DigestParseResult<DigestCredentials> => {
  const r = digestParams(value);
  if (!r.ok) return r;
  const p = r.value;
  for (const k of ['username', 'realm', 'nonce', 'uri', 'response'] as const) {
    if (p.get(k) === undefined) return malformed(`missing ${k}`);
  }
  const response = p.get('response')!;
  if (!HEX_RE.test(response)) return malformed('response is not hex');
  const qop = p.get('qop')?.toLowerCase();
  const nc = p.get('nc');
  const cnonce = p.get('cnonce');
  if (qop !== undefined) {
    if (nc === undefined || cnonce === undefined) return malformed('qop without nc or cnonce');
  }
  if (nc !== undefined && !NC_RE.test(nc)) return malformed('nc is not 8 hex digits');
  return {
    ok: true,
    value: {
      username: p.get('username')!,
      realm: p.get('realm')!,
      nonce: p.get('nonce')!,
      uri: p.get('uri')!,
      response: response.toLowerCase(),
      algorithm: p.get('algorithm'),
      cnonce,
      nc,
      qop,
      opaque: p.get('opaque'),
      userhash: p.get('userhash')?.toLowerCase() === 'true',
      params: p,
    },
  };
};

/** Parses a `WWW-Authenticate` / `Proxy-Authenticate` Digest challenge. */
export const parseDigestChallenge = (value: string): DigestParseResult<DigestChallenge> => {
  const r = digestParams(value);
  if (!r.ok) return r;
  const p = r.value;
  const realm = p.get('realm');
  const nonce = p.get('nonce');
  if (realm === undefined) return malformed('missing realm');
  if (nonce === undefined) return malformed('missing nonce');
  const qop = (p.get('qop') ?? '').split(',').map((s) => s.trim().toLowerCase()).filter((s) => s.length > 0);
  return {
    ok: true,
    value: {
      realm,
      nonce,
      algorithm: p.get('algorithm'),
      qop,
      opaque: p.get('opaque'),
      stale: p.get('stale')?.toLowerCase() === 'true',
      domain: p.get('domain'),
      userhash: p.get('userhash')?.toLowerCase() === 'true',
      params: p,
    },
  };
};

/** The nonce-count as a number; NaN when malformed. */
export const parseNonceCount = (nc: string): number => (NC_RE.test(nc) ? parseInt(nc, 16) : NaN);

export const formatNonceCount = (n: number): string => n.toString(16).padStart(8, '0');

export interface ChallengeInput {
  realm: string;
  nonce: string;
  algorithm: DigestAlgorithm;
  /** default `['auth']`; empty = no qop (RFC 2069 compatibility) */
  qop?: readonly DigestQop[];
  opaque?: string;
  stale?: boolean;
  domain?: string;
}

/** `Digest realm="…", nonce="…", algorithm=MD5, qop="auth"` (then opaque, stale). */
export const formatChallenge = (c: ChallengeInput): string => {
  const qop = c.qop ?? ['auth'];
  let s = `Digest realm=${quote(c.realm)}`;
  if (c.domain !== undefined) s += `, domain=${quote(c.domain)}`;
  s += `, nonce=${quote(c.nonce)}, algorithm=${c.algorithm}`;
  if (qop.length > 0) s += `, qop=${quote(qop.join(','))}`;
  if (c.opaque !== undefined) s += `, opaque=${quote(c.opaque)}`;
  if (c.stale === true) s += ', stale=true';
  return s;
};

export interface CredentialsInput {
  username: string;
  realm: string;
  nonce: string;
  uri: string;
  response: string;
  /** omitted from the header when undefined (then MD5 is implied) */
  algorithm: DigestAlgorithm | undefined;
  cnonce?: string | undefined;
  /** a number (formatted as 8 hex digits) or the digits themselves */
  nc?: number | string | undefined;
  qop?: DigestQop | undefined;
  opaque?: string | undefined;
}

/** `Digest username="…", realm="…", nonce="…", uri="…", response="…", algorithm=MD5, cnonce="…", qop=auth, nc=00000001` */
export const formatCredentials = (c: CredentialsInput): string => {
  let s = `Digest username=${quote(c.username)}, realm=${quote(c.realm)}, nonce=${quote(c.nonce)}, uri=${quote(c.uri)}, response=${quote(c.response)}`;
  if (c.algorithm !== undefined) s += `, algorithm=${c.algorithm}`;
  if (c.cnonce !== undefined) s += `, cnonce=${quote(c.cnonce)}`;
  if (c.opaque !== undefined) s += `, opaque=${quote(c.opaque)}`;
  if (c.qop !== undefined) {
    const nc = c.nc === undefined ? 1 : c.nc;
    s += `, qop=${c.qop}, nc=${typeof nc === 'number' ? formatNonceCount(nc) : nc}`;
  }
  return s;
};
