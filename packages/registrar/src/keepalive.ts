// NAT keep-alive (RFC 5626 spirit): bindings this instance holds whose Contact is not where the
// REGISTER came from are pinged every `interval`; one that misses `maxFailures` pings in a row is
// removed. Which bindings to ping follows the store's change events; how to ping is injected.
import { isSipUri, parseUri } from '@sipfront/core';
import { normalizeAor } from './bindings.js';
import { silentLog, systemClock } from './emitter.js';
import type { Binding, ContactStore, RegistrarClock, RegistrarLogger } from './types.js';

/** What a ping got: a final status (any counts as alive) or `null` (no answer, transport error). */
export interface KeepaliveAnswer {
  code: number | null;
  error?: string | undefined;
}

/** Sends one ping to the binding's flow; resolves when it is answered or given up. */
export type KeepalivePing = (binding: Binding, timeoutMs: number) => Promise<KeepaliveAnswer>;

export interface KeepaliveDeps {
  contacts: ContactStore;
  /** only bindings held by this instance are pinged */
  instanceId: string;
  ping: KeepalivePing;
  clock?: RegistrarClock;
  log?: RegistrarLogger;
}

export interface KeepaliveOptions {
  /** ms between the starts of two pings of one binding; > 0 */
  interval: number;
  /** ms a ping may take; default min(interval, 5000) */
  timeout?: number;
  /** pings missed in a row before the binding is removed; default 2 */
  maxFailures?: number;
  /** pings in flight at once, over all bindings; default 64 */
  concurrency?: number;
}

export interface Keepalive {
  /** Watches the store and loads the bindings it holds now; resolves once they are loaded (never rejects). */
  start(): Promise<void>;
  /** Bindings being pinged now. */
  watched(): number;
  /** Stops every timer; answers still in flight are dropped. */
  close(): void;
}

const stripBrackets = (h: string): string => (h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h).toLowerCase();

/**
 * True when the Contact's host or port is not the address the REGISTER came from (the phone sits
 * behind a NAT, or on a stream its ephemeral port): its flow needs keeping open.
 */
export const cameFromBehindNat = (b: Binding): boolean => {
  const u = parseUri(b.uri);
  if (!isSipUri(u)) return false;
  const tls = u.scheme === 'sips' || u.params.some(([n, v]) => n === 'transport' && v?.toLowerCase() === 'tls');
  const port = u.port ?? (tls ? 5061 : 5060);
  return stripBrackets(u.host) !== stripBrackets(b.source.address) || port !== b.source.port;
};

interface Entry {
  readonly aor: string;
  readonly key: string;
  binding: Binding;
  failures: number;
  timer: NodeJS.Timeout | undefined;
  inFlight: boolean;
  queued: boolean;
  stopped: boolean;
  /** when the last ping started: the next starts `interval` later (start to start) */
  lastStart: number;
}

