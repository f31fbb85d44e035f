// The Redis store: subscribers, domains and the location service on one connection pair.
import type { RegistrarStores } from '../types.js';
import { openRedisConnection } from './connection.js';
import type { RedisConnectionOptions } from './connection.js';
import { createRedisContactStore } from './contact-store.js';
import type { RedisContactStoreOptions, RedisStoreDeps } from './contact-store.js';
import { createRedisDomainStore, createRedisSubscriberStore } from './subscriber-store.js';
import { silentLog } from '../emitter.js';

export * from './connection.js';
export * from './contact-store.js';
export * from './subscriber-store.js';

export type RedisStoresOptions = RedisConnectionOptions & RedisContactStoreOptions;

export interface RedisStores extends RegistrarStores {
  /** Resolves true once connected, false after `timeoutMs` (start-up seeding waits on it). */
  waitReady(timeoutMs: number): Promise<boolean>;
}

/** Never throws for an unreachable Redis: operations reject with `store-unavailable` until it is back. */
export const openRedisStores = (deps: RedisStoreDeps & { realm?: string | undefined }, options: RedisStoresOptions): RedisStores => {
  const log = deps.log ?? silentLog;
  const conn = openRedisConnection(options, log);
  const contacts = createRedisContactStore(conn, deps, options);
  const subscribers = createRedisSubscriberStore(conn, deps);
  const domains = createRedisDomainStore(conn, { log });
  return {
    contacts,
    subscribers,
    domains,
    isUp: conn.isUp,
    waitReady: conn.waitReady,
    async close() {
      await Promise.all([contacts.close(), subscribers.close(), domains.close()]);
      await conn.close();
    },
  };
};
