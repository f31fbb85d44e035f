// Issue 7's proof, end to end with real sipp and sockets on several loopback addresses: a sipp
// OPTIONS flood gets banned within the window while a normal caller's calls complete, the ban
// expires on time; wrong passwords ban with `auth-failures` until the API lifts the ban; a
// scanner's REGISTER is dropped and banned; a trusted source floods unbanned; and with Redis a
// ban made through one instance's API is enforced by a second instance. With security.enabled:
// false nothing is screened.
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAuthorization, type SipMessage } from '@sipfront/core';
import { udpPeer, type UdpPeer } from './helpers/sip-client.js';
import { freeSipPort, startSipfront, type TestSipfront } from './helpers/sipfront.js';
import { callIdOf, request, uniq } from './helpers/sip-text.js';
import { recvCount, runSipp, startSippUas, type SippUas } from './helpers/sipp.js';
import { waitFor } from './helpers/wait.js';

const FLOOD = { windowMs: 2000, max: 20, banMs: 3000 };

/** `request()` as sent by a peer on `host` (its Via and Contact name that address). */
const requestFrom = (host: string, method: string, ruri: string, o: Parameters<typeof request>[2]): string =>
  request(method, ruri, o)
    .replace(/^Via: SIP\/2\.0\/UDP 127\.0\.0\.1:/m, `Via: SIP/2.0/UDP ${host}:`)
    .replace(/^Contact: <sip:alice@127\.0\.0\.1:/m, `Contact: <sip:alice@${host}:`);

const finalFor = (text: string) => (m: SipMessage) => m.status >= 200 && m.callId === callIdOf(text);

const optionsTo = (sfPort: number, peer: UdpPeer, host: string): string =>
  requestFrom(host, 'OPTIONS', `sip:127.0.0.1:${sfPort}`, { port: peer.port });

