import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ha1 } from '@sipfront/core';
import type { SipMessage } from '@sipfront/core';
import { createTrunkManager } from './manager.js';
import type { TrunkManager } from './manager.js';
import { TrunkError } from './errors.js';
import type { TrunkManagerDeps, TrunkSpec, TrunkStateEvent } from './types.js';
import { challenged, credentialsOf, fakeProvider, ok, reply, trunk, verifies } from '../test/helpers/fake-provider.js';
import type { Handler } from '../test/helpers/fake-provider.js';

const advance = (ms: number): Promise<unknown> => vi.advanceTimersByTimeAsync(ms);
const T0 = Date.parse('2030-01-01T00:00:00Z');

let open: TrunkManager[] = [];
beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
});
afterEach(async () => {
  for (const m of open) await m.close({ unregister: false });
  open = [];
  vi.useRealTimers();
});

interface Logged { level: string; obj: object; msg: string }

function rig(handler: Handler, trunks: TrunkSpec[] = [trunk()], deps: Partial<TrunkManagerDeps> = {}) {
  const provider = fakeProvider(handler);
  const events: TrunkStateEvent[] = [];
  const codes: Array<number | null> = [];
  const logs: Logged[] = [];
  const at = (level: string) => (obj: object, msg: string): void => void logs.push({ level, obj, msg });
  const m = createTrunkManager(
    {
      send: provider.send,
      localContact: () => '198.51.100.7:5060',
      onState: (e) => events.push(e),
      onResponse: (e) => codes.push(e.code),
      log: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') },
      requestTimeoutMs: 4000,
      ...deps,
    },
    trunks,
  );
  open.push(m);
  return { m, provider, events, codes, logs };
}

/** A registrar: challenges a REGISTER without valid credentials, then grants `expires` s. */
const registrar = (opts: { password?: string; realm?: string; grant?: number; nonce?: () => string } = {}): Handler => {
  let n = 0;
  return (req) => {
    if (verifies(req, opts.password ?? 'secret')) return ok(req, { contactExpires: opts.grant ?? Number(req.get('expires')) });
    return challenged(req, opts.realm ?? 'sip.provider.example', opts.nonce?.() ?? `nonce-${++n}`, { qop: ['auth'] });
  };
};

const states = (events: TrunkStateEvent[]): string[] =>
  events.map((e) => e.trunk.state).filter((s, i, a) => i === 0 || a[i - 1] !== s);

