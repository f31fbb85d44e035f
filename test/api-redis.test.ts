// Two sipfront instances on one Redis (SIPFRONT_TEST_REDIS_URL, default redis://127.0.0.1:6379),
// under a key prefix of their own that is removed afterwards: what one instance's API changes,
// the other sees within a second — subscribers, and dispatcher sets that then carry its calls.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { udpPeer, type UdpPeer } from './helpers/sip-client.js';
import { freeSipPort, startSipfront, type TestSipfront } from './helpers/sipfront.js';
import { callIdOf, request, responseTo } from './helpers/sip-text.js';
import { waitFor } from './helpers/wait.js';

const REDIS_URL = process.env['SIPFRONT_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const prefix = `sftest:api:${process.pid}:${randomBytes(4).toString('hex')}:`;
const TOKEN = randomBytes(12).toString('hex');

const api = (sf: TestSipfront) =>
  async (method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> => { // eslint-disable-line @typescript-eslint/no-explicit-any
    const res = await fetch(`${sf.apiUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(5000),
    });
    const text = await res.text();
    return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
  };

describe('REST API with the Redis store: two instances', () => {
  const admin = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  let a: TestSipfront;
  let b: TestSipfront;
  let portB: number;
  let backend: UdpPeer;
  let caller: UdpPeer;

  const yaml = (port: number) =>
    [
      'listen:',
      `  - { transport: udp, host: 127.0.0.1, port: ${port} }`,
      `store: { kind: redis, url: "${REDIS_URL}", prefix: "${prefix}" }`,
      `api: { host: 127.0.0.1, port: 0, token: ${TOKEN} }`,
      'domains: [example.com]',
      'security: { trusted: [127.0.0.1/32] }',
      'registrar: { auth: { nonce_secret: shared-secret-for-both } }',
      'dispatcher: { probe: { interval: 1h } }',
    ].join('\n');

  beforeAll(async () => {
    await admin.connect();
    backend = await udpPeer({ answerOptions: true });
    a = await startSipfront(yaml(await freeSipPort()));
    portB = await freeSipPort();
    b = await startSipfront(yaml(portB));
    caller = (await udpPeer()).to(portB);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await backend?.close();
    await caller?.close();
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length > 0) await admin.del(...keys);
    admin.disconnect();
  });

  it('a subscriber made through one instance is visible through the other within a second', async () => {
    const made = await api(a)('POST', '/api/v1/subscribers', { user: '3001', domain: 'example.com', password: 'pw' });
    expect(made.status).toBe(201);
    const started = Date.now();
    await waitFor(async () => (await api(b)('GET', `/api/v1/subscribers/${encodeURIComponent('3001@example.com')}`)).status === 200, { timeoutMs: 1000, intervalMs: 20, what: 'the subscriber at the second instance' });
    expect(Date.now() - started).toBeLessThan(1000);
    expect((await api(b)('DELETE', `/api/v1/subscribers/${encodeURIComponent('3001@example.com')}`)).status).toBe(204);
    await waitFor(async () => (await api(a)('GET', `/api/v1/subscribers/${encodeURIComponent('3001@example.com')}`)).status === 404, { timeoutMs: 1000, what: 'the deletion at the first instance' });
  });

  it('a set made through one instance carries the other\'s calls; its operator states follow', async () => {
    const uri = `sip:127.0.0.1:${backend.port}`;
    expect((await api(a)('POST', '/api/v1/dispatcher/sets', { id: 1, name: 'asterisk', destinations: [{ uri }] })).status).toBe(201);
    await waitFor(() => b.server.dispatch.dispatcher.getDestination(1, uri) !== undefined, { timeoutMs: 1000, intervalMs: 20, what: 'set 1 at the second instance' });
    expect((await api(b)('GET', '/api/v1/dispatcher/sets/1')).body.destinations.map((d: { uri: string }) => d.uri)).toEqual([uri]);

    // a call through the second instance goes to the destination added through the first
    const inv = request('INVITE', 'sip:600@example.com', { port: caller.port });
    caller.send(inv);
    const got = await backend.next(3000, (m) => m.method === 'INVITE' && m.callId === callIdOf(inv));
    backend.to(portB).send(responseTo(got, 486, 'Busy Here'));
    expect((await caller.next(3000, (m) => m.status >= 200 && m.callId === callIdOf(inv))).status).toBe(486);

    expect((await api(a)('PATCH', `/api/v1/dispatcher/sets/1/destinations/${encodeURIComponent(uri)}`, { state: 'disabled' })).body.state).toBe('disabled');
    await waitFor(() => b.server.dispatch.dispatcher.getDestination(1, uri)?.state === 'disabled', { timeoutMs: 1000, intervalMs: 20, what: 'disabled at the second instance' });
    expect((await api(a)('PATCH', `/api/v1/dispatcher/sets/1/destinations/${encodeURIComponent(uri)}`, { state: 'active' })).body.state).toBe('active');
    await waitFor(() => b.server.dispatch.dispatcher.getDestination(1, uri)?.state === 'active', { timeoutMs: 1000, intervalMs: 20, what: 'active again at the second instance' });

    expect((await api(b)('DELETE', '/api/v1/dispatcher/sets/1')).status).toBe(204);
    await waitFor(() => !a.server.dispatch.dispatcher.hasSet(1), { timeoutMs: 1000, intervalMs: 20, what: 'set 1 gone at the first instance' });
  });
});