describe('security end to end (memory store)', () => {
  let sf: TestSipfront;
  let port: number;
  let backend: SippUas;
  const peers: UdpPeer[] = [];

  beforeAll(async () => {
    backend = await startSippUas({ scenario: 'uas.xml', timeoutMs: 60_000 });
    port = await freeSipPort();
    sf = await startSipfront(
      [
        'listen:',
        `  - { transport: udp, host: 127.0.0.1, port: ${port} }`,
        'domains: [example.com]',
        'security:',
        '  trusted: [127.0.0.1/32]',
        `  flood: { window: ${FLOOD.windowMs}ms, max: ${FLOOD.max}, ban: ${FLOOD.banMs}ms }`,
        '  auth_failures: { max: 5, window: 60s, ban: 60s }',
        'registrar:',
        '  subscribers:',
        '    - { user: "1001", domain: example.com, password: secret1 }',
        'dispatcher:',
        '  sets:',
        `    - { id: 1, name: asterisk, algorithm: round-robin, destinations: [ { uri: "sip:${backend.address}" } ] }`,
        'routes:',
        '  - { match: { ruri_user: "^service$" }, to: { set: 1 }, from: [any] }',
      ].join('\n'),
    );
  });
  afterAll(async () => {
    await sf?.close();
    await backend?.stop(1000);
    for (const p of peers) await p.close();
  });

  const peerOn = async (host: string): Promise<UdpPeer> => {
    const p = (await udpPeer({ host })).to(port);
    peers.push(p);
    return p;
  };

  it('bans a sipp OPTIONS flood from 127.0.0.2 within the window while 127.0.0.3 completes its calls; the ban expires on time', async () => {
    const invitesBefore = await backend.invites();
    const started = Date.now();
    // 60 OPTIONS at 60/s from 127.0.0.2; meanwhile 6 calls at 2/s from 127.0.0.3 (3 requests a
    // call: 6 per second, well under the limit of 20 in 2 s)
    const floodRun = runSipp({
      scenario: 'options-flood.xml',
      remote: `127.0.0.1:${port}`,
      localHost: '127.0.0.2',
      calls: 60,
      rate: 60,
      recvTimeoutMs: 2000,
      extraArgs: ['-nr'],
    });
    const callerRun = runSipp({
      scenario: 'uac.xml',
      remote: `127.0.0.1:${port}`,
      localHost: '127.0.0.3',
      service: 'service',
      calls: 6,
      rate: 2,
    });
    const ban = await waitFor(() => sf.server.security.getBan('127.0.0.2'), { timeoutMs: 5000, intervalMs: 10, what: 'a flood ban of 127.0.0.2' });
    expect(ban.reason).toBe('flood');
    expect(ban.createdAt - started).toBeLessThan(FLOOD.windowMs);
    expect(ban.expiresAt - ban.createdAt).toBe(FLOOD.banMs);
    // watched from now on, so that a slow sipp run cannot blur when the ban ended
    const ended = waitFor(() => sf.server.security.getBan('127.0.0.2') === undefined, { timeoutMs: FLOOD.banMs + 2000, intervalMs: 20, what: 'the flood ban to expire' })
      .then(() => Date.now());
    // while banned (and while the calls go on): nothing comes back to 127.0.0.2, from any port
    const flooder = await peerOn('127.0.0.2');
    const during = optionsTo(port, flooder, '127.0.0.2');
    flooder.send(during);
    expect(await flooder.silence(300, finalFor(during))).toBe(true);

    const [flood, caller, endedAt] = await Promise.all([floodRun, callerRun, ended]);
    // exactly `max` OPTIONS were answered in the window, then nothing
    expect(recvCount(flood.counts, '200')).toBe(FLOOD.max);
    expect(flood.successful).toBe(FLOOD.max);
    expect(flood.failed).toBe(60 - FLOOD.max);
    // the helper keeps the directory of a run with failed calls: here they are the point
    await rm(flood.dir, { recursive: true, force: true });
    // the normal caller was never affected
    expect(caller.failed, caller.errors || caller.stdout.slice(-2000)).toBe(0);
    expect(caller.successful).toBe(6);
    expect(sf.server.security.getBan('127.0.0.3')).toBeUndefined();
    await waitFor(async () => (await backend.invites()) - invitesBefore === 6, { timeoutMs: 3000, what: 'six INVITEs at the backend' });

    // the ban ended flood.ban after it began (within this poll's granularity and the event loop's delays)
    const lasted = endedAt - ban.createdAt;
    expect(lasted).toBeGreaterThanOrEqual(FLOOD.banMs);
    expect(lasted).toBeLessThan(FLOOD.banMs + 500);
    expect(sf.server.security.listBans().some((b) => b.ip === '127.0.0.2')).toBe(false);
    const again = optionsTo(port, flooder, '127.0.0.2');
    flooder.send(again);
    expect((await flooder.next(2000, finalFor(again))).status).toBe(200);
  });

  it('bans after five wrong passwords (auth-failures); the right one is ignored until the ban is lifted through the API', async () => {
    const host = '127.0.0.4';
    const phone = await peerOn(host);
    const register = (callId: string, cseq: number, auth?: string): string =>
      requestFrom(host, 'REGISTER', 'sip:example.com', {
        port: phone.port,
        callId,
        cseq,
        to: '<sip:1001@example.com>',
        extra: [...(auth !== undefined ? [`Authorization: ${auth}`] : []), 'Expires: 600'],
      }).replace(/^From: <sip:alice@127\.0\.0\.1>/m, 'From: <sip:1001@example.com>');
    const challenge = async (callId: string): Promise<string> => {
      const first = register(callId, 1);
      phone.send(first);
      const ch = await phone.next(2000, finalFor(first));
      expect(ch.status).toBe(401);
      return ch.get('www-authenticate')!;
    };

    let lastChallenge = '';
    for (let i = 1; i <= 5; i++) {
      const callId = `reg-${uniq()}`;
      lastChallenge = await challenge(callId);
      expect(sf.server.security.getBan(host)).toBeUndefined();
      const auth = buildAuthorization(lastChallenge, { username: '1001', password: 'wrong' }, 'REGISTER', 'sip:example.com');
      phone.send(register(callId, 2, auth));
      if (i < 5) expect((await phone.next(2000, (m) => m.status >= 200 && m.callId === callId && m.cseq?.seq === 2)).status).toBe(401);
    }
    const ban = await waitFor(() => sf.server.security.getBan(host), { timeoutMs: 2000, what: 'an auth-failures ban' });
    expect(ban.reason).toBe('auth-failures');
    expect(ban.expiresAt - ban.createdAt).toBe(60_000);
    const listed = (await (await fetch(`${sf.apiUrl}/api/v1/bans`, { signal: AbortSignal.timeout(5000) })).json()) as { bans: Array<{ ip: string; reason: string }> };
    expect(listed.bans).toContainEqual(expect.objectContaining({ ip: host, reason: 'auth-failures' }));

    // the right password (answering the last challenge) gets no answer and registers nothing
    const callId = `reg-${uniq()}`;
    const right = register(callId, 2, buildAuthorization(lastChallenge, { username: '1001', password: 'secret1' }, 'REGISTER', 'sip:example.com'));
    phone.send(right);
    expect(await phone.silence(500, (m) => m.callId === callId)).toBe(true);
    expect(await sf.server.registrar.lookup('1001@example.com')).toHaveLength(0);
    // a successful auth does not end the ban early
    expect(sf.server.security.getBan(host)?.createdAt).toBe(ban.createdAt);

    const lifted = await fetch(`${sf.apiUrl}/api/v1/bans/${host}`, { method: 'DELETE', signal: AbortSignal.timeout(5000) });
    expect(lifted.status).toBe(204);
    expect(sf.server.security.getBan(host)).toBeUndefined();

    const okCallId = `reg-${uniq()}`;
    const ch = await challenge(okCallId);
    phone.send(register(okCallId, 2, buildAuthorization(ch, { username: '1001', password: 'secret1' }, 'REGISTER', 'sip:example.com')));
    const ok = await phone.next(2000, (m) => m.status >= 200 && m.callId === okCallId && m.cseq?.seq === 2);
    expect(ok.status).toBe(200);
    const bindings = await sf.server.registrar.lookup('1001@example.com');
    expect(bindings).toHaveLength(1);
    expect(bindings[0]!.source).toMatchObject({ address: host, port: phone.port });
  });

  it('drops a REGISTER with User-Agent: friendly-scanner and bans its source', async () => {
    const host = '127.0.0.5';
    const scanner = await peerOn(host);
    const reg = requestFrom(host, 'REGISTER', 'sip:example.com', {
      port: scanner.port,
      to: '<sip:1001@example.com>',
      extra: ['User-Agent: friendly-scanner', 'Expires: 600'],
    }).replace(/^From: <sip:alice@127\.0\.0\.1>/m, 'From: <sip:1001@example.com>');
    scanner.send(reg);
    const ban = await waitFor(() => sf.server.security.getBan(host), { timeoutMs: 2000, what: 'a scanner ban' });
    expect(ban.reason).toBe('scanner');
    expect(await scanner.silence(500)).toBe(true);
    // and nothing else from it is answered either
    const o = optionsTo(port, scanner, host);
    scanner.send(o);
    expect(await scanner.silence(300)).toBe(true);
  });

  it('never bans a trusted source, however much it floods', async () => {
    // the same sipp flood from 127.0.0.1 (security.trusted): every OPTIONS is answered
    const flood = await runSipp({
      scenario: 'options-flood.xml',
      remote: `127.0.0.1:${port}`,
      localHost: '127.0.0.1',
      calls: 60,
      rate: 60,
      extraArgs: ['-nr'],
    });
    expect(recvCount(flood.counts, '200')).toBe(60);
    expect(flood.successful).toBe(60);
    expect(sf.server.security.getBan('127.0.0.1')).toBeUndefined();
    expect(sf.server.security.listBans().some((b) => b.ip === '127.0.0.1')).toBe(false);
  });
});