describe('registration', () => {
  it('sends a REGISTER of RFC 3261 §10.2 shape, answers the 401 with a digest that verifies, and is registered', async () => {
    const { m, provider, events, codes } = rig(registrar({ grant: 120 }));
    expect(m.get('p1')).toMatchObject({ state: 'unregistered', registeredUntil: null, lastCode: null, nextAttemptAt: null });
    m.start();
    await advance(1);
    expect(provider.sent).toHaveLength(2);
    const [first, second] = provider.sent.map((s) => s.req) as [SipMessage, SipMessage];
    expect(first.method).toBe('REGISTER');
    expect(first.uri).toBe('sip:192.0.2.10');
    expect(provider.sent[0]!.destination).toBe('sip:192.0.2.10');
    expect(first.get('from')).toMatch(/^<sip:200200@sip\.provider\.example>;tag=[0-9a-f]+$/);
    expect(first.get('to')).toBe('<sip:200200@sip.provider.example>');
    expect(first.get('contact')).toBe('<sip:200200@198.51.100.7:5060>');
    expect(first.get('expires')).toBe('3600');
    expect(first.cseq).toEqual({ seq: 1, method: 'REGISTER' });
    expect(first.has('authorization')).toBe(false);
    // the challenged REGISTER again: same Call-ID and From tag, CSeq + 1 (§10.2.4), credentials that verify
    expect(second.callId).toBe(first.callId);
    expect(second.fromTag).toBe(first.fromTag);
    expect(second.cseq).toEqual({ seq: 2, method: 'REGISTER' });
    expect(verifies(second, 'secret')).toBe(true);
    expect(credentialsOf(second)).toMatchObject({ username: '200200', realm: 'sip.provider.example', uri: 'sip:192.0.2.10', qop: 'auth', nc: '00000001' });
    const v = m.get('p1')!;
    expect(v).toEqual({
      id: 'p1', registrar: 'sip:192.0.2.10', user: '200200', state: 'registered',
      registeredUntil: new Date(T0 + 120_000).toISOString(), lastCode: 200, lastReason: 'OK',
      nextAttemptAt: new Date(T0 + 102_000).toISOString(),
    });
    expect(JSON.stringify(m.list())).not.toMatch(/secret|password|ha1/);
    expect(states(events)).toEqual(['unregistered', 'registering', 'registered']);
    expect(events.at(-1)?.registered).toBe(true);
    expect(codes).toEqual([401, 200]);
  });

  it('refreshes at 85% of what the registrar granted (not what it asked), reusing the nonce with nc counting up', async () => {
    const { m, provider } = rig(registrar({ grant: 100 }));
    m.start();
    await advance(1);
    expect(provider.sent).toHaveLength(2);
    await advance(84_000);
    expect(provider.sent).toHaveLength(2);
    await advance(1_100);
    expect(provider.sent).toHaveLength(3);
    const refresh = provider.sent[2]!;
    expect(refresh.at - T0).toBeGreaterThanOrEqual(85_000 - 50);
    expect(refresh.at - T0).toBeLessThanOrEqual(85_000 + 50);
    expect(refresh.req.cseq?.seq).toBe(3);
    expect(refresh.req.callId).toBe(provider.sent[0]!.req.callId);
    expect(verifies(refresh.req, 'secret')).toBe(true);
    const c1 = credentialsOf(provider.sent[1]!.req);
    const c2 = credentialsOf(refresh.req);
    expect(c2.nonce).toBe(c1.nonce);
    expect(c2.nc).toBe('00000002');
    expect(c2.cnonce).not.toBe(c1.cnonce);
    expect(m.get('p1')?.registeredUntil).toBe(new Date(refresh.at + 100_000).toISOString());
  });

  it('takes the Expires header when the Contact carries no expires, and stays registered across refreshes', async () => {
    const { m, provider, events } = rig((req) => (verifies(req, 'secret') ? ok(req, { expiresHeader: 40 }) : challenged(req, 'r', 'n1', { qop: ['auth'] })));
    m.start();
    await advance(1);
    expect(m.get('p1')?.registeredUntil).toBe(new Date(T0 + 40_000).toISOString());
    await advance(34_001);
    expect(provider.sent).toHaveLength(3);
    expect(states(events)).toEqual(['unregistered', 'registering', 'registered']);
  });

  it('answers a stale=true challenge at once with the new nonce', async () => {
    let stale = true;
    const { m, provider } = rig((req) => {
      if (!req.has('authorization')) return challenged(req, 'r', 'old', { qop: ['auth'] });
      if (stale) {
        stale = false;
        return challenged(req, 'r', 'fresh', { qop: ['auth'], stale: true });
      }
      return verifies(req, 'secret') ? ok(req) : reply(req, 403);
    });
    m.start();
    await advance(1);
    expect(provider.sent).toHaveLength(3);
    expect(credentialsOf(provider.sent[2]!.req).nonce).toBe('fresh');
    expect(m.get('p1')?.state).toBe('registered');
  });

  it('a 401 to credentials reused from the last challenge is answered (the nonce expired), not taken as refused', async () => {
    let current = 'n1';
    const { m, provider } = rig((req) => {
      const c = req.has('authorization') ? credentialsOf(req) : undefined;
      if (c !== undefined && c.nonce === current && verifies(req, 'secret')) {
        current = current === 'n1' ? 'n2' : current; // n1 expires after its first use
        return ok(req, { contactExpires: 100 });
      }
      return challenged(req, 'r', current, { qop: ['auth'] });
    });
    m.start();
    await advance(1);
    await advance(85_001);
    expect(provider.sent.map((s) => (s.req.has('authorization') ? credentialsOf(s.req).nonce : '-'))).toEqual(['-', 'n1', 'n1', 'n2']);
    expect(m.get('p1')?.state).toBe('registered');
  });

  it('answers MD5 without qop, SHA-256 with a password, and MD5 from an HA1', async () => {
    const noQop = rig((req) => (verifies(req, 'secret') ? ok(req) : challenged(req, 'r', 'n', { qop: [] })), [trunk({ id: 'a' })]);
    const sha = rig((req) => (verifies(req, 'secret') ? ok(req) : challenged(req, 'r', 'n', { algorithm: 'SHA-256' })), [trunk({ id: 'b' })]);
    const byHa1 = rig((req) => (verifies(req, 'secret') ? ok(req) : challenged(req, 'r', 'n')), [trunk({ id: 'c', password: null, ha1: ha1('MD5', '200200', 'r', 'secret') })]);
    for (const r of [noQop, sha, byHa1]) r.m.start();
    await advance(1);
    expect(noQop.m.get('a')?.state).toBe('registered');
    expect(credentialsOf(noQop.provider.sent[1]!.req).qop).toBeUndefined();
    expect(sha.m.get('b')?.state).toBe('registered');
    expect(credentialsOf(sha.provider.sent[1]!.req).algorithm).toBe('SHA-256');
    expect(byHa1.m.get('c')?.state).toBe('registered');
  });

  it('an HA1 cannot answer a SHA-256-only challenge: rejected, saying so', async () => {
    const { m } = rig((req) => challenged(req, 'r', 'n', { algorithm: 'SHA-256' }), [trunk({ password: null, ha1: ha1('MD5', '200200', 'r', 'secret') })]);
    m.start();
    await advance(1);
    expect(m.get('p1')).toMatchObject({ state: 'rejected', lastCode: 401 });
    expect(m.get('p1')?.lastReason).toMatch(/no usable digest challenge/);
  });

  it('uses auth_user for the digest username, not user', async () => {
    const { m, provider } = rig(registrar(), [trunk({ authUser: 'acc-200200' })]);
    m.start();
    await advance(1);
    expect(credentialsOf(provider.sent[1]!.req).username).toBe('acc-200200');
    expect(provider.sent[1]!.req.get('from')).toMatch(/^<sip:200200@/);
  });

  it('answers 423 with the Min-Expires it names', async () => {
    const { m, provider } = rig((req) => {
      if (!verifies(req, 'secret')) return challenged(req, 'r', 'n', { qop: ['auth'] });
      if (Number(req.get('expires')) < 600) return reply(req, 423, 'Interval Too Brief', [['Min-Expires', '600']]);
      return ok(req, { contactExpires: 600 });
    }, [trunk({ expires: 60 })]);
    m.start();
    await advance(1);
    expect(provider.sent.map((s) => s.req.get('expires'))).toEqual(['60', '60', '600']);
    expect(verifies(provider.sent[2]!.req, 'secret')).toBe(true);
    expect(m.get('p1')).toMatchObject({ state: 'registered', registeredUntil: new Date(T0 + 600_000).toISOString() });
    // the refresh keeps asking for what the registrar accepts
    await advance(510_001);
    expect(provider.sent.at(-1)?.req.get('expires')).toBe('600');
  });

  it('sends to the outbound proxy with a loose Route, and a non-UDP Contact names its transport', async () => {
    const { m, provider } = rig(registrar(), [trunk({ registrar: 'sip:sip.provider.example;transport=tcp', outboundProxy: 'sip:192.0.2.20:5070;transport=tcp' })]);
    m.start();
    await advance(1);
    const s = provider.sent[0]!;
    expect(s.destination).toBe('sip:192.0.2.20:5070;transport=tcp');
    expect(s.req.uri).toBe('sip:sip.provider.example;transport=tcp');
    expect(s.req.get('route')).toBe('<sip:192.0.2.20:5070;transport=tcp;lr>');
    expect(s.req.get('contact')).toBe('<sip:200200@198.51.100.7:5060;transport=tcp>');
  });

  it('keeps several trunks to one provider apart: own Call-ID, own Contact', async () => {
    const { m, provider } = rig(registrar(), [trunk({ id: 'a', user: '100', contactUser: '100' }), trunk({ id: 'b', user: '200', contactUser: '200' })]);
    m.start();
    await advance(1);
    const a = provider.sent.filter((s) => s.req.get('contact')!.includes('sip:100@'));
    const b = provider.sent.filter((s) => s.req.get('contact')!.includes('sip:200@'));
    expect(a).toHaveLength(2);
    expect(b).toHaveLength(2);
    expect(a[0]!.req.callId).not.toBe(b[0]!.req.callId);
    expect(m.list().map((v) => v.state)).toEqual(['registered', 'registered']);
  });
});

