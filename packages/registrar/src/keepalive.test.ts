// The keep-alive's scheduling and failure logic over the memory contact store, with fake timers:
// who is pinged, when, what removes a binding, and that close() stops everything.
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { contactKey } from './bindings.js';
import { cameFromBehindNat, createKeepalive } from './keepalive.js';
import type { Keepalive, KeepaliveAnswer, KeepaliveOptions, KeepalivePing } from './keepalive.js';
import { openMemoryContactStore } from './memory/index.js';
import type { Binding, ContactChange, ContactStore } from './types.js';

const INTERVAL = 1_000;

const binding = (o: Partial<Binding> & { uri?: string } = {}): Binding => {
  const uri = o.uri ?? 'sip:1001@192.168.1.20:5062';
  return {
    aor: '1001@example.com',
    uri,
    key: contactKey(uri),
    expiresAt: Date.now() + 3_600_000,
    q: undefined,
    callId: 'c1',
    cseq: 1,
    source: { transport: 'udp', address: '203.0.113.7', port: 40_001 },
    connectionId: undefined,
    instanceId: 'i1',
    listener: undefined,
    userAgent: undefined,
    path: [],
    receivedAt: Date.now(),
    ...o,
  };
};

describe('cameFromBehindNat', () => {
  test('a Contact that is not the source address and port', () => {
    expect(cameFromBehindNat(binding())).toBe(true);
    expect(cameFromBehindNat(binding({ uri: 'sip:1001@203.0.113.7:5062' }))).toBe(true);
    expect(cameFromBehindNat(binding({ uri: 'sip:1001@203.0.113.7:40001' }))).toBe(false);
    expect(cameFromBehindNat(binding({ uri: 'sip:1001@phone.example.com:40001' }))).toBe(true);
  });

  test('the default port of the Contact is 5060, or 5061 for sips and transport=tls', () => {
    const at = (port: number) => ({ transport: 'udp' as const, address: '203.0.113.7', port });
    expect(cameFromBehindNat(binding({ uri: 'sip:1001@203.0.113.7', source: at(5060) }))).toBe(false);
    expect(cameFromBehindNat(binding({ uri: 'sips:1001@203.0.113.7', source: at(5061) }))).toBe(false);
    expect(cameFromBehindNat(binding({ uri: 'sip:1001@203.0.113.7;transport=TLS', source: at(5061) }))).toBe(false);
    expect(cameFromBehindNat(binding({ uri: 'sip:1001@203.0.113.7;transport=tls', source: at(5060) }))).toBe(true);
  });

  test('IPv6 Contacts compare without brackets and case', () => {
    const src = { transport: 'udp' as const, address: '2001:db8::a', port: 5060 };
    expect(cameFromBehindNat(binding({ uri: 'sip:1001@[2001:DB8::A]:5060', source: src }))).toBe(false);
    expect(cameFromBehindNat(binding({ uri: 'sip:1001@[2001:db8::b]:5060', source: src }))).toBe(true);
  });

  test('a tel: or other Contact is never pinged', () => {
    expect(cameFromBehindNat(binding({ uri: 'tel:+15551234' }))).toBe(false);
  });
});

