// The embedded store: everything in memory, persisted as JSON files in one folder.
import { openMemoryContactStore } from './contact-store.js';
import type { MemoryStoreDeps } from './contact-store.js';
import { openMemoryDomainStore, openMemorySubscriberStore } from './subscriber-store.js';
import type { DomainStore, RegistrarStores, SubscriberStore } from '../types.js';

export * from './contact-store.js';
export * from './subscriber-store.js';
export { writeFileAtomic } from './json-file.js';

export interface MemoryStoresOptions {
  /** the data folder (`store.path`); absent = nothing persisted (tests) */
  path?: string | undefined;
  flushDelayMs?: number;
  sweepIntervalMs?: number;
}

export const openMemoryStores = async (
  deps: MemoryStoreDeps & { realm?: string | undefined },
  options: MemoryStoresOptions = {},
): Promise<RegistrarStores> => {
  const contacts = await openMemoryContactStore(deps, options);
  let subscribers: SubscriberStore;
  let domains: DomainStore;
  try {
    subscribers = await openMemorySubscriberStore(deps, options);
    domains = await openMemoryDomainStore(deps, options).catch(async (err: unknown) => {
      await subscribers.close();
      throw err;
    });
  } catch (err) {
    await contacts.close();
    throw err;
  }
  return {
    contacts,
    subscribers,
    domains,
    isUp: () => true,
    async close() {
      await Promise.all([contacts.close(), subscribers.close(), domains.close()]);
    },
  };
};
