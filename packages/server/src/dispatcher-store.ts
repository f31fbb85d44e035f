// Where the dispatcher's sets live beyond one process (the YAML-vs-store rule of the contract):
// the whole list, with the operator's states, as one JSON document — a file in `store.path` for
// the memory store, one Redis key (plus a change channel, so other instances follow within a
// second) for the Redis store. At start the stored list is read and the YAML's sets are upserted
// into it by id; every change made through the API writes the list back.
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { Algorithm, OperatorState, SetConfig, SetView } from '@sipfront/dispatcher';
import { ALGORITHMS } from '@sipfront/dispatcher';
import { writeFileAtomic } from '@sipfront/registrar';
import type { Logger } from 'pino';
import { StoreError } from './errors.js';

/** Held states survive restarts; `draining` comes back as `disabled` (a restart has no calls left). */
export type StoredState = Exclude<OperatorState, 'active'>;

export interface StoredDestination {
  uri: string;
  weight: number;
  priority: number;
  state?: StoredState;
}

export interface StoredSet {
  id: number;
  name: string;
  algorithm: Algorithm;
  destinations: StoredDestination[];
}

export interface DispatcherStore {
  /** The stored list; undefined when nothing was ever stored. Rejects with StoreError. */
  load(): Promise<StoredSet[] | undefined>;
  save(sets: readonly StoredSet[]): Promise<void>;
  isUp(): boolean;
  /** Redis: resolves true once connected and subscribed, false after timeoutMs. */
  waitReady?(timeoutMs: number): Promise<boolean>;
  /** Another instance saved (Redis), or the store came back after an outage: reload. */
  onChange(listener: (cause: 'remote' | 'reconnected') => void): void;
  close(): Promise<void>;
}

export const DISPATCHER_FILE = 'dispatcher.json';

// ---- the document -----------------------------------------------------------------------

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The stored list, checked entry by entry: a damaged entry is skipped, not trusted. */
export const parseStoredSets = (doc: unknown): StoredSet[] | undefined => {
  if (!isObj(doc) || !Array.isArray(doc['sets'])) return undefined;
  const out: StoredSet[] = [];
  for (const s of doc['sets']) {
    if (!isObj(s) || !Number.isSafeInteger(s['id']) || typeof s['name'] !== 'string' || !(ALGORITHMS as readonly unknown[]).includes(s['algorithm'])) continue;
    const destinations: StoredDestination[] = [];
    for (const d of Array.isArray(s['destinations']) ? s['destinations'] : []) {
      if (!isObj(d) || typeof d['uri'] !== 'string' || typeof d['weight'] !== 'number' || typeof d['priority'] !== 'number') continue;
      const state = d['state'] === 'disabled' || d['state'] === 'draining' ? d['state'] : undefined;
      destinations.push({ uri: d['uri'], weight: d['weight'], priority: d['priority'], ...(state !== undefined ? { state } : {}) });
    }
    out.push({ id: s['id'] as number, name: s['name'], algorithm: s['algorithm'] as Algorithm, destinations });
  }
  return out;
};

const serialize = (sets: readonly StoredSet[], instanceId: string): string => JSON.stringify({ version: 1, by: instanceId, at: new Date().toISOString(), sets });

/**
 * The YAML's sets upserted into the stored list by id: the YAML wins for the sets it names
 * (name, algorithm, destinations), operator states of destinations it keeps are kept; sets made
 * through the API stay.
 */
export const mergeYamlSets = (stored: readonly StoredSet[] | undefined, yaml: readonly SetConfig[]): StoredSet[] => {
  const byId = new Map<number, StoredSet>();
  for (const s of stored ?? []) byId.set(s.id, s);
  for (const y of yaml) {
    const old = byId.get(y.id);
    const held = new Map(old?.destinations.filter((d) => d.state !== undefined).map((d) => [d.uri, d.state!]) ?? []);
    byId.set(y.id, {
      id: y.id,
      name: y.name,
      algorithm: y.algorithm,
      destinations: y.destinations.map((d) => {
        const state = held.get(d.uri);
        return { uri: d.uri, weight: d.weight, priority: d.priority, ...(state !== undefined ? { state } : {}) };
      }),
    });
  }
  return [...byId.values()].sort((a, b) => a.id - b.id);
};

/** What the dispatcher is built from (a held state starts as `disabled`). */
export const toSetConfigs = (sets: readonly StoredSet[]): SetConfig[] =>
  sets.map((s) => ({
    id: s.id,
    name: s.name,
    algorithm: s.algorithm,
    destinations: s.destinations.map((d) => ({ uri: d.uri, weight: d.weight, priority: d.priority, ...(d.state !== undefined ? { state: 'disabled' as const } : {}) })),
  }));

/** The live sets as stored; `drainedByOperator` tells an operator's drain from a backend's 503. */
export const fromViews = (views: readonly SetView[], drainedByOperator: (setId: number, uri: string) => boolean): StoredSet[] =>
  views.map((s) => ({
    id: s.id,
    name: s.name,
    algorithm: s.algorithm,
    destinations: s.destinations.map((d) => {
      const state: StoredState | undefined = d.state === 'disabled' ? 'disabled' : d.state === 'draining' && drainedByOperator(s.id, d.uri) ? 'draining' : undefined;
      return { uri: d.uri, weight: d.weight, priority: d.priority, ...(state !== undefined ? { state } : {}) };
    }),
  }));

