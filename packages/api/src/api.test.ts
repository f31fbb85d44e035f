// The API over fake services: auth, the error shape (field names from schema errors), 404/409/
// 501/503, the OpenAPI document, /metrics restriction and the SSE stream. The real services are
// exercised over HTTP in test/api.test.ts.
import { afterEach, describe, expect, it } from 'vitest';
import { DispatcherError } from '@sipfront/dispatcher';
import type { SetView } from '@sipfront/dispatcher';
import { createApi, type Api } from './api.js';
import { ApiError, fieldOfPath } from './errors.js';
import { createEventHub } from './events.js';
import { createMetrics, METRIC_NAMES } from './metrics.js';
import type { ApiServices, BanRecord, Readiness } from './services.js';

const storeDown = Object.assign(new Error('redis: list domains failed'), { code: 'store-unavailable', httpStatus: 503 });

const fakeServices = (over: Partial<ApiServices> = {}) => {
  const sets = new Map<number, SetView>();
  const domains = new Set(['example.com']);
  const bans = new Map<string, BanRecord>();
  let draining = false;
  let readiness: Readiness = { ready: true };
  const events = createEventHub();
  const metrics = createMetrics({ activeTransactions: () => 3, contacts: async () => 2, activeBans: () => bans.size, destinations: () => [] }, { defaultMetrics: false });
  const services: ApiServices = {
    domains: {
      list: async () => [...domains],
      add: async (d) => (domains.has(d) ? false : (domains.add(d), true)),
      remove: async (d) => domains.delete(d),
    },
    dispatcher: {
      getSets: () => [...sets.values()],
      getSet: (id) => sets.get(id),
      getDestination: () => undefined,
      createSet: async (s) => {
        if (sets.has(s.id)) throw new DispatcherError('DUPLICATE_SET', `id: set ${s.id} exists already`, { field: 'id' });
        const v: SetView = { id: s.id, name: s.name, algorithm: s.algorithm, destinations: [] };
        sets.set(s.id, v);
        return v;
      },
      putSet: async (s) => {
        const v: SetView = { id: s.id, name: s.name, algorithm: s.algorithm, destinations: [] };
        sets.set(s.id, v);
        return v;
      },
      removeSet: async (id) => {
        if (!sets.delete(id)) throw new DispatcherError('UNKNOWN_SET', `no dispatcher set ${id}`);
      },
      addDestination: async (id) => {
        throw new DispatcherError('UNKNOWN_SET', `no dispatcher set ${id}`);
      },
      removeDestination: async () => undefined,
      setState: async (id) => {
        throw new DispatcherError('UNKNOWN_SET', `no dispatcher set ${id}`);
      },
    },
    subscribers: { list: async () => [], get: async () => undefined, put: async (user, domain) => ({ user, domain, realms: [domain], algorithms: ['MD5'] }), remove: async () => false },
    registrations: { list: async () => [], get: async () => undefined, remove: async () => 0 },
    bans: {
      list: () => [...bans.values()],
      get: (ip) => bans.get(ip),
      ban: (ip, seconds, reason = 'manual') => {
        const b = { ip, reason, createdAt: Date.now(), expiresAt: Date.now() + seconds * 1000 };
        bans.set(ip, b);
        return b;
      },
      unban: (ip) => bans.delete(ip),
    },
    instance: {
      drain: (on) => {
        draining = on;
        readiness = on ? { ready: false, reason: 'draining' } : { ready: true };
      },
      draining: () => draining,
      readiness: () => readiness,
    },
    events,
    metrics,
    ...over,
  };
  return { services, events, metrics };
};

