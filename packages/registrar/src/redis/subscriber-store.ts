// Subscribers and served domains in Redis. Subscribers: one hash per domain
// (`<prefix>{sub}:d:<domain>`: user → JSON with HA1s) plus the set of domains that have any
// (`<prefix>{sub}:domains`). Served domains: one set (`<prefix>domains`), mirrored in memory
// and refreshed on every change event, so `has()` costs no round trip while pub/sub is up.
import { normalizeDomain } from '../bindings.js';
import { buildSubscriber, subscriberFromJson } from '../subscriber.js';
import { checkDomain } from '../memory/subscriber-store.js';
import type { DomainStore, RegistrarLogger, Subscriber, SubscriberStore } from '../types.js';
import type { RedisConnection } from './connection.js';
import { silentLog } from '../emitter.js';

export const createRedisSubscriberStore = (conn: RedisConnection, deps: { realm?: string | undefined }): SubscriberStore => {
  const domainKey = (d: string): string => `${conn.prefix}{sub}:d:${d}`;
  const indexKey = `${conn.prefix}{sub}:domains`;
  const event = (user: string, domain: string): string => JSON.stringify({ type: 'subscribers', user, domain });
  const parseAll = (raw: Record<string, string>): Subscriber[] => {
    const out: Subscriber[] = [];
    for (const v of Object.values(raw)) {
      const s = subscriberFromJson(v);
      if (s !== undefined) out.push(s);
    }
    return out;
  };
  return {
    async get(user, domain) {
      const v = await conn.call('get subscriber', (c) => c.hget(domainKey(normalizeDomain(domain)), user));
      return v === null ? undefined : subscriberFromJson(v);
    },
    async list(domain) {
      if (domain !== undefined) return parseAll(await conn.call('list subscribers', (c) => c.hgetall(domainKey(normalizeDomain(domain)))));
      const domains = await conn.call('list subscriber domains', (c) => c.smembers(indexKey));
      if (domains.length === 0) return [];
      const replies = await conn.call('list subscribers', async (c) => {
        const p = c.pipeline();
        for (const d of domains.sort()) p.hgetall(domainKey(d));
        return (await p.exec()) ?? [];
      });
      const out: Subscriber[] = [];
      for (const [err, raw] of replies) {
        if (err !== null) throw err;
        out.push(...parseAll(raw as Record<string, string>));
      }
      return out;
    },
    async put(input) {
      const s = buildSubscriber(input, deps.realm);
      await conn.call('put subscriber', (c) =>
        c.multi().hset(domainKey(s.domain), s.user, JSON.stringify(s)).sadd(indexKey, s.domain).publish(conn.channel, event(s.user, s.domain)).exec());
      return s;
    },
    async delete(user, domain) {
      const d = normalizeDomain(domain);
      const n = await conn.call('delete subscriber', (c) => c.sfSubDel(domainKey(d), indexKey, user, d, conn.channel, event(user, d)));
      return n > 0;
    },
    async hasDomain(domain) {
      return (await conn.call('subscriber domain', (c) => c.exists(domainKey(normalizeDomain(domain))))) > 0;
    },
    async close() {
      /* the connection belongs to the bundle */
    },
  };
};

export const createRedisDomainStore = (conn: RedisConnection, deps: { log?: RegistrarLogger }): DomainStore => {
  const log = deps.log ?? silentLog;
  const key = `${conn.prefix}domains`;
  const event = JSON.stringify({ type: 'domains' });
  // the mirror is trusted only while the subscription that keeps it fresh is up
  let mirror: Set<string> | undefined;
  let loading = 0;
  const reload = (): void => {
    const seq = ++loading;
    conn.call('load domains', (c) => c.smembers(key)).then(
      (list) => {
        if (seq === loading && conn.isSubscribed()) mirror = new Set(list);
      },
      (err: unknown) => {
        mirror = undefined;
        log.debug({ err }, 'registrar: cannot load domains from redis');
      },
    );
  };
  conn.onResubscribed(reload);
  conn.client.on('ready', reload);
  conn.subscriber.on('close', () => {
    mirror = undefined;
  });
  conn.onMessage((m) => {
    if (m.includes('"type":"domains"')) reload();
  });
  return {
    async list() {
      return (await conn.call('list domains', (c) => c.smembers(key))).sort();
    },
    async has(domain) {
      const d = normalizeDomain(domain);
      if (mirror !== undefined && conn.isSubscribed()) return mirror.has(d);
      return (await conn.call('domain', (c) => c.sismember(key, d))) === 1;
    },
    async add(domain) {
      const d = checkDomain(domain);
      const r = await conn.call('add domain', (c) => c.multi().sadd(key, d).publish(conn.channel, event).exec());
      mirror?.add(d);
      return r?.[0]?.[1] === 1;
    },
    async delete(domain) {
      const d = normalizeDomain(domain);
      const r = await conn.call('delete domain', (c) => c.multi().srem(key, d).publish(conn.channel, event).exec());
      mirror?.delete(d);
      return r?.[0]?.[1] === 1;
    },
    async close() {
      mirror = undefined;
    },
  };
};
