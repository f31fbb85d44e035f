// The ban store shared by several sipfront instances (`store.kind: redis`). Each ban is a key
// `<prefix>ban:<ip>` holding its JSON with a TTL (PX) to its expiry, listed in the sorted set
// `<prefix>bans` (score = expiry) so start-up reads them without a SCAN; every change is
// published on `<prefix>bans:events`, so a ban made by one instance holds on all at once.
// Redis being down never fails a caller: writes wait in a pending map (the latest per address),
// retried on reconnect and on a timer; after an outage the store re-reads everything and hands
// it up as a `sync` event, because messages published meanwhile were lost.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import type { Ban, BanStore, BanStoreEvent } from './ban.js';
import { parseBan } from './ban.js';
import { SecurityError } from './errors.js';
import type { Clock, SecurityLogger } from './types.js';
import { errorText, silentLogger, systemClock, unrefTimer } from './types.js';

export interface RedisBanStoreOptions {
  /** `redis://[:password@]host:port/db` or `rediss://…` */
  url: string;
  /** Key prefix, shared by the instances that share bans. Default `sipfront:`. */
  prefix?: string;
  /** How long load() waits for a first connection before giving up (bans then hold locally), ms. Default 2000. */
  connectTimeoutMs?: number;
  /** Pending writes (and a missed re-read) are retried this often while Redis is away, ms. Default 2000. */
  retryIntervalMs?: number;
  /** Passed to ioredis (TLS, Sentinel, …); the store sets its own offline-queue and retry behaviour. */
  redisOptions?: RedisOptions;
}

type Op = { readonly kind: 'put'; readonly ban: Ban } | { readonly kind: 'remove'; readonly ip: string };

interface Message {
  o: string;
  t: 'ban' | 'unban';
  ban?: unknown;
  ip?: unknown;
}

const MGET_CHUNK = 500;
const CLOSE_FLUSH_MS = 1000;