describe('keep-alive (fake timers)', () => {
  let contacts: ContactStore;
  let keepalive: Keepalive | undefined;
  let pings: Array<{ uri: string; at: number }>;
  let changes: ContactChange[];
  /** what the next pings answer; a function decides per ping */
  let answer: (b: Binding) => Promise<KeepaliveAnswer>;

  const ping: KeepalivePing = (b) => {
    pings.push({ uri: b.uri, at: Date.now() });
    return answer(b);
  };
  const make = (o: Partial<KeepaliveOptions> = {}, p: KeepalivePing = ping): Keepalive => {
    keepalive = createKeepalive({ contacts, instanceId: 'i1', ping: p }, { interval: INTERVAL, timeout: 300, ...o });
    return keepalive;
  };
  /** lets queued microtasks, store look-ups and due timers run */
  const flush = () => vi.advanceTimersByTimeAsync(0);
  const after = (ms: number) => vi.advanceTimersByTimeAsync(ms);
  const alive = async (aor = '1001@example.com') => (await contacts.lookup(aor)).map((b) => b.uri);
  const delayed = (ms: number, code: number | null): Promise<KeepaliveAnswer> => new Promise((r) => setTimeout(() => r({ code }), ms));

  beforeEach(async () => {
    vi.useFakeTimers({ now: 1_700_000_000_000 });
    contacts = await openMemoryContactStore({ instanceId: 'i1' }, { sweepIntervalMs: 3_600_000 });
    pings = [];
    changes = [];
    contacts.onChange((c) => changes.push(c));
    answer = async () => ({ code: 200 });
  });
  afterEach(async () => {
    keepalive?.close();
    keepalive = undefined;
    await contacts.close();
    vi.useRealTimers();
  });

  test('pings a NAT binding of this instance once per interval, start to start, the first one interval after the REGISTER', async () => {
    await make().start();
    const t0 = Date.now();
    await contacts.add(binding());
    await flush();
    expect(keepalive!.watched()).toBe(1);
    await after(INTERVAL - 1);
    expect(pings).toHaveLength(0);
    // answers take 100 ms: the cadence stays one interval, start to start
    answer = () => delayed(100, 200);
    await after(1 + 4 * INTERVAL);
    expect(pings.map((p) => p.at - t0)).toEqual([1, 2, 3, 4, 5].map((n) => n * INTERVAL));
    expect(pings.every((p) => p.uri === 'sip:1001@192.168.1.20:5062')).toBe(true);
    expect(await alive()).toEqual(['sip:1001@192.168.1.20:5062']);
  });

  test('leaves alone bindings whose Contact is their source, those of other instances and those behind a Path', async () => {
    await make().start();
    await contacts.add(binding({ uri: 'sip:1001@203.0.113.7:40001' }));
    await contacts.add(binding({ uri: 'sip:1001@10.0.0.9:5060', instanceId: 'other' }));
    await contacts.add(binding({ uri: 'sip:1001@10.0.0.10:5060', path: ['<sip:edge.example.com;lr>'] }));
    await flush();
    await after(5 * INTERVAL);
    expect(pings).toEqual([]);
    expect(keepalive!.watched()).toBe(0);
  });

  test('bindings that were in the store before start() are pinged too', async () => {
    await contacts.add(binding());
    await contacts.add(binding({ aor: '1002@example.com', uri: 'sip:1002@192.168.1.21:5060' }));
    await make().start();
    expect(keepalive!.watched()).toBe(2);
    await after(INTERVAL);
    expect(pings.map((p) => p.uri).sort()).toEqual(['sip:1001@192.168.1.20:5062', 'sip:1002@192.168.1.21:5060']);
  });

  test('any final response counts as alive (404, 405, 501)', async () => {
    await make().start();
    await contacts.add(binding());
    await flush();
    const codes = [405, 501, 404, 405, 481];
    answer = async () => ({ code: codes.shift() ?? 200 });
    await after(6 * INTERVAL);
    expect(pings).toHaveLength(6);
    expect(await alive()).toHaveLength(1);
  });

  test('two unanswered pings in a row remove the binding (a "removed" change), one alone does not', async () => {
    await make().start();
    await contacts.add(binding());
    await contacts.add(binding({ uri: 'sip:1001@192.168.1.30:5060' }));
    await flush();
    const dead = new Set(['sip:1001@192.168.1.20:5062']);
    let flaky = 0;
    answer = async (b) => {
      if (dead.has(b.uri)) return { code: null, error: 'timeout' };
      return { code: ++flaky % 2 === 1 ? null : 200 }; // misses every other ping
    };
    await after(INTERVAL);
    expect(await alive()).toHaveLength(2);
    changes.length = 0;
    await after(INTERVAL);
    expect(await alive()).toEqual(['sip:1001@192.168.1.30:5060']);
    expect(changes).toEqual([{ aor: '1001@example.com', reason: 'removed', instanceId: 'i1' }]);
    await after(4 * INTERVAL);
    expect(await alive()).toEqual(['sip:1001@192.168.1.30:5060']);
    expect(pings.filter((p) => p.uri === 'sip:1001@192.168.1.20:5062')).toHaveLength(2);
    expect(keepalive!.watched()).toBe(1);
  });

  test('a ping that never settles times out as unanswered, and pings of one binding never overlap', async () => {
    // timeout longer than the interval: the next ping waits for the previous one to give up
    let ended = 0;
    let overlapped = false;
    const hang: KeepalivePing = (b, timeoutMs) => {
      overlapped ||= pings.length !== ended;
      pings.push({ uri: b.uri, at: Date.now() });
      setTimeout(() => ended++, timeoutMs);
      return new Promise<KeepaliveAnswer>(() => undefined);
    };
    await make({ timeout: 1_500 }, hang).start();
    const t0 = Date.now();
    await contacts.add(binding());
    await flush();
    await after(INTERVAL + 1_499);
    expect(pings.map((p) => p.at - t0)).toEqual([INTERVAL]);
    // (a timer armed during a fake tick is due 1 ms later, as Node's setTimeout(0) is)
    await after(2);
    // the second ping started when the first gave up, not while it was out
    expect(pings).toHaveLength(2);
    expect(pings[1]!.at - t0 - (INTERVAL + 1_500)).toBeLessThanOrEqual(1);
    await after(1_500);
    expect(await alive()).toEqual([]);
    expect(pings).toHaveLength(2);
    expect(overlapped).toBe(false);
  });

  test('a ping that rejects counts as unanswered', async () => {
    await make().start();
    await contacts.add(binding());
    await flush();
    answer = () => Promise.reject(new Error('no listener'));
    await after(2 * INTERVAL);
    expect(await alive()).toEqual([]);
  });

  test('a REGISTER refresh between two misses resets the count; one between the last miss and the removal keeps the binding', async () => {
    await make().start();
    await contacts.add(binding());
    await flush();
    answer = async () => ({ code: null });
    await after(INTERVAL); // miss 1
    await contacts.add(binding({ cseq: 2, receivedAt: Date.now() }));
    await flush();
    await after(INTERVAL); // miss 1 again, after the refresh
    expect(await alive()).toHaveLength(1);
    // the refresh lands while the second miss is out
    answer = async (b) => {
      await contacts.add({ ...b, cseq: b.cseq + 1, receivedAt: Date.now() + 1 });
      return { code: null };
    };
    await after(INTERVAL);
    expect(await alive()).toHaveLength(1);
    answer = async () => ({ code: null });
    await after(2 * INTERVAL);
    expect(await alive()).toEqual([]);
  });

  test('an unregistered or expired binding is no longer pinged', async () => {
    await make().start();
    await contacts.add(binding());
    await contacts.add(binding({ uri: 'sip:1001@192.168.1.30:5060', expiresAt: Date.now() + 1_500 }));
    await flush();
    await after(INTERVAL);
    expect(pings).toHaveLength(2);
    await contacts.remove('1001@example.com', 'sip:1001@192.168.1.20:5062');
    await contacts.sweep(); // nothing yet
    await after(1_000);
    await contacts.sweep(); // the second one expired at 1.5 s
    await flush();
    expect(keepalive!.watched()).toBe(0);
    await after(3 * INTERVAL);
    expect(pings).toHaveLength(2);
  });

  test('at most `concurrency` pings are in flight; the rest wait their turn', async () => {
    let open = 0;
    let most = 0;
    answer = async () => {
      open++;
      most = Math.max(most, open);
      await new Promise((r) => setTimeout(r, 50));
      open--;
      return { code: 200 };
    };
    await make({ concurrency: 3 }).start();
    for (let i = 0; i < 10; i++) await contacts.add(binding({ aor: `10${i}@example.com`, uri: `sip:10${i}@192.168.1.${i + 1}:5060` }));
    await flush();
    await after(INTERVAL);
    expect(open).toBe(3);
    await after(200);
    expect(pings).toHaveLength(10);
    expect(most).toBe(3);
    expect(open).toBe(0);
  });

  test('close() stops every timer and drops answers in flight', async () => {
    await make().start();
    await contacts.add(binding());
    await flush();
    answer = () => delayed(200, null);
    await after(INTERVAL); // miss 1 goes out
    await after(INTERVAL); // miss 2 goes out
    expect(pings).toHaveLength(2);
    keepalive!.close();
    expect(vi.getTimerCount()).toBeGreaterThan(0); // the fake answer's own timer
    await after(10 * INTERVAL);
    expect(pings).toHaveLength(2);
    expect(await alive()).toHaveLength(1);
    // nothing of the keep-alive is left: only the store's sweep timer
    expect(vi.getTimerCount()).toBe(1);
    // and later changes are not watched
    await contacts.add(binding({ uri: 'sip:1001@192.168.1.99:5060' }));
    await after(3 * INTERVAL);
    expect(pings).toHaveLength(2);
  });

  test('a store that fails at start is scanned again later', async () => {
    const listAors = contacts.listAors.bind(contacts);
    let fail = true;
    const flakyStore: ContactStore = { ...contacts, listAors: () => (fail ? Promise.reject(new Error('down')) : listAors()) };
    await contacts.add(binding());
    keepalive = createKeepalive({ contacts: flakyStore, instanceId: 'i1', ping }, { interval: INTERVAL, timeout: 300 });
    await keepalive.start();
    expect(keepalive.watched()).toBe(0);
    fail = false;
    await after(INTERVAL);
    expect(keepalive.watched()).toBe(1);
    await after(INTERVAL);
    expect(pings).toHaveLength(1);
  });

  test('rejects an interval of 0', () => {
    expect(() => createKeepalive({ contacts, instanceId: 'i1', ping }, { interval: 0 })).toThrow(RangeError);
  });
});
