// The registrar's proof (issue 5) on the Redis store: a binding lives in Redis with a TTL; a
// second instance on the same Redis routes a call to a phone registered on the first, through the
// first (the phone's NAT pinhole reaches only it); with Redis stopped REGISTER gets 5xx with
// Retry-After while calls to known destinations go on, and nothing written before is lost.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SipMessage } from '@sipfront/core';
import { udpPeer, type UdpPeer } from './helpers/sip-client.js';
import { DOMAIN, inDialog, isFinal, registerWithDigest } from './helpers/register.js';
import { freeSipPort, startSipfront, type TestSipfront } from './helpers/sipfront.js';
import { callIdOf, request, responseTo } from './helpers/sip-text.js';
import { freePort, runSipp, startSippUas, type SippUas } from './helpers/sipp.js';
import { waitFor, withTimeout } from './helpers/wait.js';

const REDIS_URL = process.env['SIPFRONT_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

const newPrefix = (): string => `sftest:${process.pid}:${randomBytes(4).toString('hex')}:`;

const deleteKeys = async (redis: Redis, prefix: string): Promise<void> => {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
};

const keysOf = async (redis: Redis, prefix: string): Promise<string[]> => {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    out.push(...keys);
  } while (cursor !== '0');
  return out;
};

const registerRaw = async (peer: UdpPeer, o: Parameters<typeof registerWithDigest>[1]): Promise<SipMessage> =>
  (await registerWithDigest(peer, o)).final;

const config = (o: { port: number; url: string; prefix: string; secret: string; backendPort: number; trusted: string }): string =>
  [
    'listen:',
    `  - { transport: udp, host: 127.0.0.1, port: ${o.port} }`,
    `domains: [${DOMAIN}]`,
    `store: { kind: redis, url: "${o.url}", prefix: "${o.prefix}" }`,
    `security: { trusted: [${o.trusted}], auth_failures: { max: 50, window: 60s, ban: 60s } }`,
    'registrar:',
    `  auth: { nonce_secret: "${o.secret}" }`,
    '  subscribers:',
    `    - { user: "1001", domain: ${DOMAIN}, password: secret1 }`,
    'dispatcher:',
    '  sets:',
    `    - { id: 1, name: asterisk, algorithm: round-robin, destinations: [ { uri: "sip:127.0.0.1:${o.backendPort}" } ] }`,
  ].join('\n');

