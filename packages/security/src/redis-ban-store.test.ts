// The Redis ban store against a real Redis (SIPFRONT_TEST_REDIS_URL, else redis://127.0.0.1:6379):
// bans shared between instances, TTLs, restarts, an outage, and Redis not being there at all.
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Endpoint, SipMessage } from '@sipfront/core';
import { parseMessage } from '@sipfront/core';
import type { Ban, BanStore } from './ban.js';
import { createRedisBanStore } from './redis-ban-store.js';
import type { Security, SecurityDeps, SecurityOptions } from './security.js';
import { createSecurity } from './security.js';

const REDIS_URL = process.env['SIPFRONT_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const PREFIX = `sipfront-test:${randomUUID()}:`;

const OPTIONS: SecurityOptions = {
  trusted: ['10.0.0.0/24'],
  flood: { window: 1000, max: 5, ban: 60_000 },
  authFailures: { max: 3, window: 60_000, ban: 3_600_000 },
  blockUserAgents: ['friendly-scanner'],
  banReply: 'drop',
};

let admin: Redis;

beforeAll(async () => {
  admin = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  admin.on('error', () => {});
  try {
    await admin.connect();
    await admin.ping();
  } catch (err) {
    throw new Error(`Redis is needed at ${REDIS_URL} (set SIPFRONT_TEST_REDIS_URL or start redis-server): ${(err as Error).message}`);
  }
});

afterAll(async () => {
  if (admin?.status !== 'ready') return;
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `${PREFIX}*`, 'COUNT', 1000);
    if (keys.length > 0) await admin.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  await admin.quit();
});

// one prefix per test, so no test sees another's bans
let prefix = PREFIX;
let testNo = 0;
beforeEach(() => {
  prefix = `${PREFIX}${++testNo}:`;
});

const stores: BanStore[] = [];
const securities: Security[] = [];
const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const s of securities.splice(0)) s.close();
  await Promise.all(stores.splice(0).map((s) => s.close()));
  for (const c of cleanups.splice(0)) await c();
});

const instance = (deps: Partial<SecurityDeps> = {}, url = REDIS_URL, storeOptions: { connectTimeoutMs?: number; retryIntervalMs?: number } = {}): Security => {
  const store = createRedisBanStore(deps.log !== undefined ? { log: deps.log } : {}, { url, prefix, ...storeOptions });
  stores.push(store);
  const s = createSecurity({ bans: store, ...deps }, OPTIONS);
  securities.push(s);
  return s;
};

/** Resolves when `cond` holds; fails after `ms`. */
const eventually = async (cond: () => boolean, ms: number, what: string): Promise<number> => {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > ms) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return Date.now() - start;
};

/** A promise for the next call of a callback, bounded. */
const nextCall = <A extends unknown[]>(ms: number, what: string) => {
  let resolve!: (args: A) => void;
  const p = new Promise<A>((r) => (resolve = r));
  let timer: ReturnType<typeof setTimeout> | undefined;
  const bounded = Promise.race([
    p,
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms))),
  ]).finally(() => clearTimeout(timer));
  return { fn: (...args: A) => resolve(args), promise: bounded };
};