describe('failures and retries', () => {
  it('realm mismatch: rejected, the log names both realms, nothing more before forbidden_interval', async () => {
    const { m, provider, logs } = rig(registrar({ realm: 'other.example' }), [trunk({ realm: 'sip.provider.example', retry: { forbiddenInterval: 60_000 } })]);
    m.start();
    await advance(1);
    expect(provider.sent).toHaveLength(1);
    expect(m.get('p1')).toMatchObject({ state: 'rejected', lastCode: 401, nextAttemptAt: new Date(T0 + 60_000).toISOString() });
    expect(m.get('p1')?.lastReason).toContain('other.example');
    const line = logs.find((l) => l.level === 'warn' && l.msg.includes('realm'));
    expect(line?.msg).toContain('"other.example"');
    expect(line?.msg).toContain('"sip.provider.example"');
    await advance(59_000);
    expect(provider.sent).toHaveLength(1);
    await advance(1_001);
    expect(provider.sent).toHaveLength(2);
  });

  it('a configured realm that matches one of several challenges is answered', async () => {
    const { m, provider } = rig((req) => {
      if (verifies(req, 'secret')) return ok(req);
      const r = challenged(req, 'first.example', 'n1', { qop: ['auth'] });
      r.append('WWW-Authenticate', challenged(req, 'mine.example', 'n2', { qop: ['auth'] }).get('www-authenticate')!);
      return r;
    }, [trunk({ realm: 'mine.example' })]);
    m.start();
    await advance(1);
    expect(credentialsOf(provider.sent[1]!.req).realm).toBe('mine.example');
    expect(m.get('p1')?.state).toBe('registered');
  });

  it('wrong password: a second challenge without stale is permanent; the next REGISTER waits forbidden_interval', async () => {
    const { m, provider } = rig(registrar({ password: 'not-ours' }), [trunk({ retry: { forbiddenInterval: 300_000, interval: 20_000 } })]);
    m.start();
    await advance(1);
    expect(provider.sent).toHaveLength(2);
    expect(m.get('p1')).toMatchObject({ state: 'rejected', lastCode: 401, nextAttemptAt: new Date(T0 + 300_000).toISOString() });
    expect(m.get('p1')?.lastReason).toMatch(/credentials refused/);
    await advance(299_000);
    expect(provider.sent).toHaveLength(2);
    await advance(1_001);
    expect(provider.sent).toHaveLength(4);
    expect(provider.sent[2]!.at - provider.sent[1]!.at).toBeGreaterThanOrEqual(300_000 - 10);
  });

  it('403 → rejected and retried only after forbidden_interval; 0 stops until an operator retries', async () => {
    const a = rig((req) => reply(req, 403, 'Forbidden'), [trunk({ retry: { forbiddenInterval: 120_000 } })]);
    a.m.start();
    await advance(1);
    expect(a.m.get('p1')).toMatchObject({ state: 'rejected', lastCode: 403, lastReason: 'Forbidden' });
    await advance(119_990);
    expect(a.provider.sent).toHaveLength(1);
    await advance(20);
    expect(a.provider.sent).toHaveLength(2);

    const b = rig((req) => reply(req, 403, 'Forbidden'), [trunk({ id: 'p2', retry: { forbiddenInterval: 0 } })]);
    b.m.start();
    await advance(1);
    expect(b.m.get('p2')).toMatchObject({ state: 'rejected', nextAttemptAt: null });
    await advance(3_600_000);
    expect(b.provider.sent).toHaveLength(1);
    b.provider.handle(registrar());
    expect(b.m.register('p2').id).toBe('p2');
    await advance(1);
    expect(b.m.get('p2')?.state).toBe('registered');
  });

  it('no answer: retrying, one attempt per interval, registered again within one interval after the provider is back', async () => {
    const { m, provider, events } = rig(() => null, [trunk({ retry: { interval: 20_000 } })], { requestTimeoutMs: 4000 });
    m.start();
    await advance(1);
    await advance(4_000);
    expect(m.get('p1')).toMatchObject({ state: 'retrying', lastCode: null, lastReason: 'timeout' });
    await advance(100_000);
    const t = provider.times();
    for (let i = 1; i < t.length; i++) expect(t[i]! - t[i - 1]!).toBeGreaterThanOrEqual(4_000 + 20_000 - 5);
    expect(t.length).toBe(5); // at 0, 24, 48, 72, 96 s
    provider.handle(registrar());
    const back = Date.now();
    await advance(24_001);
    expect(m.get('p1')?.state).toBe('registered');
    const lastSent = provider.sent.at(-1)!.at;
    expect(lastSent - back).toBeLessThanOrEqual(24_000);
    expect(states(events)).toEqual(['unregistered', 'registering', 'retrying', 'registering', 'retrying', 'registering', 'retrying', 'registering', 'retrying', 'registering', 'retrying', 'registering', 'registered']);
  });

  it('fast failures never come faster than the interval', async () => {
    const { m, provider } = rig((req) => reply(req, 500, 'Server Internal Error'), [trunk({ retry: { interval: 10_000 } })]);
    m.start();
    await advance(60_001);
    expect(provider.sent).toHaveLength(7);
    const t = provider.times();
    for (let i = 1; i < t.length; i++) expect(t[i]! - t[i - 1]!).toBeGreaterThanOrEqual(10_000);
    expect(m.get('p1')).toMatchObject({ state: 'retrying', lastCode: 500 });
  });

  it('Retry-After longer than the interval wins (503, and a 6xx that carries one)', async () => {
    const { m, provider } = rig((req) => reply(req, 503, 'Service Unavailable', [['Retry-After', '90 (maintenance)']]), [trunk({ retry: { interval: 20_000 } })]);
    m.start();
    await advance(1);
    expect(m.get('p1')).toMatchObject({ state: 'retrying', nextAttemptAt: new Date(T0 + 90_000).toISOString() });
    provider.handle((req) => reply(req, 600, 'Busy Everywhere', [['Retry-After', '5']]));
    await advance(90_000);
    expect(provider.sent).toHaveLength(2);
    expect(m.get('p1')).toMatchObject({ state: 'retrying', lastCode: 600 });
    expect(m.get('p1')?.nextAttemptAt).toBe(new Date(provider.sent.at(-1)!.at + 20_000).toISOString());
  });

  it('classes failures as Asterisk does', async () => {
    const cases: Array<[number, Array<[string, string]>, string]> = [
      [408, [], 'retrying'], [500, [], 'retrying'], [502, [], 'retrying'], [503, [], 'retrying'], [504, [], 'retrying'],
      [603, [['Retry-After', '30']], 'retrying'], [603, [], 'rejected'], [404, [], 'rejected'], [501, [], 'rejected'],
      [480, [], 'rejected'], [302, [], 'rejected'],
    ];
    for (const [i, [code, extra, expected]] of cases.entries()) {
      const { m } = rig((req) => reply(req, code, undefined, extra), [trunk({ id: `t${i}` })]);
      m.start();
      await advance(1);
      expect({ code, state: m.get(`t${i}`)?.state }).toEqual({ code, state: expected });
    }
  });

  it('max_attempts: gives up (rejected, no next attempt) after that many failed attempts in a row', async () => {
    const { m, provider, logs } = rig((req) => reply(req, 503), [trunk({ retry: { interval: 1_000, maxAttempts: 3 } })]);
    m.start();
    await advance(60_000);
    expect(provider.sent).toHaveLength(3);
    expect(m.get('p1')).toMatchObject({ state: 'rejected', nextAttemptAt: null, lastCode: 503 });
    expect(logs.some((l) => l.msg.includes('giving up after 3 attempts'))).toBe(true);
  });

  it('a failed refresh retries while the old binding is still counted until it runs out', async () => {
    const { m, provider } = rig(registrar({ grant: 100 }), [trunk({ retry: { interval: 20_000 } })], { requestTimeoutMs: 2_000 });
    m.start();
    await advance(1);
    provider.handle(() => null);
    await advance(85_000 + 2_000 + 1);
    const v = m.get('p1')!;
    expect(v).toMatchObject({ state: 'retrying', registeredUntil: new Date(T0 + 100_000).toISOString() });
  });
});