describe('registrar on Redis: TTL, and a second instance routes to a phone registered on the first', () => {
  const prefix = newPrefix();
  const secret = randomBytes(16).toString('hex');
  let redis: Redis;
  let a: TestSipfront;
  let b: TestSipfront;
  let backend: UdpPeer;
  let phone: UdpPeer;
  const phoneHost = '127.0.0.5';

  beforeAll(async () => {
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    backend = await udpPeer({ answerOptions: true });
    const [portA, portB] = [await freeSipPort(), await freeSipPort()];
    const common = { url: REDIS_URL, prefix, secret, backendPort: backend.port, trusted: '127.0.0.0/8' };
    a = await startSipfront(config({ ...common, port: portA }));
    b = await startSipfront(config({ ...common, port: portB }));
    phone = (await udpPeer({ host: phoneHost })).to(a.udpPort);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await phone?.close();
    await backend?.close();
    if (redis !== undefined) {
      await deleteKeys(redis, prefix);
      await redis.quit();
    }
  });

  it('keeps the binding in Redis with a TTL and an entry in the expiry index', async () => {
    const before = Date.now();
    const ok = await registerRaw(phone, { host: phoneHost, user: '1001', password: 'secret1', contact: 'sip:1001@192.168.1.50:5060', expires: 120 });
    expect(ok.status).toBe(200);
    const keys = await keysOf(redis, prefix);
    const aorKeys = keys.filter((k) => k.includes('1001@example.com'));
    expect(aorKeys).toHaveLength(1);
    const aorKey = aorKeys[0]!;
    expect(await redis.type(aorKey)).toBe('hash');
    const stored = Object.entries(await redis.hgetall(aorKey)).filter(([field]) => field !== '_v');
    expect(stored).toHaveLength(1);
    expect(JSON.parse(stored[0]![1])).toMatchObject({ uri: 'sip:1001@192.168.1.50:5060', source: { address: phoneHost, port: phone.port } });
    // the hash expires by itself: after the binding's 120 s (plus the store's grace), never sooner
    const pttl = await redis.pttl(aorKey);
    expect(pttl).toBeGreaterThan(120_000 - (Date.now() - before));
    expect(pttl).toBeLessThanOrEqual(120_000 + 60_000);
    // the expiry index: one member for this binding, scored with its expiry time
    const zsets: string[] = [];
    for (const k of keys) if ((await redis.type(k)) === 'zset') zsets.push(k);
    const entries: Array<[string, number]> = [];
    for (const z of zsets) {
      const flat = await redis.zrange(z, '0', '-1', 'WITHSCORES');
      for (let i = 0; i < flat.length; i += 2) if (flat[i]!.startsWith('1001@example.com')) entries.push([flat[i]!, Number(flat[i + 1])]);
    }
    expect(entries).toHaveLength(1);
    expect(entries[0]![1]).toBeGreaterThanOrEqual(before + 120_000);
    expect(entries[0]![1]).toBeLessThanOrEqual(Date.now() + 120_000);
    // the other instance sees it, recorded as arrived on instance A
    const seenByB = await b.server.registrar.lookup('1001@example.com');
    expect(seenByB).toHaveLength(1);
    expect(seenByB[0]!.listener).toMatchObject({ transport: 'udp', host: '127.0.0.1', port: a.udpPort });
  });

  it('a call from the set arriving on instance B reaches the phone at its real port, through instance A', async () => {
    expect(await b.server.registrar.lookup('1001@example.com')).toHaveLength(1);
    backend.to(b.udpPort);
    const invite = request('INVITE', `sip:1001@${DOMAIN}`, { port: backend.port, to: `<sip:1001@${DOMAIN}>` });
    const callId = callIdOf(invite);
    backend.send(invite);
    const got = await phone.next(5000, (m) => m.method === 'INVITE' && m.callId === callId);
    expect(got.uri).toBe('sip:1001@192.168.1.50:5060');
    // A's Via on top, then B's, then the backend's: B sent it on to A, A to the phone
    expect(got.vias().map((v) => `${v?.host}:${v?.port}`).slice(0, 3)).toEqual([`127.0.0.1:${a.udpPort}`, `127.0.0.1:${b.udpPort}`, `127.0.0.1:${backend.port}`]);
    phone.send(responseTo(got, 180, 'Ringing', { toTag: 'phone' }));
    phone.send(responseTo(got, 200, 'OK', { toTag: 'phone', contact: `<sip:1001@${phoneHost}:${phone.port}>` }));
    const answer = await backend.next(5000, isFinal(callId));
    expect(answer.status).toBe(200);
    // the dialog goes on along both instances' Record-Routes
    backend.send(inDialog('ACK', answer, backend, 1));
    await phone.next(3000, (m) => m.method === 'ACK' && m.callId === callId);
    backend.send(inDialog('BYE', answer, backend, 2));
    const bye = await phone.next(3000, (m) => m.method === 'BYE' && m.callId === callId);
    phone.send(responseTo(bye, 200, 'OK'));
    expect((await backend.next(3000, isFinal(callId, 'BYE'))).status).toBe(200);
  });
});