// ---- memory: a JSON file ----------------------------------------------------------------

export const createFileDispatcherStore = (dir: string, instanceId: string): DispatcherStore => {
  const file = join(dir, DISPATCHER_FILE);
  // writes never overlap: each waits for the one before
  let writing: Promise<void> = Promise.resolve();
  return {
    async load() {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw new StoreError('STORE_UNAVAILABLE', `cannot read ${file}`, { cause: err });
      }
      let doc: unknown;
      try {
        doc = JSON.parse(text);
      } catch (err) {
        throw new StoreError('STORE_CORRUPT', `${file}: not JSON`, { cause: err });
      }
      const sets = parseStoredSets(doc);
      if (sets === undefined) throw new StoreError('STORE_CORRUPT', `${file}: no "sets" list`);
      return sets;
    },
    save(sets) {
      const text = serialize(sets, instanceId);
      const next = writing.then(async () => {
        try {
          await mkdir(dir, { recursive: true });
          await writeFileAtomic(file, text);
        } catch (err) {
          throw new StoreError('STORE_UNAVAILABLE', `cannot write ${file}`, { cause: err });
        }
      });
      writing = next.catch(() => undefined);
      return next;
    },
    isUp: () => true,
    onChange() {
      // one process owns the file
    },
    async close() {
      await writing;
    },
  };
};

// ---- redis: one key and a channel ---------------------------------------------------------

export interface RedisDispatcherStoreOptions {
  url: string;
  prefix: string;
  instanceId: string;
  log: Logger;
  /** default 2000 */
  commandTimeoutMs?: number;
}

export interface RedisDispatcherStore extends DispatcherStore {
  waitReady(timeoutMs: number): Promise<boolean>;
}

export const createRedisDispatcherStore = (o: RedisDispatcherStoreOptions): RedisDispatcherStore => {
  const key = `${o.prefix}dispatcher:sets`;
  const channel = `${o.prefix}dispatcher:events`;
  const base = {
    connectTimeout: 2000,
    commandTimeout: o.commandTimeoutMs ?? 2000,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    retryStrategy: (times: number) => Math.min(100 * times, 2000),
  };
  const client = new Redis(o.url, base);
  const sub = new Redis(o.url, { ...base, autoResubscribe: false, commandTimeout: undefined });
  const listeners: Array<(cause: 'remote' | 'reconnected') => void> = [];
  const emit = (cause: 'remote' | 'reconnected'): void => {
    for (const fn of listeners) {
      try {
        fn(cause);
      } catch (err) {
        o.log.error({ err }, 'dispatcher store listener threw');
      }
    }
  };
  let lastError = '';
  const onError = (err: Error): void => {
    if (err.message === lastError) return;
    lastError = err.message;
    o.log.warn({ err: err.message }, 'dispatcher store: redis connection trouble');
  };
  client.on('error', onError);
  sub.on('error', onError);
  let subscribed = false;
  const waiters: Array<() => void> = [];
  sub.on('ready', () => {
    sub.subscribe(channel).then(
      () => {
        subscribed = true;
        for (const w of waiters.splice(0)) w();
        // after an outage (or a start without Redis), what changed meanwhile is read again
        emit('reconnected');
      },
      (err: unknown) => o.log.warn({ err }, 'dispatcher store: redis subscribe failed'),
    );
  });
  sub.on('close', () => {
    subscribed = false;
  });
  client.on('ready', () => {
    lastError = '';
    for (const w of waiters.splice(0)) w();
  });
  sub.on('message', (ch: string, message: string) => {
    if (ch === channel && message !== o.instanceId) emit('remote');
  });
  const call = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw new StoreError('STORE_UNAVAILABLE', `redis: ${what} failed`, { cause: err });
    }
  };
  let closed = false;
  return {
    async load() {
      const text = await call('load dispatcher sets', () => client.get(key));
      if (text === null) return undefined;
      let doc: unknown;
      try {
        doc = JSON.parse(text);
      } catch (err) {
        throw new StoreError('STORE_CORRUPT', `${key}: not JSON`, { cause: err });
      }
      const sets = parseStoredSets(doc);
      if (sets === undefined) throw new StoreError('STORE_CORRUPT', `${key}: no "sets" list`);
      return sets;
    },
    async save(sets) {
      await call('save dispatcher sets', () => client.multi().set(key, serialize(sets, o.instanceId)).publish(channel, o.instanceId).exec());
    },
    isUp: () => client.status === 'ready',
    onChange(fn) {
      listeners.push(fn);
    },
    waitReady(timeoutMs) {
      const ready = (): boolean => client.status === 'ready' && subscribed;
      if (ready()) return Promise.resolve(true);
      return new Promise((resolve) => {
        const t = setTimeout(() => resolve(ready()), timeoutMs);
        t.unref();
        const check = (): void => {
          if (ready()) {
            clearTimeout(t);
            resolve(true);
          } else waiters.push(check);
        };
        waiters.push(check);
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      const quit = async (r: Redis): Promise<void> => {
        if (r.status === 'ready') await r.quit().catch(() => r.disconnect());
        else r.disconnect();
      };
      await Promise.all([quit(client), quit(sub)]);
    },
  };
};