describe('start, operator actions, run-time changes, stop', () => {
  it('spreads first registrations over initial_delay_max', async () => {
    const trunks = Array.from({ length: 20 }, (_, i) => trunk({ id: `t${i}`, user: `u${i}`, contactUser: `u${i}`, retry: { initialDelayMax: 2_000 } }));
    const { m, provider } = rig(registrar(), trunks);
    m.start();
    await advance(2_001);
    const firsts = new Map<string, number>();
    for (const s of provider.sent) if (!firsts.has(s.req.callId!)) firsts.set(s.req.callId!, s.at - T0);
    expect(firsts.size).toBe(20);
    for (const t of firsts.values()) expect(t).toBeLessThanOrEqual(2_000);
    expect(new Set(firsts.values()).size).toBeGreaterThan(1);
  });

  it('the initial delay comes from the injected random source', async () => {
    const { m, provider } = rig(registrar(), [trunk({ retry: { initialDelayMax: 2_000 } })], { random: () => 0.5 });
    m.start();
    expect(m.get('p1')?.nextAttemptAt).toBe(new Date(T0 + 1_000).toISOString());
    await advance(999);
    expect(provider.sent).toHaveLength(0);
    await advance(2);
    expect(provider.sent).toHaveLength(2);
  });

  it('register(id) tries now, never while an attempt is in flight; unknown id throws', async () => {
    const { m, provider } = rig(() => null, [trunk({ retry: { interval: 60_000 } })], { requestTimeoutMs: 4_000 });
    m.start();
    await advance(1);
    m.register('p1');
    m.register('p1');
    expect(provider.sent).toHaveLength(1);
    await advance(4_001);
    m.register('p1');
    await advance(1);
    expect(provider.sent).toHaveLength(2);
    expect(() => m.register('nope')).toThrow(TrunkError);
  });

  it('put() at run time registers a new trunk at once; an unchanged registration keeps its binding', async () => {
    const { m, provider } = rig(registrar(), []);
    m.start();
    m.put(trunk({ id: 'late' }));
    await advance(1);
    expect(m.get('late')?.state).toBe('registered');
    const n = provider.sent.length;
    m.put(trunk({ id: 'late', routeTo: 2, inboundFrom: ['203.0.113.0/24'] }));
    await advance(1);
    expect(provider.sent).toHaveLength(n);
    expect(m.get('late')?.state).toBe('registered');
    expect(m.spec('late')?.routeTo).toBe(2);
  });

  it('put() with new credentials unregisters the old binding and registers anew with a new Call-ID', async () => {
    const { m, provider } = rig(registrar({ password: 'secret' }));
    m.start();
    await advance(1);
    const oldCallId = provider.sent[0]!.req.callId;
    provider.handle((req) => (req.get('expires') === '0' ? ok(req) : registrar({ password: 'new' })(req, 0)));
    m.put(trunk({ password: 'new' }));
    await advance(1);
    const bye = provider.sent.find((s) => s.req.get('expires') === '0');
    expect(bye?.req.callId).toBe(oldCallId);
    expect(provider.sent.some((s) => s.req.callId !== oldCallId)).toBe(true);
    expect(m.get('p1')?.state).toBe('registered');
  });

  it('remove() unregisters (Expires: 0, same Call-ID, next CSeq, same Contact) and forgets the trunk', async () => {
    const { m, provider, events } = rig(registrar());
    m.start();
    await advance(1);
    expect(await m.remove('p1')).toBe(true);
    const last = provider.sent.at(-1)!.req;
    expect(last.get('expires')).toBe('0');
    expect(last.get('contact')).toBe('<sip:200200@198.51.100.7:5060>');
    expect(last.callId).toBe(provider.sent[0]!.req.callId);
    expect(last.cseq?.seq).toBe(3);
    expect(verifies(last, 'secret')).toBe(true);
    expect(m.get('p1')).toBeUndefined();
    expect(events.at(-1)).toMatchObject({ trunk: { state: 'unregistered' }, registered: false });
    expect(await m.remove('p1')).toBe(false);
  });

  it('close() sends Expires: 0 for every registered trunk, answering a challenge, and then nothing runs', async () => {
    const { m, provider } = rig(registrar(), [trunk({ id: 'a', contactUser: 'a' }), trunk({ id: 'b', contactUser: 'b' }), trunk({ id: 'c', contactUser: 'c' })]);
    m.start();
    await advance(1);
    provider.handle((req) => (req.get('expires') === '0' && req.has('authorization') ? (verifies(req, 'secret') ? ok(req) : reply(req, 403)) : challenged(req, 'r', 'n9', { qop: ['auth'] })));
    const done = m.close();
    await advance(1);
    await done;
    const zeros = provider.sent.filter((s) => s.req.get('expires') === '0');
    expect(new Set(zeros.map((z) => z.req.callId)).size).toBe(3);
    expect(m.list().map((v) => v.state)).toEqual(['unregistered', 'unregistered', 'unregistered']);
    const n = provider.sent.length;
    await advance(7_200_000);
    expect(provider.sent).toHaveLength(n);
  });

  it('close() during a refresh waits for its answer before the Expires: 0 (RFC 3261 §10.2)', async () => {
    const provider = fakeProvider(registrar({ grant: 100 }));
    let slow = false;
    // the provider answers REGISTERs 500 ms late once `slow` is set
    const send: TrunkManagerDeps['send'] = (req, destination, timeoutMs) => {
      const p = provider.send(req, destination, timeoutMs);
      return slow ? new Promise((resolve) => setTimeout(() => resolve(p), 500)) : p;
    };
    const { m } = rig(registrar(), [trunk()], { send });
    m.start();
    await advance(1);
    expect(m.get('p1')).toMatchObject({ state: 'registered' });
    slow = true;
    await advance(85_000); // the refresh (85 % of 100 s) is on its way
    const before = provider.sent.length;
    expect(provider.sent.at(-1)!.req.get('expires')).not.toBe('0');
    const done = m.close();
    await advance(400);
    expect(provider.sent).toHaveLength(before);
    await advance(200); // the refresh's 200 at +500 ms; only then the Expires: 0
    expect(provider.sent).toHaveLength(before + 1);
    expect(provider.sent.at(-1)!.req.get('expires')).toBe('0');
    await advance(600);
    await done;
    expect(m.get('p1')).toMatchObject({ state: 'unregistered', lastCode: 200 });
  });

  it('close() during a refresh that offered a new Contact: the Expires: 0 names the old and the new one', async () => {
    const provider = fakeProvider(registrar({ grant: 100 }));
    let slow = false;
    const send: TrunkManagerDeps['send'] = (req, destination, timeoutMs) => {
      const p = provider.send(req, destination, timeoutMs);
      return slow ? new Promise((resolve) => setTimeout(() => resolve(p), 500)) : p;
    };
    let local = '198.51.100.7:5060';
    const { m } = rig(registrar(), [trunk()], { send, localContact: () => local });
    m.start();
    await advance(1);
    expect(m.get('p1')).toMatchObject({ state: 'registered' });
    // the address changes; the refresh offers it, and its answer comes only after close()
    local = '203.0.113.9:5070';
    slow = true;
    await advance(85_000);
    expect(provider.sent.at(-1)!.req.get('contact')).toBe('<sip:200200@203.0.113.9:5070>');
    const done = m.close();
    await advance(1200);
    await done;
    const bye = provider.sent.filter((x) => x.req.get('expires') === '0').at(-1)!.req;
    expect(bye.getAll('contact')).toEqual(['<sip:200200@198.51.100.7:5060>', '<sip:200200@203.0.113.9:5070>']);
  });

  it('close() during a refresh the provider never answers: bounded, and nothing is sent after the bound', async () => {
    const { m, provider } = rig(registrar({ grant: 100 }), [trunk()], { unregisterTimeoutMs: 1_500 });
    m.start();
    await advance(1);
    provider.handle(() => null);
    await advance(85_000);
    const before = provider.sent.length;
    let finished = false;
    void m.close().then(() => (finished = true));
    await advance(1_600);
    expect(finished).toBe(true);
    expect(m.get('p1')).toMatchObject({ state: 'unregistered', lastCode: null });
    await advance(10_000); // the refresh times out (requestTimeoutMs 4000): no late Expires: 0
    expect(provider.sent).toHaveLength(before);
  });

  it('close() is bounded even when the provider never answers', async () => {
    const { m, provider } = rig(registrar(), [trunk()], { unregisterTimeoutMs: 1_500 });
    m.start();
    await advance(1);
    provider.handle(() => 'hang');
    let finished = false;
    void m.close().then(() => (finished = true));
    await advance(1_400);
    expect(finished).toBe(false);
    await advance(200);
    expect(finished).toBe(true);
    expect(m.get('p1')).toMatchObject({ state: 'unregistered', registeredUntil: null });
  });

  it('close() does not unregister trunks that were never registered', async () => {
    const { m, provider } = rig((req) => reply(req, 403));
    m.start();
    await advance(1);
    await m.close();
    expect(provider.sent).toHaveLength(1);
  });

  it('put() refuses a bad trunk, naming the field', () => {
    const { m } = rig(registrar(), []);
    expect(() => m.put(trunk({ registrar: 'http://x' }))).toThrow(expect.objectContaining({ code: 'invalid-trunk', field: 'registrar' }));
    expect(() => m.put(trunk({ inboundFrom: ['10.0.0.0/33'] }))).toThrow(expect.objectContaining({ field: 'inboundFrom[0]' }));
    expect(() => m.put(trunk({ password: null }))).toThrow(expect.objectContaining({ field: 'password' }));
  });
});

