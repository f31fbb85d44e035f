import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { createNonceService, parseDigestChallenge, parseMessage } from '@sipfront/core';
import type { Endpoint } from '@sipfront/core';
import { createRegistrar, DEFAULT_REGISTRAR_OPTIONS } from './registrar.js';
import type { Registrar, RegistrarOptions } from './registrar.js';
import { openMemoryStores } from './memory/index.js';
import { RegistrarError } from './errors.js';
import type { ContactChange, ContactStore, RegistrarStores } from './types.js';
import { toRouteTarget, registrationView } from './view.js';
import { PHONE, answer, fakeClock, headersOf, registerMessage } from './test-helpers.js';
import type { RegisterSpec } from './test-helpers.js';

const options = (o: Partial<RegistrarOptions> = {}): RegistrarOptions => ({ ...DEFAULT_REGISTRAR_OPTIONS, ...o });

describe('registrar (memory stores, fake clock)', () => {
  let clock: ReturnType<typeof fakeClock>;
  let stores: RegistrarStores;
  let failures: Array<{ source: Endpoint; aor: string }>;

  const make = (o: Partial<RegistrarOptions> = {}, contacts?: ContactStore): Registrar =>
    createRegistrar({
      contacts: contacts ?? stores.contacts,
      subscribers: stores.subscribers,
      domains: stores.domains,
      nonces: createNonceService({ secret: 'test', lifetimeMs: 60_000, clock }),
      clock,
      instanceId: 'i1',
      onAuthFailure: (source, aor) => failures.push({ source, aor }),
      localDomainFor: (host) => (host === '198.51.100.1' ? 'example.com' : undefined),
    }, options(o));

  /** Challenge, then answer: the REGISTER a real phone sends second. */
  const registerWithAuth = async (reg: Registrar, spec: RegisterSpec = {}, password = 'secret', authUser?: string) => {
    const first = await reg.handleRegister(registerMessage(spec), { source: PHONE });
    expect(first.status).toBe(401);
    const auth = answer(first, authUser ?? spec.user ?? '1001', password, 'REGISTER', spec.ruri ?? `sip:${spec.domain ?? 'example.com'}`);
    return reg.handleRegister(registerMessage({ ...spec, authorization: auth }), { source: PHONE });
  };

  beforeEach(async () => {
    clock = fakeClock();
    failures = [];
    stores = await openMemoryStores({ clock }, { sweepIntervalMs: 3_600_000 });
    await stores.domains.add('example.com');
    await stores.subscribers.put({ user: '1001', domain: 'example.com', password: 'secret' });
    await stores.subscribers.put({ user: '1002', domain: 'example.com', password: 'other' });
  });
  afterEach(async () => {
    await stores.close();
  });

  describe('digest', () => {
    test('a REGISTER without credentials gets one MD5 challenge with qop=auth, and is no failure', async () => {
      const r = await make().handleRegister(registerMessage(), { source: PHONE });
      expect(r.status).toBe(401);
      const ch = headersOf(r, 'WWW-Authenticate');
      expect(ch).toHaveLength(1);
      expect(ch[0]).toMatch(/^Digest realm="example\.com", nonce="[A-Za-z0-9_-]+", algorithm=MD5, qop="auth"$/);
      expect(failures).toEqual([]);
      expect(await stores.contacts.count()).toBe(0);
    });

    test('configured algorithms are offered in order, one header each; a fixed realm is used', async () => {
      const r = await make({ auth: { required: true, algorithms: ['SHA-256', 'MD5'], realm: 'sipfront' } }).handleRegister(registerMessage(), { source: PHONE });
      const ch = headersOf(r, 'WWW-Authenticate').map((v) => parseDigestChallenge(v));
      expect(ch.map((c) => c.ok && [c.value.algorithm, c.value.realm])).toEqual([['SHA-256', 'sipfront'], ['MD5', 'sipfront']]);
    });

    test('SHA-256 credentials register when SHA-256 is offered', async () => {
      await stores.subscribers.put({ user: '1001', domain: 'example.com', password: 'secret', realm: 'sipfront' });
      const reg = make({ auth: { required: true, algorithms: ['SHA-256', 'MD5'], realm: 'sipfront' } });
      const r = await registerWithAuth(reg);
      expect(r.status).toBe(200);
    });

    test('right credentials register: 200 lists the binding with its expiry, plus Date', async () => {
      const r = await registerWithAuth(make());
      expect(r.status).toBe(200);
      expect(headersOf(r, 'Contact')).toEqual(['<sip:1001@192.168.1.20:5062>;expires=3600']);
      expect(headersOf(r, 'Date')).toEqual([new Date(clock.t).toUTCString()]);
      const [b] = await make().lookup('1001@EXAMPLE.com');
      expect(b).toMatchObject({ aor: '1001@example.com', uri: 'sip:1001@192.168.1.20:5062', source: PHONE, instanceId: 'i1', userAgent: 'TestPhone/1.0', callId: 'call-1@192.168.1.20', cseq: 1 });
      expect(toRouteTarget(b!)).toEqual({ destination: 'sip:203.0.113.7:5062;transport=udp', requestUri: 'sip:1001@192.168.1.20:5062' });
      expect(registrationView('1001@example.com', [b!], clock.t + 1000)).toEqual({
        aor: '1001@example.com',
        contacts: [{ uri: 'sip:1001@192.168.1.20:5062', expiresIn: 3599, source: 'udp:203.0.113.7:5062', userAgent: 'TestPhone/1.0', q: null, callId: 'call-1@192.168.1.20', path: [], instanceId: 'i1' }],
      });
      expect(failures).toEqual([]);
    });

    test('unknown user and wrong password get the same fresh 401 and count as failures', async () => {
      const reg = make();
      const wrong = await registerWithAuth(reg, {}, 'guess');
      const unknown = await registerWithAuth(reg, { user: '9999' }, 'secret');
      for (const r of [wrong, unknown]) {
        expect(r.status).toBe(401);
        expect(r.reason).toBe('Unauthorized');
        const ch = headersOf(r, 'WWW-Authenticate');
        expect(ch).toHaveLength(1);
        expect(ch[0]).not.toContain('stale');
      }
      expect(headersOf(wrong, 'WWW-Authenticate')[0]!.replace(/nonce="[^"]+"/, '')).toBe(headersOf(unknown, 'WWW-Authenticate')[0]!.replace(/nonce="[^"]+"/, ''));
      expect(failures).toEqual([{ source: PHONE, aor: '1001@example.com' }, { source: PHONE, aor: '9999@example.com' }]);
    });

    test('a stale nonce with the right password gets stale=true and is no failure', async () => {
      const reg = make();
      const first = await reg.handleRegister(registerMessage(), { source: PHONE });
      clock.t += 61_000;
      const r = await reg.handleRegister(registerMessage({ authorization: answer(first, '1001', 'secret', 'REGISTER', 'sip:example.com') }), { source: PHONE });
      expect(r.status).toBe(401);
      expect(headersOf(r, 'WWW-Authenticate')[0]).toMatch(/, stale=true$/);
      expect(failures).toEqual([]);
      // a nonce another secret signed (a restarted instance) is treated the same way
      const other = createRegistrar({ ...stores, nonces: createNonceService({ secret: 'other', lifetimeMs: 60_000, clock }), clock, instanceId: 'i2' }, options());
      const ch = await other.handleRegister(registerMessage(), { source: PHONE });
      const r2 = await reg.handleRegister(registerMessage({ authorization: answer(ch, '1001', 'secret', 'REGISTER', 'sip:example.com') }), { source: PHONE });
      expect(headersOf(r2, 'WWW-Authenticate')[0]).toMatch(/stale=true/);
      expect(failures).toEqual([]);
    });

    test('a replayed nonce-count is refused (stale challenge), a higher one accepted', async () => {
      const reg = make();
      const first = await reg.handleRegister(registerMessage(), { source: PHONE });
      const auth1 = answer(first, '1001', 'secret', 'REGISTER', 'sip:example.com', 1);
      expect((await reg.handleRegister(registerMessage({ authorization: auth1 }), { source: PHONE })).status).toBe(200);
      const replay = await reg.handleRegister(registerMessage({ authorization: auth1, cseq: 2 }), { source: PHONE });
      expect(replay.status).toBe(401);
      expect(headersOf(replay, 'WWW-Authenticate')[0]).toMatch(/stale=true/);
      const auth2 = answer(first, '1001', 'secret', 'REGISTER', 'sip:example.com', 2);
      expect((await reg.handleRegister(registerMessage({ authorization: auth2, cseq: 3 }), { source: PHONE })).status).toBe(200);
      expect(failures).toEqual([]);
    });

    test("one user's credentials cannot register another AOR (403, no failure)", async () => {
      const r = await registerWithAuth(make(), { user: '1002' }, 'secret', '1001');
      expect(r.status).toBe(403);
      expect(failures).toEqual([]);
      expect(await stores.contacts.count()).toBe(0);
    });

    test('RFC 4475 regaut01 (unknown Authorization scheme) is challenged like no credentials', async () => {
      const file = new URL('../../core/test/fixtures/torture/valid/regaut01.sip', import.meta.url);
      await stores.subscribers.put({ user: 'j.user', domain: 'example.com', password: 'x' });
      const r = await make().handleRegister(parseMessage(readFileSync(file)), { source: { transport: 'tcp', address: '192.0.2.253', port: 40000 } });
      expect(r.status).toBe(401);
      expect(headersOf(r, 'WWW-Authenticate')).toHaveLength(1);
      expect(failures).toEqual([]);
    });

    test('malformed Digest credentials get 400', async () => {
      const r = await make().handleRegister(registerMessage({ authorization: 'Digest username="1001", realm="example.com"' }), { source: PHONE });
      expect(r.status).toBe(400);
    });

    test('auth.required: false accepts without credentials (labs)', async () => {
      const r = await make({ auth: { required: false, algorithms: ['MD5'] } }).handleRegister(registerMessage({ user: 'anyone' }), { source: PHONE });
      expect(r.status).toBe(200);
    });
  });

  describe('RFC 3261 §10.3 with authentication off (the rules, not the challenge)', () => {
    const open = (o: Partial<RegistrarOptions> = {}): Registrar => make({ auth: { required: false, algorithms: ['MD5'] }, ...o });
    const send = (reg: Registrar, spec: RegisterSpec, source: Endpoint = PHONE) => reg.handleRegister(registerMessage(spec), { source });

    test('domain checks: unserved → 404; one of our addresses maps to the first domain; Require: unknown → 420', async () => {
      const reg = open();
      expect((await send(reg, { domain: 'other.org' })).status).toBe(404);
      const r = await send(reg, { domain: '198.51.100.1' });
      expect(r.status).toBe(200);
      expect(await reg.lookup('1001@example.com')).toHaveLength(1);
      expect(await reg.aorOf('sip:1001@198.51.100.1:5060')).toBe('1001@example.com');
      const bad = await send(reg, { extra: ['Require: path, foo'] });
      expect(bad.status).toBe(420);
      expect(headersOf(bad, 'Unsupported')).toEqual(['foo']);
    });

    test('expiry: the contact parameter over the Expires header over the default; capped at max', async () => {
      const reg = open({ expires: { min: 60, max: 3600, default: 1800, belowMin: 'reject' } });
      const r = await send(reg, {
        contacts: ['<sip:a@10.0.0.1>;expires=120', '<sip:b@10.0.0.1>', '<sip:c@10.0.0.1>;expires=99999'],
        expires: 300,
      });
      expect(headersOf(r, 'Contact').sort()).toEqual(['<sip:a@10.0.0.1>;expires=120', '<sip:b@10.0.0.1>;expires=300', '<sip:c@10.0.0.1>;expires=3600']);
      const d = await send(reg, { contacts: ['<sip:d@10.0.0.1>'], callId: 'x', cseq: 1 });
      expect(headersOf(d, 'Contact')).toContain('<sip:d@10.0.0.1>;expires=1800');
    });

    test('below min: reject → 423 with Min-Expires; raise → min granted', async () => {
      const r = await send(open(), { expires: 30 });
      expect(r.status).toBe(423);
      expect(headersOf(r, 'Min-Expires')).toEqual(['60']);
      const raised = await send(open({ expires: { min: 60, max: 3600, default: 3600, belowMin: 'raise' } }), { expires: 30 });
      expect(headersOf(raised, 'Contact')).toEqual(['<sip:1001@192.168.1.20:5062>;expires=60']);
    });

    test('refresh, remove one with expires=0, remove all with Contact: *', async () => {
      const reg = open();
      await send(reg, { contacts: ['<sip:a@10.0.0.1>', '<sip:b@10.0.0.1>'], cseq: 1 });
      clock.t += 10_000;
      const refreshed = await send(reg, { contacts: ['<sip:a@10.0.0.1>'], cseq: 2 });
      expect(headersOf(refreshed, 'Contact').sort()).toEqual(['<sip:a@10.0.0.1>;expires=3600', '<sip:b@10.0.0.1>;expires=3590']);
      const removed = await send(reg, { contacts: ['<sip:b@10.0.0.1>;expires=0'], cseq: 3 });
      expect(headersOf(removed, 'Contact')).toEqual(['<sip:a@10.0.0.1>;expires=3600']);
      expect((await send(reg, { contacts: ['*'], expires: 5, cseq: 4 })).status).toBe(400);
      expect((await send(reg, { contacts: ['*', '<sip:a@10.0.0.1>'], expires: 0, cseq: 4 })).status).toBe(400);
      const all = await send(reg, { contacts: ['*'], expires: 0, cseq: 4 });
      expect(all.status).toBe(200);
      expect(headersOf(all, 'Contact')).toEqual([]);
      expect(await reg.lookup('1001@example.com')).toEqual([]);
    });

    test('a REGISTER without Contact is a query', async () => {
      const reg = open();
      await send(reg, { contacts: ['<sip:a@10.0.0.1>;q=0.5', '<sip:b@10.0.0.1>;q=1'] });
      const q = await send(reg, { contacts: [], cseq: 2 });
      expect(q.status).toBe(200);
      expect(headersOf(q, 'Contact')).toEqual(['<sip:b@10.0.0.1>;expires=3600;q=1', '<sip:a@10.0.0.1>;expires=3600;q=0.5']);
      expect((await reg.lookup('1001@example.com')).map((b) => b.q)).toEqual([1, 0.5]);
    });

    test('same Call-ID with a CSeq not higher fails the whole request and changes nothing (§10.3 step 7)', async () => {
      const reg = open();
      await send(reg, { contacts: ['<sip:a@10.0.0.1>'], callId: 'c1', cseq: 5 });
      const again = await send(reg, { contacts: ['<sip:a@10.0.0.1>;expires=0', '<sip:new@10.0.0.1>'], callId: 'c1', cseq: 5 });
      expect(again.status).toBe(400);
      const older = await send(reg, { contacts: ['*'], expires: 0, callId: 'c1', cseq: 4 });
      expect(older.status).toBe(400);
      expect((await reg.lookup('1001@example.com')).map((b) => b.uri)).toEqual(['sip:a@10.0.0.1']);
      // another Call-ID (a rebooted phone) updates whatever its CSeq
      const other = await send(reg, { contacts: ['<sip:a@10.0.0.1>;expires=0'], callId: 'c2', cseq: 1 });
      expect(other.status).toBe(200);
      expect(await reg.lookup('1001@example.com')).toEqual([]);
    });

    test('contacts compare as URIs: host case and parameter order do not make a new binding', async () => {
      const reg = open();
      await send(reg, { contacts: ['<sip:a@Host.example;transport=TCP;foo=1>'], cseq: 1 });
      await send(reg, { contacts: ['<sip:a@host.example;foo=2;transport=tcp>'], cseq: 2 });
      expect(await reg.lookup('1001@example.com')).toHaveLength(1);
    });

    test('max_contacts: refuse → 503 Too Many Registered Contacts; refresh still allowed', async () => {
      const reg = open({ maxContacts: 2, maxContactsPolicy: 'refuse' });
      await send(reg, { contacts: ['<sip:a@10.0.0.1>', '<sip:b@10.0.0.1>'], cseq: 1 });
      const r = await send(reg, { contacts: ['<sip:c@10.0.0.1>'], cseq: 2 });
      expect([r.status, r.reason]).toEqual([503, 'Too Many Registered Contacts']);
      expect((await send(reg, { contacts: ['<sip:a@10.0.0.1>'], cseq: 3 })).status).toBe(200);
    });

    test('max_contacts: replace-oldest drops the binding that expires first', async () => {
      const reg = open({ maxContacts: 2, maxContactsPolicy: 'replace-oldest' });
      await send(reg, { contacts: ['<sip:a@10.0.0.1>'], callId: 'a', cseq: 1, expires: 600 });
      await send(reg, { contacts: ['<sip:b@10.0.0.1>'], callId: 'b', cseq: 1, expires: 3600 });
      const r = await send(reg, { contacts: ['<sip:c@10.0.0.1>'], callId: 'c', cseq: 1 });
      expect(r.status).toBe(200);
      expect((await reg.lookup('1001@example.com')).map((b) => b.uri).sort()).toEqual(['sip:b@10.0.0.1', 'sip:c@10.0.0.1']);
    });

    test('Path is stored and echoed when the UA supports it; the route target uses it', async () => {
      const reg = open();
      const r = await send(reg, { extra: ['Path: <sip:edge1.example.net;lr>', 'Path: <sip:edge2.example.net;lr>', 'Supported: path'] });
      expect(headersOf(r, 'Path')).toEqual(['<sip:edge1.example.net;lr>', '<sip:edge2.example.net;lr>']);
      const [b] = await reg.lookup('1001@example.com');
      expect(b!.path).toEqual(['<sip:edge1.example.net;lr>', '<sip:edge2.example.net;lr>']);
      expect(toRouteTarget(b!).route).toEqual(b!.path);
      const noSupport = await send(reg, { cseq: 2, extra: ['Path: <sip:edge1.example.net;lr>'] });
      expect(headersOf(noSupport, 'Path')).toEqual([]);
    });

    test('the source and listener of the REGISTER are kept (NAT, other instances)', async () => {
      const reg = open();
      const listener = { id: 'udp:10.0.0.5:5060', transport: 'udp' as const, host: '10.0.0.5', port: 5060, family: 4 as const };
      await reg.handleRegister(registerMessage({}), { source: { transport: 'tcp', address: '2001:db8::7', port: 40001 }, listener, connectionId: 'conn-9' });
      const [b] = await reg.lookup('1001@example.com');
      expect(b).toMatchObject({ source: { transport: 'tcp', address: '2001:db8::7', port: 40001 }, connectionId: 'conn-9', listener: { id: 'udp:10.0.0.5:5060', host: '10.0.0.5', port: 5060, transport: 'udp' } });
      expect(toRouteTarget(b!).destination).toBe('sip:[2001:db8::7]:40001;transport=tcp');
    });

    test('bindings expire on time; the sweep removes them and says so', async () => {
      const reg = open();
      const events: ContactChange[] = [];
      stores.contacts.onChange((e) => events.push(e));
      await send(reg, { expires: 60 });
      await Promise.resolve();
      expect(events).toEqual([{ aor: '1001@example.com', reason: 'register', instanceId: '' }]);
      clock.t += 59_999;
      expect(await reg.lookup('1001@example.com')).toHaveLength(1);
      clock.t += 1;
      expect(await reg.lookup('1001@example.com')).toEqual([]);
      expect(await stores.contacts.count()).toBe(0);
      expect(await stores.contacts.sweep()).toBe(1);
      await Promise.resolve();
      expect(events[1]).toEqual({ aor: '1001@example.com', reason: 'expired', instanceId: '' });
      expect(await stores.contacts.listAors()).toEqual([]);
    });

    test('store trouble: 500 with Retry-After, never an exception', async () => {
      const broken: ContactStore = {
        ...stores.contacts,
        update: () => Promise.reject(new RegistrarError('store-unavailable', 'redis down')),
      };
      const b = await make({ auth: { required: false, algorithms: ['MD5'] }, retryAfter: 20 }, broken).handleRegister(registerMessage(), { source: PHONE });
      expect([b.status, headersOf(b, 'Retry-After')]).toEqual([500, ['20']]);
      const weird: ContactStore = { ...stores.contacts, update: () => Promise.reject(new TypeError('bug')) };
      expect((await make({ auth: { required: false, algorithms: ['MD5'] } }, weird).handleRegister(registerMessage(), { source: PHONE })).status).toBe(500);
    });
  });

  describe('proxy authentication (routing step 8)', () => {
    const invite = (spec: RegisterSpec) => registerMessage({ method: 'INVITE', ruri: 'sip:0044123@example.com', contacts: ['<sip:1001@192.168.1.20:5062>'], ...spec });

    test('a From domain that is not served, or has no subscribers, is forbidden at once', async () => {
      const reg = make();
      expect(await reg.verifyProxyAuth(invite({ domain: 'other.org' }), PHONE)).toMatchObject({ ok: false, status: 403, result: 'forbidden' });
      await stores.domains.add('empty.org');
      expect(await reg.verifyProxyAuth(invite({ domain: 'empty.org' }), PHONE)).toMatchObject({ ok: false, status: 403 });
    });

    test('407, then the right answer passes; a wrong one is a counted failure', async () => {
      const reg = make();
      const ch = await reg.verifyProxyAuth(invite({}), PHONE);
      expect(ch).toMatchObject({ ok: false, status: 407, result: 'challenged' });
      if (ch.ok) return;
      expect(ch.headers.map(([n]) => n)).toEqual(['Proxy-Authenticate']);
      const wrong = await reg.verifyProxyAuth(invite({ authorization: answer(ch, '1001', 'nope', 'INVITE', 'sip:0044123@example.com') }), PHONE);
      expect(wrong).toMatchObject({ ok: false, status: 407, result: 'failed' });
      expect(failures).toEqual([{ source: PHONE, aor: '1001@example.com' }]);
      const ok = await reg.verifyProxyAuth(invite({ authorization: answer(ch, '1001', 'secret', 'INVITE', 'sip:0044123@example.com') }), PHONE);
      expect(ok).toEqual({ ok: true, user: '1001', domain: 'example.com', realm: 'example.com' });
    });

    test("the From user must be the authenticated user", async () => {
      const reg = make();
      const ch = await reg.verifyProxyAuth(invite({ fromUser: '1002' }), PHONE);
      if (ch.ok) throw new Error('expected a challenge');
      const r = await reg.verifyProxyAuth(invite({ fromUser: '1002', authorization: answer(ch, '1001', 'secret', 'INVITE', 'sip:0044123@example.com') }), PHONE);
      expect(r).toMatchObject({ ok: false, status: 403 });
      expect(failures).toEqual([]);
    });
  });
});
