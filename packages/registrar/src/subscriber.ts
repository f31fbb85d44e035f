// Turning a subscriber as config or the API give it (password or HA1s) into what is stored:
// HA1 per realm and hash, computed at write time. The clear password goes no further.
import { DIGEST_HASHES, ha1 as computeHa1 } from '@sipfront/core';
import type { DigestHash } from '@sipfront/core';
import { RegistrarError } from './errors.js';
import { normalizeDomain } from './bindings.js';
import type { Subscriber, SubscriberInput } from './types.js';

const HEX32 = /^[0-9a-fA-F]{32}$/;
const HEX64 = /^[0-9a-fA-F]{64}$/;

/** The stored form of a subscriber; `realm` is `registrar.auth.realm` when one is fixed. */
export const buildSubscriber = (input: SubscriberInput, realm?: string): Subscriber => {
  const user = typeof input.user === 'string' ? input.user : '';
  const domain = typeof input.domain === 'string' ? normalizeDomain(input.domain) : '';
  if (user.length === 0 || /[\s@]/.test(user)) throw new RegistrarError('invalid-subscriber', `not a user name: ${JSON.stringify(input.user)}`, { field: 'user' });
  if (domain.length === 0 || /[\s@/]/.test(domain)) throw new RegistrarError('invalid-subscriber', `not a domain: ${JSON.stringify(input.domain)}`, { field: 'domain' });
  const r = input.realm ?? realm ?? domain;
  const ha1: Partial<Record<DigestHash, string>> = {};
  if (input.password !== undefined) {
    if (typeof input.password !== 'string' || input.password.length === 0) throw new RegistrarError('invalid-subscriber', 'empty password', { field: 'password' });
    for (const h of DIGEST_HASHES) ha1[h] = computeHa1(h, user, r, input.password);
  }
  if (input.ha1 !== undefined) {
    if (!HEX32.test(input.ha1)) throw new RegistrarError('invalid-subscriber', 'ha1: not 32 hex digits (MD5)', { field: 'ha1' });
    ha1.MD5 = input.ha1.toLowerCase();
  }
  if (input.ha1Sha256 !== undefined) {
    if (!HEX64.test(input.ha1Sha256)) throw new RegistrarError('invalid-subscriber', 'ha1_sha256: not 64 hex digits (SHA-256)', { field: 'ha1_sha256' });
    ha1['SHA-256'] = input.ha1Sha256.toLowerCase();
  }
  if (Object.keys(ha1).length === 0) throw new RegistrarError('invalid-subscriber', 'a subscriber needs a password or an HA1', { field: 'password' });
  return { user, domain, ha1: { [r]: ha1 } };
};

/** A subscriber from stored JSON; undefined when damaged. */
export const subscriberFromJson = (value: unknown): Subscriber | undefined => {
  let o: unknown = value;
  if (typeof value === 'string') {
    try {
      o = JSON.parse(value);
    } catch {
      return undefined;
    }
  }
  if (typeof o !== 'object' || o === null) return undefined;
  const r = o as Record<string, unknown>;
  if (typeof r['user'] !== 'string' || typeof r['domain'] !== 'string' || typeof r['ha1'] !== 'object' || r['ha1'] === null) return undefined;
  return { user: r['user'], domain: r['domain'], ha1: r['ha1'] as Subscriber['ha1'] };
};

/** What the API may show of a subscriber: never an HA1. */
export const subscriberView = (s: Subscriber): { user: string; domain: string; realms: string[]; algorithms: DigestHash[] } => ({
  user: s.user,
  domain: s.domain,
  realms: Object.keys(s.ha1),
  algorithms: [...new Set(Object.values(s.ha1).flatMap((m) => Object.keys(m) as DigestHash[]))],
});
