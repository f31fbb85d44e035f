// The client side of Digest: answering a 401/407 challenge (the trunk client's outbound
// REGISTER and calls). Picks the first challenge whose algorithm it supports (RFC 8760 §2.4:
// servers list their preference first) and builds the credentials header value.
import { randomBytes } from 'node:crypto';
import { DigestError } from './errors.js';
import type { DigestChallenge } from './auth-header.js';
import { formatCredentials, parseDigestChallenge } from './auth-header.js';
import type { DigestAlgorithm, DigestHash, DigestQop } from './hash.js';
import { DIGEST_ALGORITHMS, digestResponse, ha1 as computeHa1, hashOf, isSessionAlgorithm, parseAlgorithm } from './hash.js';

export interface DigestClientCredentials {
  username: string;
  /** the clear password; or give `ha1` */
  password?: string | undefined;
  /** precomputed HA1 per hash, valid only for the realm the caller expects */
  ha1?: Partial<Record<DigestHash, string>> | undefined;
}

export interface BuildAuthorizationOptions {
  /** nonce-count to send (default 1); the caller counts when it reuses a nonce */
  nc?: number;
  /** default: 16 random bytes, hex */
  cnonce?: string;
  /** the request body, for qop=auth-int */
  body?: Buffer | string;
}

/**
 * The first challenge, in the order given, that is Digest with an algorithm in `supported`
 * (default: all implemented) and a qop this module speaks (auth, auth-int, or none).
 */
export const selectChallenge = (
  values: readonly string[],
  supported: readonly DigestAlgorithm[] = DIGEST_ALGORITHMS,
): DigestChallenge | undefined => {
  for (const v of values) {
    const r = parseDigestChallenge(v);
    if (!r.ok) continue;
    const alg = parseAlgorithm(r.value.algorithm);
    if (alg === undefined || !supported.includes(alg)) continue;
    if (r.value.qop.length > 0 && !r.value.qop.includes('auth') && !r.value.qop.includes('auth-int')) continue;
    return r.value;
  }
  return undefined;
};

/** The `Authorization` / `Proxy-Authorization` value answering `challenge` for `method` and `uri`. */
export const buildAuthorization = (
  challenge: DigestChallenge | string,
  creds: DigestClientCredentials,
  method: string,
  uri: string,
  opts: BuildAuthorizationOptions = {},
): string => {
  let ch: DigestChallenge;
  if (typeof challenge === 'string') {
    const r = parseDigestChallenge(challenge);
    if (!r.ok) throw new DigestError('invalid-challenge', `not a usable Digest challenge: ${r.detail}`);
    ch = r.value;
  } else ch = challenge;
  const alg = parseAlgorithm(ch.algorithm);
  if (alg === undefined) throw new DigestError('unsupported-algorithm', `digest algorithm not supported: ${ch.algorithm ?? ''}`);
  let qop: DigestQop | undefined;
  if (ch.qop.includes('auth')) qop = 'auth';
  else if (ch.qop.includes('auth-int')) qop = 'auth-int';
  else if (ch.qop.length > 0) throw new DigestError('unsupported-qop', `no supported qop in ${ch.qop.join(',')}`);
  const hash = hashOf(alg);
  let a1 = creds.ha1?.[hash];
  if (a1 === undefined) {
    if (creds.password === undefined) throw new DigestError('no-credentials', `no password and no ${hash} HA1 for realm ${ch.realm}`);
    a1 = computeHa1(hash, creds.username, ch.realm, creds.password);
  }
  const needCnonce = qop !== undefined || isSessionAlgorithm(alg);
  const cnonce = needCnonce ? (opts.cnonce ?? randomBytes(16).toString('hex')) : undefined;
  const nc = qop !== undefined ? (opts.nc ?? 1) : undefined;
  const ncHex = nc === undefined ? undefined : nc.toString(16).padStart(8, '0');
  const response = digestResponse({ alg, ha1: a1, method, uri, nonce: ch.nonce, nc: ncHex, cnonce, qop, body: opts.body });
  return formatCredentials({
    username: creds.username,
    realm: ch.realm,
    nonce: ch.nonce,
    uri,
    response,
    // an absent algorithm stays absent, as the challenge had it (RFC 2069 servers)
    algorithm: ch.algorithm === undefined ? undefined : alg,
    cnonce,
    nc: ncHex,
    qop,
    opaque: ch.opaque,
  });
};
