// Server-side Digest for REGISTER (401, Authorization) and for proxy challenges (407,
// Proxy-Authorization): challenges in the configured algorithm order, and verification of
// credentials against the subscriber store and the signed nonces. What counts as an auth
// failure (for bans) follows the contract: credentials that do not verify. Missing
// credentials, a stale or foreign nonce with the right password, and a replayed nonce-count
// are answered with a new challenge and are not failures.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import {
  DIGEST_HASHES, digestResponse, formatChallenge, ha1 as computeHa1, hashOf, latin1ToUtf8, parseAlgorithm,
  parseDigestCredentials, parseNonceCount,
} from '@sipfront/core';
import type { DigestAlgorithm, DigestHash, NonceService, SipMessage } from '@sipfront/core';
import type { SubscriberStore } from './types.js';

export type AuthOutcome =
  /** the credentials verify and the nonce is fresh */
  | { kind: 'ok'; username: string }
  /** no credentials for this realm and a configured algorithm (also: an unknown scheme) */
  | { kind: 'none' }
  /** Digest credentials that do not parse: 400 */
  | { kind: 'malformed'; detail: string }
  /** the right password, but a stale or foreign nonce or a replayed nonce-count: challenge with stale=true */
  | { kind: 'stale'; username: string }
  /** unknown user, wrong password: an auth failure */
  | { kind: 'failed'; username: string };

export interface DigestAuthenticator {
  /** One challenge header value per configured algorithm, in order, each with a fresh nonce. */
  challenges(realm: string, stale: boolean): string[];
  /**
   * Checks the `authorization` or `proxy-authorization` headers of `req` for `realm`; the
   * user is looked up in `domain`. Rejects only when the store does (`store-unavailable`).
   */
  verify(req: SipMessage, header: 'authorization' | 'proxy-authorization', realm: string, domain: string): Promise<AuthOutcome>;
}

// An unknown user costs the same hashing as a known one.
const DUMMY: Readonly<Record<DigestHash, string>> = Object.fromEntries(
  DIGEST_HASHES.map((h) => [h, computeHa1(h, randomBytes(8).toString('hex'), 'x', randomBytes(16).toString('hex'))]),
) as Record<DigestHash, string>;

const sameHex = (a: string, b: string): boolean => {
  const x = Buffer.from(a, 'latin1');
  const y = Buffer.from(b, 'latin1');
  return x.length === y.length && timingSafeEqual(x, y);
};

export const createDigestAuthenticator = (deps: {
  subscribers: SubscriberStore;
  nonces: NonceService;
  algorithms: readonly DigestAlgorithm[];
}): DigestAuthenticator => {
  const { subscribers, nonces, algorithms } = deps;
  return {
    challenges(realm, stale) {
      return algorithms.map((algorithm) => formatChallenge({ realm, nonce: nonces.issue(realm), algorithm, qop: ['auth'], stale }));
    },

    async verify(req, header, realm, domain) {
      let malformed: string | undefined;
      let found: { c: Extract<ReturnType<typeof parseDigestCredentials>, { ok: true }>['value']; alg: DigestAlgorithm } | undefined;
      for (const value of req.getAll(header)) {
        const r = parseDigestCredentials(value);
        if (!r.ok) {
          if (r.error === 'malformed') malformed ??= r.detail;
          continue; // another scheme (RFC 4475 regaut01): as if absent
        }
        if (r.value.realm !== realm) continue; // credentials for another hop
        const alg = parseAlgorithm(r.value.algorithm);
        if (alg === undefined || !algorithms.includes(alg)) continue;
        found = { c: r.value, alg };
        break;
      }
      if (found === undefined) return malformed === undefined ? { kind: 'none' } : { kind: 'malformed', detail: malformed };
      const { c, alg } = found;
      if (c.qop !== undefined && c.qop !== 'auth' && c.qop !== 'auth-int') return { kind: 'malformed', detail: `qop ${c.qop}` };
      const username = latin1ToUtf8(c.username);
      const sub = await subscribers.get(username, domain);
      const hash = hashOf(alg);
      const stored = sub?.ha1[realm]?.[hash];
      if (c.cnonce === undefined && alg.endsWith('-sess')) return { kind: 'malformed', detail: `${alg} without cnonce` };
      const expected = digestResponse({
        alg, ha1: stored ?? DUMMY[hash], method: req.method, uri: c.uri, nonce: c.nonce,
        nc: c.nc, cnonce: c.cnonce, qop: c.qop as 'auth' | 'auth-int' | undefined, body: req.body,
      });
      if (!sameHex(expected, c.response) || stored === undefined) return { kind: 'failed', username };
      if (nonces.verify(c.nonce, realm) !== 'valid') return { kind: 'stale', username };
      // without qop (RFC 2069 style; RFC 3261 §22.4 says a client MUST echo the qop we offer) there
      // is no nonce-count: such a nonce is good for one request, or a captured one could be re-sent
      if (!nonces.acceptNonceCount(c.nonce, c.nc !== undefined ? parseNonceCount(c.nc) : 1)) return { kind: 'stale', username };
      return { kind: 'ok', username };
    },
  };
};
