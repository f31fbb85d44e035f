// The API's services over the live parts of this sipfront: the dispatcher (changes applied at
// once, then persisted by the DispatcherStore), the registrar's stores, the security layer and
// the proxy's drain switch. Also the event feed: destination states, registrations and bans.
import type { ApiServices, BanReasonName, BanRecord, EventHub, Readiness, SipfrontMetrics } from '@sipfront/api';
import type { Proxy } from '@sipfront/core';
import type { SetConfig, SetView } from '@sipfront/dispatcher';
import { DispatcherError } from '@sipfront/dispatcher';
import type { RegistrarStores } from '@sipfront/registrar';
import { normalizeAor, registrationView, subscriberView } from '@sipfront/registrar';
import type { Security } from '@sipfront/security';
import type { Logger } from 'pino';
import type { DispatchWiring } from './dispatch.js';
import type { DispatcherStore, StoredSet } from './dispatcher-store.js';
import { fromViews, mergeYamlSets, toSetConfigs } from './dispatcher-store.js';
import { StoreError } from './errors.js';

/** The dispatcher's sets, kept in the store: what the API and reloads change. */
export interface DispatcherSync {
  /** the live sets as they are stored */
  snapshot(): StoredSet[];
  /** replaces the live sets with a stored list (another instance changed it, or a reload) */
  apply(sets: readonly StoredSet[]): void;
  /** writes the live sets to the store */
  persist(): Promise<void>;
  /** the YAML's sets upserted into the live ones, applied and stored */
  reload(yaml: readonly SetConfig[]): Promise<SetView[]>;
  /** an operator's drain (so it is stored, and told from a backend's 503) */
  drainedByOperator(setId: number, uri: string): boolean;
  markOperatorState(setId: number, uri: string, state: 'active' | 'disabled' | 'draining'): void;
  /** throws StoreError (503) while the store cannot take a change */
  assertWritable(): void;
}

const key = (setId: number, uri: string): string => `${setId} ${uri}`;

export const createDispatcherSync = (dispatch: DispatchWiring, store: DispatcherStore, log: Logger): DispatcherSync => {
  const { dispatcher } = dispatch;
  const drained = new Set<string>();
  const drainedByOperator = (setId: number, uri: string): boolean => drained.has(key(setId, uri));
  const snapshot = (): StoredSet[] => fromViews(dispatcher.getSets(), drainedByOperator);

  const apply = (sets: readonly StoredSet[]): void => {
    dispatcher.replaceSets(toSetConfigs(sets));
    // replaceSets keeps the state of destinations it keeps: held states are set here
    for (const s of sets) {
      for (const d of s.destinations) {
        const live = dispatcher.getDestination(s.id, d.uri);
        if (live === undefined) continue;
        const k = key(s.id, d.uri);
        if (d.state === 'disabled' && live.state !== 'disabled') {
          drained.delete(k);
          dispatcher.setState(s.id, d.uri, 'disabled');
        } else if (d.state === 'draining' && live.state !== 'draining' && live.state !== 'disabled') {
          drained.add(k);
          dispatcher.setState(s.id, d.uri, 'draining');
        } else if (d.state === undefined && (live.state === 'disabled' || (live.state === 'draining' && drained.has(k)))) {
          drained.delete(k);
          dispatcher.setState(s.id, d.uri, 'active');
        }
      }
    }
    dispatch.refresh();
  };

  const assertWritable = (): void => {
    if (!store.isUp()) throw new StoreError('STORE_UNAVAILABLE', 'the store is unavailable: the change could not be kept; try again');
  };

  const persist = async (): Promise<void> => {
    try {
      await store.save(snapshot());
    } catch (err) {
      log.error({ err: err instanceof Error ? err.message : String(err) }, 'dispatcher sets not stored');
      throw err;
    }
  };

  return {
    snapshot,
    apply,
    persist,
    drainedByOperator,
    markOperatorState(setId, uri, state) {
      if (state === 'draining') drained.add(key(setId, uri));
      else drained.delete(key(setId, uri));
    },
    assertWritable,
    async reload(yaml) {
      assertWritable();
      apply(mergeYamlSets(snapshot(), yaml));
      await persist();
      return dispatcher.getSets();
    },
  };
};

