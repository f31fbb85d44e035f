// Stateless signed nonces: each carries its issue time, random bytes and an HMAC over both
// (and an optional scope, the realm), so any instance holding the same secret verifies a
// nonce another one issued. Nonce-count replay is tracked per instance, in bounded memory.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export interface NonceClock {
  now(): number;
}

export interface NonceServiceOptions {
  /** shared by the instances (`registrar.auth.nonce_secret`); default: random, this process only */
  secret?: string | Buffer | undefined;
  /** how long a nonce is accepted; older ones are stale */
  lifetimeMs: number;
  clock?: NonceClock;
  /** nonces whose nonce-count is remembered (oldest forgotten first); default 100,000 */
  maxTracked?: number;
  /** a nonce stamped this far in the future (another instance's clock) is still accepted; default 30 s */
  maxSkewMs?: number;
  /**
   * `workers: N`: the worker's name, signed into its nonces. Another worker's nonce is not valid
   * here (the client is challenged again, stale=true), so each nonce's nonce-count is tracked by
   * the one worker that accepts it and a replay cannot land on another.
   */
  issuer?: string;
}

/** `valid`; `stale` (ours, but older than the lifetime); `invalid` (not ours, tampered, other scope). */
export type NonceStatus = 'valid' | 'stale' | 'invalid';

export interface NonceService {
  issue(scope?: string): string;
  verify(nonce: string, scope?: string): NonceStatus;
  /**
   * Records the nonce-count of a request whose digest verified; false when it does not exceed
   * the last one seen for that nonce (a replay). Call only after the response verified, so a
   * forged request cannot burn a nonce-count of the real client.
   */
  acceptNonceCount(nonce: string, nc: number): boolean;
  readonly lifetimeMs: number;
}

const TS_BYTES = 6;
const RAND_BYTES = 9;
const MAC_BYTES = 15;
const RAW_BYTES = TS_BYTES + RAND_BYTES + MAC_BYTES;

export const createNonceService = (options: NonceServiceOptions): NonceService => {
  const secret = options.secret === undefined || options.secret.length === 0 ? randomBytes(32) : options.secret;
  const clock = options.clock ?? { now: () => Date.now() };
  const lifetimeMs = options.lifetimeMs;
  const maxTracked = options.maxTracked ?? 100_000;
  const maxSkewMs = options.maxSkewMs ?? 30_000;
  // insertion-ordered: the first entry is the least recently used
  const counts = new Map<string, number>();

  const issuer = options.issuer === undefined ? undefined : `\u0000${options.issuer}`;
  const mac = (head: Buffer, scope: string): Buffer => {
    const h = createHmac('sha256', secret).update(head).update(scope, 'utf8');
    if (issuer !== undefined) h.update(issuer, 'utf8');
    return h.digest().subarray(0, MAC_BYTES);
  };

  const issuedAt = (nonce: string, scope: string): number | undefined => {
    if (nonce.length !== 40) return undefined;
    const raw = Buffer.from(nonce, 'base64url');
    if (raw.length !== RAW_BYTES) return undefined;
    const head = raw.subarray(0, TS_BYTES + RAND_BYTES);
    if (!timingSafeEqual(mac(head, scope), raw.subarray(TS_BYTES + RAND_BYTES))) return undefined;
    return raw.readUIntBE(0, TS_BYTES);
  };

  return {
    lifetimeMs,
    issue(scope = ''): string {
      const head = Buffer.allocUnsafe(TS_BYTES + RAND_BYTES);
      head.writeUIntBE(Math.max(0, Math.floor(clock.now())), 0, TS_BYTES);
      randomBytes(RAND_BYTES).copy(head, TS_BYTES);
      return Buffer.concat([head, mac(head, scope)]).toString('base64url');
    },
    verify(nonce: string, scope = ''): NonceStatus {
      const t = issuedAt(nonce, scope);
      if (t === undefined) return 'invalid';
      const age = clock.now() - t;
      if (age < -maxSkewMs) return 'invalid';
      return age > lifetimeMs ? 'stale' : 'valid';
    },
    acceptNonceCount(nonce: string, nc: number): boolean {
      const last = counts.get(nonce);
      if (last !== undefined && nc <= last) return false;
      counts.delete(nonce);
      counts.set(nonce, nc);
      while (counts.size > maxTracked) counts.delete(counts.keys().next().value!);
      return true;
    },
  };
};
