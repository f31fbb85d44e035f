// Builds the registrar's stores from the `store:` section of the config.
import { openMemoryStores } from './memory/index.js';
import type { MemoryStoresOptions } from './memory/index.js';
import { openRedisStores } from './redis/index.js';
import type { RedisStoresOptions } from './redis/index.js';
import type { RegistrarClock, RegistrarLogger, RegistrarStores } from './types.js';

export type StoreOptions =
  | ({ kind: 'memory' } & MemoryStoresOptions)
  | ({ kind: 'redis' } & RedisStoresOptions);

export interface StoreDeps {
  clock?: RegistrarClock;
  log?: RegistrarLogger;
  /** this sipfront instance (written into bindings' change events) */
  instanceId?: string;
  /** `registrar.auth.realm`: the realm passwords are hashed for, when one is fixed */
  realm?: string | undefined;
}

/**
 * `memory`: loads `<path>/{contacts,subscribers,domains}.json` (rejects on a damaged file);
 * `redis`: connects in the background and waits up to `readyTimeoutMs` (default 0) for it.
 */
export const openRegistrarStores = async (deps: StoreDeps, options: StoreOptions & { readyTimeoutMs?: number }): Promise<RegistrarStores> => {
  if (options.kind === 'memory') return openMemoryStores(deps, options);
  const stores = openRedisStores(deps, options);
  if ((options.readyTimeoutMs ?? 0) > 0) await stores.waitReady(options.readyTimeoutMs!);
  return stores;
};
