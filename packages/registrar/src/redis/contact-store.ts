// The location service in Redis, shared by every sipfront instance on it. Per AOR a hash
// (`<prefix>{loc}:aor:<aor>`: contact key → binding JSON, `_v` a version) that expires by
// itself after its last binding; one sorted set (`<prefix>{loc}:exp`, member `aor\nkey`, score
// = expiry) for counting, listing and the expiry sweep. An update reads the AOR, computes the
// new list in TypeScript and writes it with a compare-and-set script, retrying on a race, so
// two REGISTERs for one AOR racing each other lose nothing. Changes are published on
// `<prefix>events`; every instance turns them into `onChange` events.
import { RegistrarError } from '../errors.js';
import { bindingFromJson, bindingToJson, checkBinding, compareBindings, contactKey, normalizeAor } from '../bindings.js';
import { createEmitter, silentLog, systemClock } from '../emitter.js';
import type { Binding, ContactChange, ContactChangeReason, ContactStore, RegistrarClock, RegistrarLogger, UpdateOutcome } from '../types.js';
import type { RedisConnection } from './connection.js';

export interface RedisContactStoreOptions {
  /** expiry sweep period; default 1000 ms */
  sweepIntervalMs?: number;
  /** an AOR's hash outlives its last binding by this much (the sweep normally removes it first); default 60 s */
  graceMs?: number;
}

export interface RedisStoreDeps {
  clock?: RegistrarClock;
  log?: RegistrarLogger;
  instanceId?: string;
}

const MAX_ATTEMPTS = 32;
const SWEEP_BATCH = 500;

