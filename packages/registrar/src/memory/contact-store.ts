// The location service in process memory, persisted to `<path>/contacts.json` (the embedded
// default). Updates are atomic because nothing awaits between reading and writing an AOR.
import { join } from 'node:path';
import { RegistrarError } from '../errors.js';
import { bindingFromJson, checkBinding, compareBindings, contactKey, normalizeAor } from '../bindings.js';
import { createEmitter, silentLog, systemClock } from '../emitter.js';
import { createJsonFile } from './json-file.js';
import type { JsonFile } from './json-file.js';
import type { Binding, ContactChange, ContactChangeReason, ContactStore, RegistrarClock, RegistrarLogger, UpdateOutcome } from '../types.js';

export interface MemoryContactStoreOptions {
  /** folder for contacts.json; absent = not persisted */
  path?: string | undefined;
  /** debounce of writes; default 500 ms */
  flushDelayMs?: number;
  /** expiry sweep period; default 1000 ms */
  sweepIntervalMs?: number;
}

export interface MemoryStoreDeps {
  clock?: RegistrarClock;
  log?: RegistrarLogger;
  /** written into change events */
  instanceId?: string;
}

interface Snapshot {
  version: 1;
  bindings: Binding[];
}

export const openMemoryContactStore = async (deps: MemoryStoreDeps, options: MemoryContactStoreOptions = {}): Promise<ContactStore> => {
  const clock = deps.clock ?? systemClock;
  const log = deps.log ?? silentLog;
  const instanceId = deps.instanceId ?? '';
  const aors = new Map<string, Map<string, Binding>>();
  const changes = createEmitter<ContactChange>(log, 'contact change');
  let closed = false;

  const snapshot = (): Snapshot => {
    const bindings: Binding[] = [];
    for (const m of aors.values()) for (const b of m.values()) bindings.push(b);
    return { version: 1, bindings };
  };
  const file: JsonFile | undefined = options.path === undefined
    ? undefined
    : createJsonFile(join(options.path, 'contacts.json'), snapshot, { delayMs: options.flushDelayMs ?? 500, log });

  if (file !== undefined) {
    const data = (await file.load()) as Partial<Snapshot> | undefined;
    const now = clock.now();
    let dropped = 0;
    for (const raw of Array.isArray(data?.bindings) ? data.bindings : []) {
      const b = bindingFromJson(raw);
      if (b === undefined || b.expiresAt <= now) {
        dropped++;
        continue;
      }
      let m = aors.get(b.aor);
      if (m === undefined) aors.set(b.aor, (m = new Map()));
      m.set(b.key, b);
    }
    if (dropped > 0) file.changed();
  }

  const live = (aor: string, now: number): Binding[] => {
    const m = aors.get(aor);
    if (m === undefined) return [];
    const out: Binding[] = [];
    for (const b of m.values()) if (b.expiresAt > now) out.push(b);
    return out;
  };

  const notify = (aor: string, reason: ContactChangeReason): void => {
    // after the caller's await resumes, never inside the update
    queueMicrotask(() => changes.emit({ aor, reason, instanceId }));
  };

  const assertOpen = (): void => {
    if (closed) throw new RegistrarError('closed', 'contact store closed');
  };

  const update = async <T>(aorIn: string, fn: (current: readonly Binding[]) => UpdateOutcome<T>, reason: ContactChangeReason = 'register'): Promise<T> => {
    assertOpen();
    const aor = normalizeAor(aorIn);
    const out = fn(live(aor, clock.now()));
    if (out.bindings === undefined) return out.result;
    for (const b of out.bindings) checkBinding(b);
    if (out.bindings.length === 0) aors.delete(aor);
    else aors.set(aor, new Map(out.bindings.map((b) => [b.key, { ...b, aor }])));
    file?.changed();
    notify(aor, reason);
    return out.result;
  };

  const sweep = async (): Promise<number> => {
    const now = clock.now();
    let removed = 0;
    for (const [aor, m] of aors) {
      let n = 0;
      for (const [k, b] of m) if (b.expiresAt <= now) { m.delete(k); n++; }
      if (m.size === 0) aors.delete(aor);
      if (n > 0) {
        removed += n;
        notify(aor, 'expired');
      }
    }
    if (removed > 0) file?.changed();
    return removed;
  };

  let sweepTimer: NodeJS.Timeout | undefined;
  const armSweep = (): void => {
    if (closed) return;
    sweepTimer = setTimeout(() => {
      sweep().catch((err: unknown) => log.error({ err }, 'registrar: expiry sweep failed')).finally(armSweep);
    }, options.sweepIntervalMs ?? 1000);
    sweepTimer.unref();
  };
  armSweep();

  return {
    async lookup(aor) {
      assertOpen();
      return live(normalizeAor(aor), clock.now()).sort(compareBindings);
    },
    update,
    async add(binding) {
      await update(binding.aor, (cur) => ({
        bindings: [...cur.filter((b) => b.key !== binding.key), binding],
        result: undefined,
      }));
    },
    async remove(aor, uri) {
      const key = contactKey(uri);
      return update(aor, (cur) => {
        const rest = cur.filter((b) => b.key !== key);
        return rest.length === cur.length ? { bindings: undefined, result: false } : { bindings: rest, result: true };
      }, 'removed');
    },
    async removeAll(aor) {
      return update(aor, (cur) => ({ bindings: cur.length === 0 ? undefined : [], result: cur.length }), 'removed');
    },
    async listAors() {
      assertOpen();
      const now = clock.now();
      return [...aors.keys()].filter((a) => live(a, now).length > 0).sort();
    },
    async count() {
      assertOpen();
      const now = clock.now();
      let n = 0;
      for (const m of aors.values()) for (const b of m.values()) if (b.expiresAt > now) n++;
      return n;
    },
    sweep,
    onChange: changes.on,
    async close() {
      if (closed) return;
      closed = true;
      if (sweepTimer !== undefined) clearTimeout(sweepTimer);
      changes.clear();
      await file?.close();
    },
  };
};