describe('security end to end (Redis store): two instances', () => {
  const REDIS_URL = process.env['SIPFRONT_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
  const prefix = `sftest:sec:${process.pid}:${randomBytes(4).toString('hex')}:`;
  const admin = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  let a: TestSipfront;
  let b: TestSipfront;
  let portB: number;
  let peer: UdpPeer;
  const host = '127.0.0.6';

  const yaml = (port: number): string =>
    [
      'listen:',
      `  - { transport: udp, host: 127.0.0.1, port: ${port} }`,
      `store: { kind: redis, url: "${REDIS_URL}", prefix: "${prefix}" }`,
      'security: { trusted: [127.0.0.1/32] }',
      'dispatcher: { probe: { interval: 1h } }',
    ].join('\n');

  beforeAll(async () => {
    await admin.connect();
    a = await startSipfront(yaml(await freeSipPort()));
    portB = await freeSipPort();
    b = await startSipfront(yaml(portB));
    await Promise.all([a.server.security.ready, b.server.security.ready]);
    peer = (await udpPeer({ host })).to(portB);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await peer?.close();
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length > 0) await admin.del(...keys);
    admin.disconnect();
  });

  it('a ban made through one instance\'s API is enforced by the second within a second', async () => {
    // before: the second instance answers 127.0.0.6
    const before = optionsTo(portB, peer, host);
    peer.send(before);
    expect((await peer.next(2000, finalFor(before))).status).toBe(200);

    const made = await fetch(`${a.apiUrl}/api/v1/bans`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ip: host, seconds: 30, reason: 'manual' }),
      signal: AbortSignal.timeout(5000),
    });
    expect(made.status).toBe(201);
    const banMadeAt = Date.now();
    const seen = await waitFor(() => b.server.security.getBan(host), { timeoutMs: 1000, intervalMs: 10, what: 'the ban at the second instance' });
    expect(Date.now() - banMadeAt).toBeLessThan(1000);
    expect(seen.reason).toBe('manual');
    expect(await admin.keys(`${prefix}*`)).not.toHaveLength(0);

    // after: the second instance drops whatever 127.0.0.6 sends
    const during = optionsTo(portB, peer, host);
    peer.send(during);
    const reg = requestFrom(host, 'INVITE', `sip:1001@127.0.0.1:${portB}`, { port: peer.port });
    peer.send(reg);
    expect(await peer.silence(500)).toBe(true);

    // lifted through the second instance: the first one lets it go too
    expect((await fetch(`${b.apiUrl}/api/v1/bans/${host}`, { method: 'DELETE', signal: AbortSignal.timeout(5000) })).status).toBe(204);
    await waitFor(() => a.server.security.getBan(host) === undefined, { timeoutMs: 1000, intervalMs: 10, what: 'the lifted ban at the first instance' });
    const after = optionsTo(portB, peer, host);
    peer.send(after);
    expect((await peer.next(2000, finalFor(after))).status).toBe(200);
  });
});