describe('registrar with Redis stopped mid-run', () => {
  const prefix = newPrefix();
  let dir: string;
  let redisPort: number;
  let redisProc: ChildProcess | undefined;
  let sf: TestSipfront;
  let uas: SippUas;
  let phone: UdpPeer;
  const phoneHost = '127.0.0.6';

  const startRedis = async (): Promise<void> => {
    const proc = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--dir', dir], { stdio: 'ignore' });
    redisProc = proc;
    const probe = new Redis(redisPort, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
    probe.on('error', () => undefined); // refused until the server listens: waited for below
    try {
      await waitFor(async () => {
        if (proc.exitCode !== null) throw new Error(`redis-server exited with ${proc.exitCode}`);
        if (probe.status !== 'ready') await probe.connect().catch(() => undefined);
        return probe.status === 'ready' && (await probe.ping()) === 'PONG';
      }, { timeoutMs: 5000, intervalMs: 50, what: `redis-server on port ${redisPort}` });
    } finally {
      probe.disconnect();
    }
  };
  const stopRedis = async (): Promise<void> => {
    const proc = redisProc;
    redisProc = undefined;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = once(proc, 'exit');
    proc.kill('SIGTERM'); // a clean shutdown: the append-only file is flushed
    await withTimeout(exited, 5000, 'redis-server to stop');
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sipfront-redis-'));
    redisPort = await freePort('tcp');
    await startRedis();
    uas = await startSippUas({ scenario: 'uas.xml', timeoutMs: 60_000 });
    sf = await startSipfront(
      config({ port: await freeSipPort(), url: `redis://127.0.0.1:${redisPort}`, prefix, secret: randomBytes(16).toString('hex'), backendPort: uas.port, trusted: '127.0.0.1/32' }),
    );
    phone = (await udpPeer({ host: phoneHost })).to(sf.udpPort);
  });
  afterAll(async () => {
    await sf?.close();
    await uas?.stop();
    await phone?.close();
    await stopRedis();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  /** one call from a trusted caller (127.0.0.1) to set 1 with sipp */
  const call = () => runSipp({ scenario: 'uac.xml', remote: `127.0.0.1:${sf.udpPort}`, service: '600', timeoutMs: 10_000 });

  it('answers REGISTER with 5xx and Retry-After, keeps calls to the set going, and loses nothing', async () => {
    const aor = `1001@${DOMAIN}`;
    const ok = await registerRaw(phone, { host: phoneHost, user: '1001', password: 'secret1', contact: 'sip:1001@192.168.1.50:5060', expires: 600 });
    expect(ok.status).toBe(200);
    const before = await sf.server.registrar.lookup(aor);
    expect(before).toHaveLength(1);
    const baseline = await call();
    // sipp's exit status 0 with -m 1: INVITE answered 200, BYE answered 200
    expect({ code: baseline.code, failed: baseline.failed, errors: baseline.errors }).toEqual({ code: 0, failed: 0, errors: '' });

    await stopRedis();
    await waitFor(() => !sf.server.stores.isUp(), { timeoutMs: 5000, what: 'sipfront to notice Redis is gone' });

    // REGISTER: the store is needed, so 5xx with Retry-After (whether or not a challenge comes first)
    const refused = await registerRaw(phone, { host: phoneHost, user: '1001', password: 'secret1', contact: 'sip:1001@192.168.1.50:5061', expires: 600 });
    expect([500, 503]).toContain(refused.status);
    expect(Number(refused.get('retry-after'))).toBeGreaterThan(0);

    // a call to a known destination needs no store
    const during = await call();
    expect({ code: during.code, failed: during.failed, errors: during.errors }).toEqual({ code: 0, failed: 0, errors: '' });
    await waitFor(async () => (await uas.invites()) >= 2, { timeoutMs: 3000, what: 'the second INVITE at the backend' });

    // Redis back from its append-only file: the binding made before the outage is still there
    await startRedis();
    await waitFor(() => sf.server.stores.isUp(), { timeoutMs: 10_000, what: 'sipfront to reconnect to Redis' });
    const after = await waitFor(async () => {
      const b = await sf.server.registrar.lookup(aor);
      return b.length > 0 ? b : undefined;
    }, { timeoutMs: 5000, what: 'the binding after the restart' });
    expect(after).toEqual(before);
    // and REGISTER works again
    const again = await registerRaw(phone, { host: phoneHost, user: '1001', password: 'secret1', contact: 'sip:1001@192.168.1.50:5060', expires: 600 });
    expect(again.status).toBe(200);
  });
});