export const createKeepalive = (deps: KeepaliveDeps, options: KeepaliveOptions): Keepalive => {
  const { contacts, instanceId, ping } = deps;
  const clock = deps.clock ?? systemClock;
  const log = deps.log ?? silentLog;
  const interval = options.interval;
  if (!(interval > 0)) throw new RangeError('keepalive interval must be > 0');
  const timeout = options.timeout ?? Math.min(interval, 5_000);
  const maxFailures = options.maxFailures ?? 2;
  const concurrency = options.concurrency ?? 64;

  const byAor = new Map<string, Map<string, Entry>>();
  const queue: Entry[] = [];
  const syncing = new Map<string, { again: boolean }>();
  /** the timeouts of pings in flight (close() ends them) */
  const giveUps = new Set<() => void>();
  let active = 0;
  let closed = false;
  let unwatch: (() => void) | undefined;
  let rescan: NodeJS.Timeout | undefined;

  const wanted = (b: Binding, now: number): boolean =>
    // with Path the edge proxy in front owns the flow (RFC 5626 §5)
    b.instanceId === instanceId && b.expiresAt > now && b.path.length === 0 && cameFromBehindNat(b);

  const later = (fn: () => void, ms: number): NodeJS.Timeout => {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref();
    return t;
  };

  const stop = (e: Entry): void => {
    e.stopped = true;
    if (e.timer !== undefined) clearTimeout(e.timer);
    e.timer = undefined;
    const m = byAor.get(e.aor);
    if (m?.get(e.key) === e) {
      m.delete(e.key);
      if (m.size === 0) byAor.delete(e.aor);
    }
  };

  const arm = (e: Entry, delayMs: number): void => {
    if (closed || e.stopped || e.timer !== undefined || e.inFlight || e.queued) return;
    e.timer = later(() => {
      e.timer = undefined;
      void run(e);
    }, delayMs);
  };

  const pump = (): void => {
    while (active < concurrency && queue.length > 0) {
      const e = queue.shift()!;
      e.queued = false;
      if (!e.stopped) void run(e);
    }
  };

  /** One ping, never longer than `timeout`; a ping that throws counts as unanswered. */
  const pingOnce = (b: Binding): Promise<KeepaliveAnswer> =>
    new Promise<KeepaliveAnswer>((resolve) => {
      const finish = (a: KeepaliveAnswer): void => {
        if (!giveUps.delete(giveUp)) return;
        clearTimeout(t);
        resolve(a);
      };
      const giveUp = (): void => finish({ code: null, error: 'timeout' });
      giveUps.add(giveUp);
      const t = later(giveUp, timeout);
      let p: Promise<KeepaliveAnswer>;
      try {
        p = ping(b, timeout);
      } catch (err) {
        p = Promise.reject(err);
      }
      p.then(finish, (err: unknown) => finish({ code: null, error: err instanceof Error ? err.message : String(err) }));
    });

  /** Removes the binding unless a REGISTER refreshed it since `pinged` (that proves it alive). */
  const removeDead = async (e: Entry, pinged: Binding): Promise<void> => {
    const removed = await contacts.update(e.aor, (cur) => {
      const b = cur.find((x) => x.key === e.key);
      if (b === undefined || b.receivedAt !== pinged.receivedAt) return { bindings: undefined, result: false };
      return { bindings: cur.filter((x) => x !== b), result: true };
    }, 'removed');
    if (removed) {
      log.info({ aor: e.aor, contact: pinged.uri, source: pinged.source, failures: e.failures }, 'registrar: keep-alive unanswered, binding removed');
      stop(e);
    } else e.failures = 0;
  };

  const run = async (e: Entry): Promise<void> => {
    if (closed || e.stopped || e.inFlight) return;
    if (e.binding.expiresAt <= clock.now()) {
      stop(e); // expired before the store's sweep noticed
      return;
    }
    if (active >= concurrency) {
      if (!e.queued) {
        e.queued = true;
        queue.push(e);
      }
      return;
    }
    active++;
    e.inFlight = true;
    e.lastStart = clock.now();
    const pinged = e.binding;
    let answer: KeepaliveAnswer;
    try {
      answer = await pingOnce(pinged);
    } finally {
      active--;
      e.inFlight = false;
      pump();
    }
    if (closed || e.stopped) return;
    if (e.binding.receivedAt !== pinged.receivedAt) {
      e.failures = 0; // re-registered while the ping was out: alive, and maybe elsewhere now
    } else if (answer.code !== null) {
      e.failures = 0;
    } else {
      e.failures++;
      log.debug({ aor: e.aor, contact: pinged.uri, failures: e.failures, err: answer.error }, 'registrar: keep-alive unanswered');
      if (e.failures >= maxFailures) {
        try {
          await removeDead(e, pinged);
        } catch (err) {
          // store trouble: keep pinging, the next miss tries again
          log.warn({ aor: e.aor, contact: pinged.uri, err: err instanceof Error ? err.message : String(err) }, 'registrar: keep-alive removal failed');
        }
        if (closed || e.stopped) return;
      }
    }
    arm(e, e.lastStart + interval - clock.now());
  };

  /** Brings the entries of one AOR in line with its live bindings. */
  const reconcile = (aor: string, bindings: readonly Binding[]): void => {
    const now = clock.now();
    let m = byAor.get(aor);
    const seen = new Set<string>();
    for (const b of bindings) {
      if (!wanted(b, now)) continue;
      seen.add(b.key);
      const e = m?.get(b.key);
      if (e !== undefined) {
        if (e.binding.receivedAt !== b.receivedAt) e.failures = 0; // a refresh proves it alive
        e.binding = b;
        continue;
      }
      if (m === undefined) byAor.set(aor, (m = new Map()));
      const fresh: Entry = { aor, key: b.key, binding: b, failures: 0, timer: undefined, inFlight: false, queued: false, stopped: false, lastStart: now };
      m.set(b.key, fresh);
      // the REGISTER just proved the flow: the first ping is due one interval on
      arm(fresh, interval);
    }
    if (m !== undefined) for (const e of [...m.values()]) if (!seen.has(e.key)) stop(e);
  };

  /** Looks the AOR up again; changes arriving meanwhile cause one more look-up, never a parallel one. */
  const sync = (aorIn: string): Promise<void> => {
    const aor = normalizeAor(aorIn);
    const s = syncing.get(aor);
    if (s !== undefined) {
      s.again = true;
      return Promise.resolve();
    }
    const state = { again: true };
    syncing.set(aor, state);
    return (async () => {
      while (state.again && !closed) {
        state.again = false;
        try {
          const bindings = await contacts.lookup(aor);
          if (!closed) reconcile(aor, bindings);
        } catch (err) {
          log.warn({ aor, err: err instanceof Error ? err.message : String(err) }, 'registrar: keep-alive look-up failed');
        }
      }
      syncing.delete(aor);
    })();
  };

  const scan = async (): Promise<void> => {
    rescan = undefined;
    if (closed) return;
    try {
      const aors = await contacts.listAors();
      for (const aor of aors) {
        if (closed) return;
        await sync(aor);
      }
    } catch (err) {
      // the store is down at start (Redis): bindings registered before are picked up later
      log.warn({ err: err instanceof Error ? err.message : String(err) }, 'registrar: keep-alive scan failed, retrying');
      if (!closed) rescan = later(() => void scan(), interval);
    }
  };

  return {
    async start() {
      if (closed || unwatch !== undefined) return;
      unwatch = contacts.onChange((c) => void sync(c.aor));
      await scan();
    },
    watched() {
      let n = 0;
      for (const m of byAor.values()) n += m.size;
      return n;
    },
    close() {
      if (closed) return;
      closed = true;
      unwatch?.();
      if (rescan !== undefined) clearTimeout(rescan);
      for (const m of [...byAor.values()]) for (const e of [...m.values()]) stop(e);
      queue.length = 0;
      for (const giveUp of [...giveUps]) giveUp();
    },
  };
};