describe('security.enabled: false', () => {
  let sf: TestSipfront;
  let port: number;
  let peer: UdpPeer;
  const host = '127.0.0.7';

  beforeAll(async () => {
    port = await freeSipPort();
    sf = await startSipfront(
      [
        'listen:',
        `  - { transport: udp, host: 127.0.0.1, port: ${port} }`,
        'security: { enabled: false, flood: { window: 10s, max: 2, ban: 60s } }',
        'dispatcher: { probe: { interval: 1h } }',
      ].join('\n'),
    );
    peer = (await udpPeer({ host })).to(port);
  });
  afterAll(async () => {
    await sf?.close();
    await peer?.close();
  });

  it('screens nothing: scanners, floods and banned sources are all answered', async () => {
    // a scanner's User-Agent, five times over a flood limit of 2, from a banned address
    sf.server.security.ban(host, 60, 'manual');
    for (let i = 0; i < 5; i++) {
      const o = requestFrom(host, 'OPTIONS', `sip:127.0.0.1:${port}`, { port: peer.port, extra: ['User-Agent: friendly-scanner'] });
      peer.send(o);
      expect((await peer.next(2000, finalFor(o))).status).toBe(200);
    }
    expect(sf.server.security.listBans().map((b) => b.reason)).toEqual(['manual']);
  });
});