export const createRedisBanStore = (deps: { clock?: Clock; log?: SecurityLogger }, options: RedisBanStoreOptions): BanStore => {
  const clock = deps.clock ?? systemClock;
  const log = deps.log ?? silentLogger;
  if (typeof options.url !== 'string' || !/^rediss?:\/\//.test(options.url)) {
    throw new SecurityError('INVALID_OPTIONS', 'store.url: not a Redis URL (redis://host:port/db or rediss://…)', { field: 'store.url' });
  }
  const prefix = options.prefix ?? 'sipfront:';
  const keyOf = (ip: string): string => `${prefix}ban:${ip}`;
  const indexKey = `${prefix}bans`;
  const channel = `${prefix}bans:events`;
  const origin = randomUUID();
  const connectTimeout = options.connectTimeoutMs ?? 2000;
  const retryInterval = options.retryIntervalMs ?? 2000;

  const base: RedisOptions = {
    connectTimeout,
    retryStrategy: (times: number) => Math.min(times * 200, 2000),
    ...options.redisOptions,
  };
  // Commands fail at once while disconnected (no offline queue): the pending map is the queue.
  const client = new Redis(options.url, { ...base, enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  // The subscription waits for a connection however long it takes; ioredis re-subscribes after reconnects.
  const sub = new Redis(options.url, { ...base, enableOfflineQueue: true, maxRetriesPerRequest: null });

  const listeners = new Set<(event: BanStoreEvent) => void>();
  const pending = new Map<string, Op>();
  let closed = false;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let needsResync = false;
  let resyncing = false;
  let resyncAgain = false;
  let clientReadyCount = 0;
  let subReadyCount = 0;

  const emit = (event: BanStoreEvent): void => {
    for (const l of listeners) {
      try {
        l(event);
      } catch (err) {
        log.error({ err: errorText(err) }, 'ban store listener threw');
      }
    }
  };

  // ---- connection state and its log lines (one per outage, not one per reconnect attempt) ----

  const watch = (conn: Redis, name: string, onReady: () => void): void => {
    let down = false;
    conn.on('error', (err: Error) => {
      if (closed) return;
      if (!down) {
        down = true;
        log.warn({ err: err.message, prefix, connection: name }, 'redis ban store unreachable; bans hold locally and are written when it is back');
      } else log.debug({ err: err.message, connection: name }, 'redis ban store still unreachable');
    });
    conn.on('ready', () => {
      if (closed) return;
      if (down) log.info({ prefix, connection: name }, 'redis ban store reachable again');
      down = false;
      onReady();
    });
  };

  // ---- writes ----------------------------------------------------------------------------

  const checkExec = (res: Array<[Error | null, unknown]> | null): void => {
    if (res === null) throw new Error('redis transaction aborted');
    for (const [err] of res) if (err !== null) throw err;
  };

  const run = async (op: Op): Promise<void> => {
    const now = clock.now();
    if (op.kind === 'put') {
      const ttl = Math.ceil(op.ban.expiresAt - now);
      if (ttl <= 0) return;
      const msg: Message = { o: origin, t: 'ban', ban: op.ban };
      checkExec(
        await client
          .multi()
          .set(keyOf(op.ban.ip), JSON.stringify(op.ban), 'PX', ttl)
          .zadd(indexKey, op.ban.expiresAt, op.ban.ip)
          .zremrangebyscore(indexKey, '-inf', now)
          .publish(channel, JSON.stringify(msg))
          .exec(),
      );
    } else {
      const msg: Message = { o: origin, t: 'unban', ip: op.ip };
      checkExec(await client.multi().del(keyOf(op.ip)).zrem(indexKey, op.ip).publish(channel, JSON.stringify(msg)).exec());
    }
  };

  const armRetry = (): void => {
    if (closed || retryTimer !== undefined) return;
    retryTimer = unrefTimer(
      setTimeout(() => {
        retryTimer = undefined;
        void retry();
      }, retryInterval),
    );
  };

  /** Writes every pending op; false when one failed (the rest wait for the next attempt). */
  const flushPending = async (): Promise<boolean> => {
    for (const [ip, op] of [...pending]) {
      if (client.status !== 'ready') return false;
      try {
        await run(op);
        if (pending.get(ip) === op) pending.delete(ip);
      } catch (err) {
        log.debug({ err: errorText(err), ip }, 'pending ban write failed');
        return false;
      }
    }
    return true;
  };

  const submit = async (ip: string, op: Op): Promise<void> => {
    pending.set(ip, op);
    if (closed || client.status !== 'ready') {
      armRetry();
      return;
    }
    try {
      await run(op);
      if (pending.get(ip) === op) pending.delete(ip);
    } catch (err) {
      log.warn({ err: errorText(err), ip, op: op.kind }, 'ban store write failed; retrying later');
      armRetry();
    }
  };

  // ---- reads -----------------------------------------------------------------------------

  const snapshot = async (): Promise<Ban[]> => {
    const now = clock.now();
    await client.zremrangebyscore(indexKey, '-inf', now);
    const ips = await client.zrange(indexKey, '0', '-1');
    const out = new Map<string, Ban>();
    for (let i = 0; i < ips.length; i += MGET_CHUNK) {
      const chunk = ips.slice(i, i + MGET_CHUNK);
      const values = await client.mget(...chunk.map(keyOf));
      for (const v of values) {
        if (v === null) continue; // expired between the two reads
        let ban: Ban | undefined;
        try {
          ban = parseBan(JSON.parse(v));
        } catch {
          ban = undefined;
        }
        if (ban === undefined) log.warn({ value: v.slice(0, 200) }, 'ignoring a malformed ban in redis');
        else if (ban.expiresAt > now) out.set(ban.ip, ban);
      }
    }
    // writes not yet in Redis are part of what this instance holds
    for (const [ip, op] of pending) {
      if (op.kind === 'put') out.set(ip, op.ban);
      else out.delete(ip);
    }
    return [...out.values()];
  };

  const resync = async (): Promise<void> => {
    if (closed) return;
    if (resyncing) {
      resyncAgain = true;
      return;
    }
    resyncing = true;
    try {
      do {
        resyncAgain = false;
        const since = clock.now();
        if (!(await flushPending())) {
          armRetry();
          return;
        }
        const bans = await snapshot();
        needsResync = false;
        if (!closed) emit({ type: 'sync', bans, since });
      } while (resyncAgain && !closed);
    } catch (err) {
      log.warn({ err: errorText(err) }, 'could not re-read bans from redis; retrying later');
      armRetry();
    } finally {
      resyncing = false;
    }
  };

  const retry = async (): Promise<void> => {
    if (closed) return;
    if (client.status === 'ready') {
      if (needsResync) await resync();
      else if (!(await flushPending())) armRetry();
    }
    if (pending.size > 0 || needsResync) armRetry();
  };

  watch(client, 'commands', () => {
    clientReadyCount++;
    if (clientReadyCount === 1 && !needsResync) {
      // the first connection: load() reads the bans; only writes made before it are due
      void flushPending().then((ok) => {
        if (!ok) armRetry();
      });
      return;
    }
    needsResync = true;
    void resync();
  });

  watch(sub, 'subscriber', () => {
    subReadyCount++;
    if (subReadyCount === 1) return;
    // messages published while the subscription was down are lost: re-read the lot
    needsResync = true;
    void resync();
  });

  sub.on('message', (ch: string, text: string) => {
    if (ch !== channel || closed) return;
    let msg: Message;
    try {
      msg = JSON.parse(text) as Message;
    } catch {
      return;
    }
    if (typeof msg !== 'object' || msg === null || msg.o === origin) return;
    if (msg.t === 'ban') {
      const ban = parseBan(msg.ban);
      if (ban !== undefined) emit({ type: 'ban', ban });
    } else if (msg.t === 'unban' && typeof msg.ip === 'string') {
      emit({ type: 'unban', ip: msg.ip });
    }
  });
  // load() reads only once the subscription is active, so no ban falls between the two
  const subscribed = sub.subscribe(channel).then(
    () => true,
    (err: unknown) => {
      if (!closed) log.error({ err: errorText(err), channel }, 'could not subscribe to ban events');
      return false;
    },
  );
  void subscribed.then((ok) => {
    if (ok && needsResync && client.status === 'ready') void resync();
  });

  const clientReady = (): Promise<boolean> =>
    new Promise((resolve) => {
      if (client.status === 'ready') return resolve(true);
      const onReady = (): void => {
        client.off('ready', onReady);
        resolve(true);
      };
      client.on('ready', onReady);
      readyWaiters.push(() => {
        client.off('ready', onReady);
        resolve(false);
      });
    });
  const readyWaiters: Array<() => void> = [];

  const waitReady = async (ms: number): Promise<boolean> => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<boolean>((resolve) => (timer = unrefTimer(setTimeout(() => resolve(false), ms))));
    try {
      const both = Promise.all([clientReady(), subscribed]).then(([a, b]) => a && b);
      return await Promise.race([both, timeout]);
    } finally {
      clearTimeout(timer);
      for (const cancel of readyWaiters.splice(0)) cancel();
    }
  };

  const disconnect = async (conn: Redis): Promise<void> => {
    if (conn.status === 'ready') {
      try {
        await conn.quit();
        return;
      } catch {
        // fall through to a hard disconnect
      }
    }
    conn.disconnect();
  };

  return {
    async load() {
      if (!(await waitReady(connectTimeout))) {
        needsResync = true;
        armRetry();
        throw new SecurityError('STORE_UNAVAILABLE', `redis not reachable within ${connectTimeout} ms`);
      }
      try {
        return await snapshot();
      } catch (err) {
        needsResync = true;
        armRetry();
        throw new SecurityError('STORE_UNAVAILABLE', `could not read bans from redis: ${errorText(err)}`, { cause: err });
      }
    },
    put: (ban) => submit(ban.ip, { kind: 'put', ban }),
    remove: (ip) => submit(ip, { kind: 'remove', ip }),
    subscribe(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    async close() {
      if (closed) return;
      if (pending.size > 0 && client.status === 'ready') {
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([flushPending(), new Promise<void>((r) => (timer = setTimeout(r, CLOSE_FLUSH_MS)))]);
        clearTimeout(timer);
      }
      closed = true;
      if (retryTimer !== undefined) clearTimeout(retryTimer);
      retryTimer = undefined;
      listeners.clear();
      if (pending.size > 0) log.warn({ pending: pending.size }, 'closing the redis ban store with unwritten bans');
      await Promise.all([disconnect(client), disconnect(sub)]);
    },
  };
};