describe('createApi', () => {
  let api: Api | undefined;
  afterEach(async () => {
    await api?.close();
    api = undefined;
  });
  const make = (over: Partial<ApiServices> = {}, opts: Partial<Parameters<typeof createApi>[1]> = {}) => {
    const f = fakeServices(over);
    api = createApi(f.services, { host: '127.0.0.1', port: 0, token: 'sekrit', metricsAllow: [], ...opts });
    return { ...f, app: api.app };
  };
  const auth = { authorization: 'Bearer sekrit' };

  it('asks for the Bearer token on /api/v1 only', async () => {
    const { app } = make();
    const none = await app.inject({ method: 'GET', url: '/api/v1/domains' });
    expect(none.statusCode).toBe(401);
    expect(none.json()).toEqual({ error: { code: 'unauthorized', message: 'a Bearer token is required' } });
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
    expect((await app.inject({ method: 'GET', url: '/api/v1/domains', headers: { authorization: 'Bearer sekrit2' } })).statusCode).toBe(401);
    expect((await app.inject({ method: 'GET', url: '/api/v1/domains', headers: { authorization: 'Basic sekrit' } })).statusCode).toBe(401);
    const ok = await app.inject({ method: 'GET', url: '/api/v1/domains', headers: auth });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ domains: [{ domain: 'example.com' }] });
    expect((await app.inject({ method: 'GET', url: '/health' })).json()).toEqual({ status: 'ok' });
    expect((await app.inject({ method: 'GET', url: '/ready' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(200);
  });

  it('names the field of a bad body, path parameter or unknown property (400)', async () => {
    const { app } = make();
    const post = (url: string, payload: unknown) => app.inject({ method: 'POST', url, payload: payload as object, headers: auth });
    expect((await post('/api/v1/domains', {})).json()).toEqual({ error: { code: 'invalid-request', message: 'domain: is required', field: 'domain' } });
    const badUri = (await post('/api/v1/dispatcher/sets', { id: 2, destinations: [{ uri: 'http://x' }] })).json();
    expect(badUri.error).toMatchObject({ code: 'invalid-request', field: 'destinations[0].uri' });
    expect((await post('/api/v1/dispatcher/sets', { id: 2, algorithm: 'fastest' })).json().error).toMatchObject({ field: 'algorithm' });
    expect((await post('/api/v1/dispatcher/sets', { id: 2, wieght: 1 })).json().error).toMatchObject({ field: 'wieght', message: 'wieght: unknown property' });
    const badId = await app.inject({ method: 'GET', url: '/api/v1/dispatcher/sets/abc', headers: auth });
    expect(badId.statusCode).toBe(400);
    expect(badId.json().error).toMatchObject({ code: 'invalid-request', field: 'id' });
    const notJson = await app.inject({ method: 'POST', url: '/api/v1/domains', payload: '{nope', headers: { ...auth, 'content-type': 'application/json' } });
    expect(notJson.statusCode).toBe(400);
    expect(notJson.json().error.code).toBe('invalid-json');
    const noBody = await app.inject({ method: 'POST', url: '/api/v1/domains', headers: { ...auth, 'content-type': 'application/json' } });
    expect(noBody.statusCode).toBe(400);
    expect(noBody.json().error.code).toBe('invalid-request');
    expect((await post('/api/v1/bans', { ip: '192.0.2.1', seconds: 0 })).json().error).toMatchObject({ field: 'seconds' });
  });

  it('maps package errors to 404 and 409 with their codes', async () => {
    const { app } = make();
    expect((await app.inject({ method: 'POST', url: '/api/v1/dispatcher/sets', payload: { id: 3 }, headers: auth })).statusCode).toBe(201);
    const dup = await app.inject({ method: 'POST', url: '/api/v1/dispatcher/sets', payload: { id: 3 }, headers: auth });
    expect(dup.statusCode).toBe(409);
    expect(dup.json()).toEqual({ error: { code: 'duplicate-set', message: 'id: set 3 exists already', field: 'id' } });
    const gone = await app.inject({ method: 'DELETE', url: '/api/v1/dispatcher/sets/9', headers: auth });
    expect(gone.statusCode).toBe(404);
    expect(gone.json().error.code).toBe('unknown-set');
    expect((await app.inject({ method: 'GET', url: '/api/v1/dispatcher/sets/9', headers: auth })).json().error.code).toBe('not-found');
    expect((await app.inject({ method: 'GET', url: '/api/v1/nothing', headers: auth })).json().error.code).toBe('not-found');
    expect((await app.inject({ method: 'POST', url: '/api/v1/domains', payload: { domain: 'example.com' }, headers: auth })).statusCode).toBe(409);
  });

  it('answers 503 with Retry-After when the store is down, and 501 for what is not built yet', async () => {
    const { app } = make({
      domains: {
        list: async () => {
          throw storeDown;
        },
        add: async () => true,
        remove: async () => true,
      },
    });
    const r = await app.inject({ method: 'GET', url: '/api/v1/domains', headers: auth });
    expect(r.statusCode).toBe(503);
    expect(r.headers['retry-after']).toBe('5');
    expect(r.json().error.code).toBe('store-unavailable');
    const trunks = await app.inject({ method: 'GET', url: '/api/v1/trunks', headers: auth });
    expect(trunks.statusCode).toBe(501);
    expect(trunks.json().error.code).toBe('not-implemented');
  });

  it('drains: /ready turns 503', async () => {
    const { app } = make();
    const d = await app.inject({ method: 'POST', url: '/api/v1/drain', headers: { ...auth, 'content-type': 'application/json' } });
    expect(d.json()).toEqual({ draining: true });
    const ready = await app.inject({ method: 'GET', url: '/ready' });
    expect(ready.statusCode).toBe(503);
    expect(ready.json().error).toMatchObject({ code: 'not-ready', message: 'not ready: draining' });
  });

  it('serves the OpenAPI document with every contract path', async () => {
    const { app } = make();
    const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json() as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toMatch(/^3\./);
    for (const p of [
      '/api/v1/domains', '/api/v1/domains/{domain}', '/api/v1/dispatcher/sets', '/api/v1/dispatcher/sets/{id}',
      '/api/v1/dispatcher/sets/{id}/destinations', '/api/v1/dispatcher/sets/{id}/destinations/{destId}',
      '/api/v1/subscribers', '/api/v1/subscribers/{id}', '/api/v1/registrations', '/api/v1/registrations/{aor}',
      '/api/v1/bans', '/api/v1/bans/{ip}', '/api/v1/drain', '/api/v1/trunks', '/api/v1/trunks/{id}', '/api/v1/trunks/{id}/register',
      '/api/v1/calls', '/api/v1/calls/{callId}', '/api/v1/trace', '/api/v1/events', '/health', '/ready', '/metrics',
    ]) {
      expect(doc.paths, p).toHaveProperty([p]);
    }
    expect((await app.inject({ method: 'GET', url: '/docs' })).statusCode).toBeLessThan(400);
  });

  it('restricts /metrics to api.metrics_allow and lists every metric of the contract', async () => {
    const { app: open } = make();
    const text = (await open.inject({ method: 'GET', url: '/metrics' })).body;
    for (const name of METRIC_NAMES) expect(text).toContain(`# TYPE ${name} `);
    expect(text).toContain('sipfront_transactions_active 3');
    await api!.close();
    const { app } = make({}, { metricsAllow: ['10.0.0.0/8'] });
    const r = await app.inject({ method: 'GET', url: '/metrics' });
    expect(r.statusCode).toBe(403);
    expect(r.json().error.code).toBe('forbidden');
  });

  it('refuses a non-loopback host without a token', () => {
    const { services } = fakeServices();
    expect(() => createApi(services, { host: '0.0.0.0', port: 0, token: null, metricsAllow: [] })).toThrow(ApiError);
    expect(() => createApi(services, { host: '0.0.0.0', port: 0, token: null, metricsAllow: [] })).toThrow(/api\.token/);
    expect(() => createApi(services, { host: '::1', port: 0, token: null, metricsAllow: [] })).not.toThrow();
  });

  it('streams events over real HTTP with the Bearer header', async () => {
    const { events } = make();
    const { host, port } = await api!.listen();
    const ctl = new AbortController();
    const res = await fetch(`http://${host}:${port}/api/v1/events`, { headers: auth, signal: ctl.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = res.body!.getReader();
    let text = '';
    const until = async (s: string) => {
      while (!text.includes(s)) {
        const { value, done } = await reader.read();
        if (done) throw new Error('stream ended');
        text += Buffer.from(value).toString('utf8');
      }
    };
    await until(': connected');
    events.publish('ban', { ip: '192.0.2.1' });
    await until('"192.0.2.1"');
    expect(text).toContain('event: ban\ndata: {"ip":"192.0.2.1"}\n\n');
    // close() ends open streams instead of waiting for them
    await api!.close();
    api = undefined;
    ctl.abort();
  });
});

describe('fieldOfPath', () => {
  it('turns a JSON pointer into a field name', () => {
    expect(fieldOfPath('/destinations/0/uri')).toBe('destinations[0].uri');
    expect(fieldOfPath('')).toBe('');
    expect(fieldOfPath('/a~1b')).toBe('a/b');
  });
});