const udp = (address: string): Endpoint => ({ transport: 'udp', address, port: 5060 });
let n = 0;
const options = (): SipMessage =>
  parseMessage(
    Buffer.from(
      [
        'OPTIONS sip:100@example.com SIP/2.0',
        `Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-r${++n}`,
        'From: <sip:a@example.com>;tag=1',
        'To: <sip:100@example.com>',
        `Call-ID: r${n}`,
        'CSeq: 1 OPTIONS',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
    ),
  );

/** A TCP relay to Redis that the test can cut and restore, to simulate an outage. */
const relay = async (target: string) => {
  const u = new URL(target);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((inbound) => {
    const outbound = net.connect(Number(u.port || 6379), u.hostname);
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
    }
    inbound.pipe(outbound).pipe(inbound);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  let current = server;
  const url = `redis://127.0.0.1:${port}${u.pathname}`;
  return {
    url,
    down: async () => {
      await new Promise<void>((r) => {
        current.close(() => r());
        for (const s of sockets) s.destroy();
      });
    },
    up: async () => {
      current = net.createServer(server.listeners('connection')[0] as (s: net.Socket) => void);
      await new Promise<void>((r) => current.listen(port, '127.0.0.1', r));
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => (current.listening ? current.close(() => r()) : r()));
    },
  };
};

describe('Redis ban store', () => {
  it('a ban made by one instance holds on another within a second, and so does its lifting', async () => {
    const seenBan = nextCall<[Ban, 'local' | 'store']>(1000, 'ban on instance B');
    const seenUnban = nextCall<[Ban, 'lifted' | 'expired']>(1000, 'unban on instance B');
    const a = instance();
    const b = instance({ onBan: seenBan.fn, onUnban: seenUnban.fn });
    await Promise.all([a.ready, b.ready]);

    const ban = a.ban('192.0.2.10', 60);
    const [got, origin] = await seenBan.promise;
    expect(got).toEqual(ban);
    expect(origin).toBe('store');
    expect(b.check(options(), udp('192.0.2.10'))).toEqual({ action: 'drop', reason: 'banned' });

    a.unban('192.0.2.10');
    const [lifted, cause] = await seenUnban.promise;
    expect(lifted.ip).toBe('192.0.2.10');
    expect(cause).toBe('lifted');
    expect(b.check(options(), udp('192.0.2.10')).action).toBe('pass');
  });

  it('shares automatic bans, stores them with a TTL, and a new instance loads them', async () => {
    const a = instance();
    const b = instance();
    await Promise.all([a.ready, b.ready]);
    const src = udp('198.51.100.20');
    for (let i = 0; i < 5; i++) a.check(options(), src);
    expect(a.check(options(), src)).toEqual({ action: 'drop', reason: 'flood' });
    await eventually(() => b.isBanned('198.51.100.20'), 1000, 'flood ban on B');
    expect(b.getBan('198.51.100.20')).toEqual(a.getBan('198.51.100.20'));

    const pttl = await admin.pttl(`${prefix}ban:198.51.100.20`);
    expect(pttl).toBeGreaterThan(55_000);
    expect(pttl).toBeLessThanOrEqual(60_000);

    const c = instance();
    await c.ready;
    expect(c.isBanned('198.51.100.20')).toBe(true);
  });

  it('bans made while Redis is away are written, and reach the others, once it is back', async () => {
    const r = await relay(REDIS_URL);
    cleanups.push(() => r.close());
    const a = instance({}, r.url, { retryIntervalMs: 100 });
    const seen = nextCall<[Ban, 'local' | 'store']>(8000, 'ban on B after the outage');
    const b = instance({ onBan: seen.fn });
    await Promise.all([a.ready, b.ready]);

    await r.down();
    const ban = a.ban('203.0.113.30', 120, 'manual');
    expect(a.isBanned('203.0.113.30')).toBe(true);
    expect(await admin.exists(`${prefix}ban:203.0.113.30`)).toBe(0);
    await r.up();

    const [got] = await seen.promise;
    expect(got).toEqual(ban);
    expect(await admin.exists(`${prefix}ban:203.0.113.30`)).toBe(1);
  });

  it('Redis unreachable: bans hold locally, nothing crashes, nothing is left unhandled', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    cleanups.push(() => void process.off('unhandledRejection', onUnhandled));

    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));

    const errors: string[] = [];
    const log = { debug: () => {}, info: () => {}, warn: (_: object, m: string) => void errors.push(m), error: (_: object, m: string) => void errors.push(m) };
    const s = instance({ log }, `redis://127.0.0.1:${port}`, { connectTimeoutMs: 300, retryIntervalMs: 50 });
    await s.ready;
    expect(errors).toContain('could not load bans from the store; bans made now hold locally');

    s.ban('192.0.2.40', 60);
    const src = udp('192.0.2.41');
    for (let i = 0; i < 5; i++) s.check(options(), src);
    expect(s.check(options(), src).action).toBe('drop');
    expect(s.isBanned('192.0.2.40')).toBe(true);
    expect(s.check(options(), udp('192.0.2.40'))).toEqual({ action: 'drop', reason: 'banned' });
    expect(s.unban('192.0.2.40')).toBe(true);
    await eventually(() => errors.some((m) => m.startsWith('redis ban store unreachable')), 2000, 'the store reports the outage');
    expect(unhandled).toEqual([]);
  });
});
