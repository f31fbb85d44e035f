// Digest hashing (RFC 7616 §3.4, RFC 2617 §3.2.2, RFC 8760 for SIP): HA1, the session HA1 of
// the `-sess` algorithms, HA2 for qop=auth / auth-int / none, and the request-digest.
// Secrets (user, realm, password) are hashed as UTF-8; values taken from header text
// (method, uri, nonce, cnonce) are hashed as the latin1 bytes they arrived as.
import { createHash } from 'node:crypto';
import { DigestError } from './errors.js';

export const DIGEST_ALGORITHMS = ['MD5', 'MD5-sess', 'SHA-256', 'SHA-256-sess', 'SHA-512-256', 'SHA-512-256-sess'] as const;
export type DigestAlgorithm = (typeof DIGEST_ALGORITHMS)[number];
/** The hash behind an algorithm; HA1s are stored per hash (a `-sess` variant reuses its base's HA1). */
export type DigestHash = 'MD5' | 'SHA-256' | 'SHA-512-256';
export const DIGEST_HASHES: readonly DigestHash[] = ['MD5', 'SHA-256', 'SHA-512-256'];

export type DigestQop = 'auth' | 'auth-int';

const NODE_HASH: Readonly<Record<DigestHash, string>> = { MD5: 'md5', 'SHA-256': 'sha256', 'SHA-512-256': 'sha512-256' };
const HEX_LENGTH: Readonly<Record<DigestHash, number>> = { MD5: 32, 'SHA-256': 64, 'SHA-512-256': 64 };

const BY_LOWER: ReadonlyMap<string, DigestAlgorithm> = new Map(DIGEST_ALGORITHMS.map((a) => [a.toLowerCase(), a]));

/**
 * The algorithm a header names, case-insensitively; an absent one is MD5 (RFC 7616 §3.3).
 * Undefined for a name this module does not implement.
 */
export const parseAlgorithm = (name: string | undefined): DigestAlgorithm | undefined =>
  name === undefined ? 'MD5' : BY_LOWER.get(name.toLowerCase());

export const isDigestAlgorithm = (s: string): s is DigestAlgorithm => (DIGEST_ALGORITHMS as readonly string[]).includes(s);

export const hashOf = (alg: DigestAlgorithm): DigestHash =>
  (alg.endsWith('-sess') ? alg.slice(0, -5) : alg) as DigestHash;

export const isSessionAlgorithm = (alg: DigestAlgorithm): boolean => alg.endsWith('-sess');

/** Length of a hex digest of this hash (32 for MD5, 64 for the others). */
export const hexLength = (h: DigestHash): number => HEX_LENGTH[h];

const checked = (alg: string): DigestHash => {
  const a = parseAlgorithm(alg);
  if (a === undefined) throw new DigestError('unsupported-algorithm', `digest algorithm not supported: ${alg}`);
  return hashOf(a);
};

const h = (hash: DigestHash, data: string, encoding: 'utf8' | 'latin1'): string =>
  createHash(NODE_HASH[hash]).update(data, encoding).digest('hex');

/** HA1 = H(user ":" realm ":" password), for an algorithm or a hash name (the `-sess` variants share it). */
export const ha1 = (alg: DigestAlgorithm | DigestHash, user: string, realm: string, password: string): string =>
  h(checked(alg), `${user}:${realm}:${password}`, 'utf8');

export interface DigestResponseInput {
  alg: DigestAlgorithm;
  /** H(user:realm:password) of the algorithm's hash, hex */
  ha1: string;
  method: string;
  /** the `uri` parameter of the credentials (the digest-uri), as written */
  uri: string;
  nonce: string;
  /** nonce-count as 8 hex digits (`00000001`); required with qop */
  nc?: string | undefined;
  /** required with qop and with the `-sess` algorithms */
  cnonce?: string | undefined;
  qop?: DigestQop | undefined;
  /** the message body, for qop=auth-int */
  body?: Buffer | string | undefined;
}

/** The `response` value of Digest credentials (lower-case hex). */
export const digestResponse = (input: DigestResponseInput): string => {
  const hash = checked(input.alg);
  const { nonce, cnonce, nc, qop } = input;
  if (qop !== undefined && (nc === undefined || cnonce === undefined)) {
    throw new DigestError('unsupported-qop', 'qop needs nc and cnonce');
  }
  let a1 = input.ha1.toLowerCase();
  if (isSessionAlgorithm(input.alg)) {
    if (cnonce === undefined) throw new DigestError('unsupported-qop', `${input.alg} needs a cnonce`);
    a1 = h(hash, `${a1}:${nonce}:${cnonce}`, 'latin1');
  }
  let a2 = `${input.method}:${input.uri}`;
  if (qop === 'auth-int') {
    const body = input.body ?? '';
    const bodyHash = createHash(NODE_HASH[hash]).update(typeof body === 'string' ? Buffer.from(body, 'latin1') : body).digest('hex');
    a2 += `:${bodyHash}`;
  }
  const ha2 = h(hash, a2, 'latin1');
  const kd = qop === undefined ? `${a1}:${nonce}:${ha2}` : `${a1}:${nonce}:${nc}:${cnonce}:${qop}:${ha2}`;
  return h(hash, kd, 'latin1');
};