describe('followers (workers: N)', () => {
  const resolver = { resolve: (uri: string) => (uri.includes('provider.example') ? [{ transport: 'udp' as const, address: '192.0.2.50', port: 5060 }] : []) };

  it("a follower routes as the registering manager does from its snapshot, and sends nothing itself", async () => {
    const leader = rig(registrar(), [trunk({ registrar: 'sip:sip.provider.example', routeTo: 2 })], { resolver });
    const follower = rig(registrar(), [], { follower: true });
    leader.m.start();
    await advance(1);
    expect(leader.m.isTrunkSource({ address: '192.0.2.50' })).toBe(true);
    // before it has the snapshot the follower knows no provider
    expect(follower.m.matchInbound({ address: '192.0.2.50' }, 'x')).toBeUndefined();
    follower.m.follow(leader.m.snapshot());
    expect(follower.m.matchInbound({ address: '192.0.2.50' }, 'x')).toMatchObject({ id: 'p1', routeTo: 2 });
    expect(follower.m.isTrunkSource({ address: '192.0.2.50' })).toBe(true);
    expect(follower.m.get('p1')).toMatchObject({ state: 'registered' });
    expect(follower.m.outboundRequestFor('p1', leader.provider.sent[0]!.req)).toBeDefined();
    // start, register and close send nothing from a follower
    follower.m.start();
    follower.m.register('p1');
    await advance(3_600_000);
    await follower.m.close();
    expect(follower.provider.sent).toHaveLength(0);
  });

  it('a follower forgets a binding that ran out, and the trunks the snapshot no longer names', async () => {
    const leader = rig(registrar({ grant: 60 }), [trunk({ registrar: 'sip:sip.provider.example' })], { resolver });
    const follower = rig(registrar(), [], { follower: true });
    leader.m.start();
    await advance(1);
    follower.m.follow(leader.m.snapshot());
    expect(follower.m.isTrunkSource({ address: '192.0.2.50' })).toBe(true);
    leader.provider.handle(() => null);
    // the leader's refreshes go unanswered: without a newer snapshot the follower's copy runs out too
    await advance(61_000);
    expect(follower.m.isTrunkSource({ address: '192.0.2.50' })).toBe(false);
    follower.m.follow(leader.m.snapshot());
    follower.m.follow([]);
    expect(follower.m.list()).toEqual([]);
    // the removal is reported (the registered gauge goes to 0 with it)
    expect(follower.events.at(-1)).toMatchObject({ trunk: { id: 'p1', state: 'unregistered' }, registered: false });
    expect(follower.provider.sent).toHaveLength(0);
  });
});