export const createRedisContactStore = (conn: RedisConnection, deps: RedisStoreDeps, options: RedisContactStoreOptions = {}): ContactStore => {
  const clock = deps.clock ?? systemClock;
  const log = deps.log ?? silentLog;
  const instanceId = deps.instanceId ?? '';
  const graceMs = options.graceMs ?? 60_000;
  const aorKey = (aor: string): string => `${conn.prefix}{loc}:aor:${aor}`;
  const expKey = `${conn.prefix}{loc}:exp`;
  const changes = createEmitter<ContactChange>(log, 'contact change');
  let closed = false;

  conn.onMessage((message) => {
    let e: { type?: unknown; aor?: unknown; reason?: unknown; instanceId?: unknown };
    try {
      e = JSON.parse(message) as typeof e;
    } catch {
      return;
    }
    if (e.type !== 'contacts' || typeof e.aor !== 'string') return;
    changes.emit({ aor: e.aor, reason: (e.reason as ContactChangeReason) ?? 'register', instanceId: typeof e.instanceId === 'string' ? e.instanceId : '' });
  });

  const event = (aor: string, reason: ContactChangeReason, by = instanceId): string =>
    JSON.stringify({ type: 'contacts', aor, reason, instanceId: by });

  const read = async (aor: string): Promise<{ version: string; all: Binding[] }> => {
    const raw = await conn.call('read AOR', (c) => c.hgetall(aorKey(aor)));
    const all: Binding[] = [];
    let version = '';
    for (const [field, value] of Object.entries(raw)) {
      if (field === '_v') {
        version = value;
        continue;
      }
      const b = bindingFromJson(value);
      // a damaged entry is kept in `all` under its field name so the next write removes it
      all.push(b === undefined ? ({ key: field, expiresAt: 0 } as Binding) : { ...b, key: field });
    }
    return { version, all };
  };

  // Updates of one AOR from this instance run one after another, so the compare-and-set only
  // races other instances; a lost race backs off a random few ms before it re-reads.
  const queues = new Map<string, Promise<unknown>>();
  const update = <T>(aorIn: string, fn: (current: readonly Binding[]) => UpdateOutcome<T>, reason: ContactChangeReason = 'register'): Promise<T> => {
    const aor = normalizeAor(aorIn);
    const prev = queues.get(aor) ?? Promise.resolve();
    const run = prev.then(() => casUpdate(aor, fn, reason), () => casUpdate(aor, fn, reason));
    const tail = run.catch(() => undefined);
    queues.set(aor, tail);
    void tail.then(() => {
      if (queues.get(aor) === tail) queues.delete(aor);
    });
    return run;
  };

  const casUpdate = async <T>(aor: string, fn: (current: readonly Binding[]) => UpdateOutcome<T>, reason: ContactChangeReason): Promise<T> => {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 * attempt)));
      const { version, all } = await read(aor);
      const now = clock.now();
      const out = fn(all.filter((b) => b.expiresAt > now));
      if (out.bindings === undefined) return out.result;
      const next = new Map<string, Binding>();
      for (const b of out.bindings) {
        checkBinding(b);
        next.set(b.key, { ...b, aor });
      }
      const before = new Map(all.map((b) => [b.key, b]));
      const dels = all.filter((b) => !next.has(b.key)).map((b) => b.key);
      const sets: Array<string | number> = [];
      let nSet = 0;
      let last = 0;
      for (const b of next.values()) {
        last = Math.max(last, b.expiresAt);
        const json = bindingToJson(b);
        const old = before.get(b.key);
        if (old !== undefined && bindingToJson(old) === json) continue;
        sets.push(b.key, json, b.expiresAt);
        nSet++;
      }
      if (dels.length === 0 && nSet === 0) return out.result;
      const ok = await conn.call('update AOR', (c) =>
        c.sfLocCas(aorKey(aor), expKey, version, aor, last + graceMs, conn.channel, event(aor, reason), dels.length, ...dels, nSet, ...sets));
      if (ok === 1) return out.result;
    }
    throw new RegistrarError('store-conflict', `AOR ${aor} kept changing during an update`);
  };

  const sweep = async (): Promise<number> => {
    let removed = 0;
    for (;;) {
      const now = clock.now();
      const due = await conn.call('expiry scan', (c) => c.zrangebyscore(expKey, '-inf', now, 'LIMIT', 0, SWEEP_BATCH));
      if (due.length === 0) break;
      const byAor = new Map<string, string[]>();
      for (const m of due) {
        const nl = m.indexOf('\n');
        if (nl === -1) {
          await conn.call('expiry cleanup', (c) => c.zrem(expKey, m));
          continue;
        }
        const aor = m.slice(0, nl);
        let keys = byAor.get(aor);
        if (keys === undefined) byAor.set(aor, (keys = []));
        keys.push(m.slice(nl + 1));
      }
      for (const [aor, keys] of byAor) {
        removed += await conn.call('expiry purge', (c) => c.sfLocPurge(aorKey(aor), expKey, aor, now, conn.channel, event(aor, 'expired'), ...keys));
      }
      if (due.length < SWEEP_BATCH) break;
    }
    return removed;
  };

  let sweepTimer: NodeJS.Timeout | undefined;
  const armSweep = (): void => {
    if (closed) return;
    sweepTimer = setTimeout(() => {
      sweep()
        .catch((err: unknown) => log.debug({ err }, 'registrar: expiry sweep failed'))
        .finally(armSweep);
    }, options.sweepIntervalMs ?? 1000);
    sweepTimer.unref();
  };
  armSweep();

  return {
    async lookup(aor) {
      const now = clock.now();
      const { all } = await read(normalizeAor(aor));
      return all.filter((b) => b.expiresAt > now && b.uri !== undefined).sort(compareBindings);
    },
    update,
    async add(binding) {
      await update(binding.aor, (cur) => ({ bindings: [...cur.filter((b) => b.key !== binding.key), binding], result: undefined }));
    },
    async remove(aor, uri) {
      const key = contactKey(uri);
      return update(aor, (cur) => {
        const rest = cur.filter((b) => b.key !== key);
        return rest.length === cur.length ? { bindings: undefined, result: false } : { bindings: rest, result: true };
      }, 'removed');
    },
    async removeAll(aor) {
      return update(aor, (cur) => ({ bindings: [], result: cur.length }), 'removed');
    },
    async listAors() {
      const members = await conn.call('list AORs', (c) => c.zrangebyscore(expKey, `(${clock.now()}`, '+inf'));
      const aors = new Set<string>();
      for (const m of members) {
        const nl = m.indexOf('\n');
        if (nl !== -1) aors.add(m.slice(0, nl));
      }
      return [...aors].sort();
    },
    async count() {
      return conn.call('count', (c) => c.zcount(expKey, `(${clock.now()}`, '+inf'));
    },
    sweep,
    onChange: changes.on,
    async close() {
      closed = true;
      if (sweepTimer !== undefined) clearTimeout(sweepTimer);
      changes.clear();
    },
  };
};
