// A ban and the store that keeps bans beyond one process: what it is, how it is checked when
// read back from a file or from Redis (never trusted as written), and the events a shared store
// sends when another instance bans or lifts a ban.
import { canonicalIp } from './ip.js';

export type BanReason = 'flood' | 'auth-failures' | 'scanner' | 'manual';

export const BAN_REASONS: readonly BanReason[] = Object.freeze(['flood', 'auth-failures', 'scanner', 'manual']);

export const isBanReason = (v: unknown): v is BanReason => typeof v === 'string' && (BAN_REASONS as readonly string[]).includes(v);

/** Times are ms since the epoch. Ban objects are frozen. */
export interface Ban {
  readonly ip: string;
  readonly reason: BanReason;
  readonly createdAt: number;
  readonly expiresAt: number;
}

export type BanStoreEvent =
  /** another instance banned an address */
  | { type: 'ban'; ban: Ban }
  /** another instance lifted a ban */
  | { type: 'unban'; ip: string }
  /**
   * The store's whole content after it came back from an outage. Bans held locally that are
   * missing here and were created before `since` were lifted elsewhere meanwhile.
   */
  | { type: 'sync'; bans: Ban[]; since: number };

/**
 * Where bans persist and how instances share them. Security keeps its own in-memory view (the
 * hot path never waits on a store); the store is written behind it. Implementations: memory
 * (optionally persisted to a JSON file) and Redis.
 */
export interface BanStore {
  /** The unexpired bans held, at start-up. Rejects when the store cannot be reached. */
  load(): Promise<Ban[]>;
  /** Stores or replaces the ban for `ban.ip`; other instances sharing the store learn of it. */
  put(ban: Ban): Promise<void>;
  remove(ip: string): Promise<void>;
  /** Changes made by other instances; returns the unsubscribe function. */
  subscribe(listener: (event: BanStoreEvent) => void): () => void;
  /** Flushes what is pending and closes what the store opened. */
  close(): Promise<void>;
}

export const makeBan = (ip: string, reason: BanReason, createdAt: number, expiresAt: number): Ban =>
  Object.freeze({ ip, reason, createdAt, expiresAt });

/** A ban read back from outside (file, Redis), checked field by field; undefined if malformed. */
export const parseBan = (v: unknown): Ban | undefined => {
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o['ip'] !== 'string' || !isBanReason(o['reason'])) return undefined;
  const createdAt = o['createdAt'];
  const expiresAt = o['expiresAt'];
  if (typeof createdAt !== 'number' || !Number.isFinite(createdAt)) return undefined;
  if (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt) || expiresAt < createdAt) return undefined;
  const ip = canonicalIp(o['ip']);
  if (ip === undefined) return undefined;
  return makeBan(ip, o['reason'], createdAt, expiresAt);
};