describe('inbound matching (contract step 7)', () => {
  const resolver = { resolve: (uri: string) => (uri.includes('provider.example') ? [{ transport: 'udp' as const, address: '192.0.2.50', port: 5060 }] : []) };

  it('matches registered trunks at the provider address by contact_user, else the only trunk there', async () => {
    const { m } = rig(registrar(), [
      trunk({ id: 'a', user: '100', contactUser: '100', routeTo: 1 }),
      trunk({ id: 'b', user: '200', contactUser: '200', routeTo: 2 }),
      trunk({ id: 'c', registrar: 'sip:192.0.2.11:5080', routeTo: 3 }),
    ]);
    // before registration nobody is matched
    expect(m.matchInbound({ address: '192.0.2.10' }, '100')).toBeUndefined();
    m.start();
    await advance(1);
    expect(m.matchInbound({ address: '192.0.2.10', port: 5099, transport: 'udp' }, '200')).toMatchObject({ id: 'b', routeTo: 2 });
    expect(m.matchInbound({ address: '192.0.2.10' }, '100')?.id).toBe('a');
    // two trunks at that address and no contact_user dialled: no trunk
    expect(m.matchInbound({ address: '192.0.2.10' }, '999')).toBeUndefined();
    // one trunk at that address: it, whatever was dialled
    expect(m.matchInbound({ address: '192.0.2.11' }, '4930123')?.id).toBe('c');
    expect(m.matchInbound({ address: '::ffff:192.0.2.11' }, '')?.id).toBe('c');
    // a contact_user dialled from anywhere else gets no trunk treatment
    expect(m.matchInbound({ address: '203.0.113.9' }, '100')).toBeUndefined();
    expect(m.isTrunkSource({ address: '192.0.2.10' })).toBe(true);
    expect(m.isTrunkSource({ address: '203.0.113.9' })).toBe(false);
  });

  it('counts inbound_from CIDRs and resolved host names, only while registered', async () => {
    const { m, provider } = rig(registrar(), [trunk({ registrar: 'sip:sip.provider.example', inboundFrom: ['203.0.113.0/28'] })], { resolver });
    m.start();
    await advance(1);
    expect(m.matchInbound({ address: '192.0.2.50' }, 'x')?.id).toBe('p1');
    expect(m.matchInbound({ address: '203.0.113.14' }, 'x')?.id).toBe('p1');
    expect(m.matchInbound({ address: '203.0.113.16' }, 'x')).toBeUndefined();
    provider.handle((req) => (req.get('expires') === '0' ? ok(req) : reply(req, 403)));
    await m.remove('p1');
    expect(m.matchInbound({ address: '192.0.2.50' }, 'x')).toBeUndefined();
  });

  it('re-resolves on each registration and keeps the old addresses when DNS fails', async () => {
    let address = '192.0.2.50';
    let fail = false;
    const dns = { resolve: async () => (fail ? Promise.reject(new Error('SERVFAIL')) : [{ transport: 'udp' as const, address, port: 5060 }]) };
    const { m } = rig(registrar({ grant: 100 }), [trunk({ registrar: 'sip:sip.provider.example' })], { resolver: dns });
    m.start();
    await advance(1);
    expect(m.isTrunkSource({ address: '192.0.2.50' })).toBe(true);
    address = '192.0.2.51';
    await advance(85_001);
    expect(m.isTrunkSource({ address: '192.0.2.51' })).toBe(true);
    expect(m.isTrunkSource({ address: '192.0.2.50' })).toBe(false);
    fail = true;
    await advance(85_001);
    expect(m.get('p1')?.state).toBe('registered');
    expect(m.isTrunkSource({ address: '192.0.2.51' })).toBe(true);
  });

  it('an outbound proxy address counts as the provider too', async () => {
    const { m } = rig(registrar(), [trunk({ outboundProxy: 'sip:192.0.2.99' })]);
    m.start();
    await advance(1);
    expect(m.matchInbound({ address: '192.0.2.99' }, '')?.id).toBe('p1');
    expect(m.matchInbound({ address: '192.0.2.10' }, '')?.id).toBe('p1');
  });
});