export interface ApiWiringDeps {
  dispatch: DispatchWiring;
  sync: DispatcherSync;
  stores: RegistrarStores;
  security: Security;
  proxy: Proxy;
  events: EventHub;
  metrics: SipfrontMetrics;
  readiness(): Readiness;
  /** the YAML's sets as the config file says now (POST /dispatcher/reload) */
  yamlSets(): SetConfig[];
}

const banRecord = (b: { ip: string; reason: BanReasonName; createdAt: number; expiresAt: number }): BanRecord => ({
  ip: b.ip,
  reason: b.reason,
  createdAt: b.createdAt,
  expiresAt: b.expiresAt,
});

export const createApiServices = (d: ApiWiringDeps): ApiServices => {
  const { dispatch, sync, stores, security, proxy } = d;
  const { dispatcher } = dispatch;

  /** A change: refused while the store is down, applied to the live dispatcher, then stored. */
  const change = async <T>(fn: () => T): Promise<T> => {
    sync.assertWritable();
    const r = fn();
    dispatch.refresh();
    d.events.publish('dispatcher', { cause: 'api' });
    await sync.persist();
    return r;
  };

  return {
    domains: {
      list: () => stores.domains.list(),
      add: (domain) => stores.domains.add(domain),
      remove: (domain) => stores.domains.delete(domain),
    },
    dispatcher: {
      getSets: () => dispatcher.getSets(),
      getSet: (id) => dispatcher.getSet(id),
      getDestination: (setId, uri) => dispatcher.getDestination(setId, uri),
      createSet: (set) =>
        change(() => {
          if (dispatcher.hasSet(set.id)) throw new DispatcherError('DUPLICATE_SET', `id: set ${set.id} exists already (PUT /dispatcher/sets/${set.id} replaces it)`, { field: 'id' });
          return dispatcher.putSet(set);
        }),
      putSet: (set) => change(() => dispatcher.putSet(set)),
      removeSet: (id) => change(() => dispatcher.removeSet(id)),
      addDestination: (setId, dest) => change(() => dispatcher.addDestination(setId, dest)),
      removeDestination: (setId, uri) =>
        change(() => {
          dispatcher.removeDestination(setId, uri);
          sync.markOperatorState(setId, uri, 'active');
        }),
      setState: (setId, uri, state) =>
        change(() => {
          const view = dispatcher.setState(setId, uri, state);
          sync.markOperatorState(setId, uri, state);
          return view;
        }),
      reload: () => sync.reload(d.yamlSets()),
    },
    subscribers: {
      list: async (domain) => (await stores.subscribers.list(domain)).map(subscriberView),
      get: async (user, domain) => {
        const s = await stores.subscribers.get(user, domain);
        return s === undefined ? undefined : subscriberView(s);
      },
      put: async (user, domain, c) => subscriberView(await stores.subscribers.put({ user, domain, password: c.password, ha1: c.ha1, ha1Sha256: c.ha1Sha256 })),
      remove: (user, domain) => stores.subscribers.delete(user, domain),
    },
    registrations: {
      list: async () => {
        const now = Date.now();
        const aors = (await stores.contacts.listAors()).sort();
        const out = [];
        for (const aor of aors) {
          const bindings = await stores.contacts.lookup(aor);
          if (bindings.length > 0) out.push(registrationView(aor, bindings, now));
        }
        return out;
      },
      get: async (aor) => {
        const a = normalizeAor(aor);
        const bindings = await stores.contacts.lookup(a);
        return bindings.length === 0 ? undefined : registrationView(a, bindings, Date.now());
      },
      remove: (aor) => stores.contacts.removeAll(normalizeAor(aor)),
    },
    bans: {
      list: () => security.listBans().map(banRecord),
      get: (ip) => {
        const b = security.getBan(ip);
        return b === undefined ? undefined : banRecord(b);
      },
      ban: (ip, seconds, reason) => banRecord(security.ban(ip, seconds, reason)),
      unban: (ip) => security.unban(ip),
    },
    instance: {
      drain: (on) => {
        proxy.setDraining(on);
        d.events.publish('instance', { draining: on });
      },
      draining: () => proxy.draining,
      readiness: d.readiness,
    },
    events: d.events,
    metrics: d.metrics,
  };
};
