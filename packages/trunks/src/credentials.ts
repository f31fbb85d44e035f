// Answering a provider's 401/407 with a trunk's credentials (the digest client of core), for
// REGISTER and for calls out. The configured realm, when set, must be the challenge's: a
// provider that changed realms is the most common trunk trap, and the log must say so.
import type { DigestAlgorithm, DigestChallenge, DigestClientCredentials, SipMessage } from '@sipfront/core';
import { DIGEST_ALGORITHMS, buildAuthorization, parseDigestChallenge, selectChallenge } from '@sipfront/core';
import type { TrunkSpec } from './types.js';

export type ChallengePick =
  | { ok: true; challenge: DigestChallenge; header: 'Authorization' | 'Proxy-Authorization' }
  | { ok: false; reason: 'realm-mismatch'; challengeRealm: string; configuredRealm: string }
  | { ok: false; reason: 'no-challenge' };

/** An HA1 is MD5(user:realm:password): with one, only the MD5 algorithms can be answered. */
export const supportedAlgorithms = (t: TrunkSpec): readonly DigestAlgorithm[] =>
  t.password !== null ? DIGEST_ALGORITHMS : ['MD5', 'MD5-sess'];

export const credentialsOf = (t: TrunkSpec): DigestClientCredentials =>
  t.password !== null ? { username: t.authUser, password: t.password } : { username: t.authUser, ha1: { MD5: t.ha1! } };

/** The challenge of a 401/407 the trunk answers, first usable one in the provider's order. */
export const pickChallenge = (t: TrunkSpec, res: SipMessage): ChallengePick => {
  const proxy = res.status === 407;
  const values = res.getAll(proxy ? 'proxy-authenticate' : 'www-authenticate');
  const header = proxy ? 'Proxy-Authorization' : 'Authorization';
  const supported = supportedAlgorithms(t);
  if (t.realm === null) {
    const c = selectChallenge(values, supported);
    return c === undefined ? { ok: false, reason: 'no-challenge' } : { ok: true, challenge: c, header };
  }
  const ours = values.filter((v) => {
    const p = parseDigestChallenge(v);
    return p.ok && p.value.realm === t.realm;
  });
  const c = selectChallenge(ours, supported);
  if (c !== undefined) return { ok: true, challenge: c, header };
  const other = selectChallenge(values, supported);
  if (other !== undefined) return { ok: false, reason: 'realm-mismatch', challengeRealm: other.realm, configuredRealm: t.realm };
  return { ok: false, reason: 'no-challenge' };
};

/** The credentials header value for `method` and `uri` (nc counts when a nonce is reused). */
export const authorizationFor = (t: TrunkSpec, challenge: DigestChallenge, method: string, uri: string, nc = 1): string =>
  buildAuthorization(challenge, credentialsOf(t), method, uri, { nc });

/** The realm of credentials already on a request for this kind of challenge, if any. */
export const realmsAnswered = (req: SipMessage, header: 'Authorization' | 'Proxy-Authorization'): string[] => {
  const out: string[] = [];
  for (const v of req.getAll(header.toLowerCase())) {
    const m = /realm\s*=\s*"((?:[^"\\]|\\.)*)"/i.exec(v);
    if (m !== null) out.push(m[1]!.replace(/\\(.)/g, '$1'));
  }
  return out;
};
