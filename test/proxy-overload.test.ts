// Load shedding end to end (sip.max_load): the proxy runs in this process, so keeping this
// process's event loop busy is overload for it. Kept busy until every new request is refused,
// new INVITEs, MESSAGEs and REGISTERs get 503 (a REGISTER with Retry-After) and never reach the
// backend, while a call under way ends (its BYE passes), a ringing one is cancelled, OPTIONS to
// sipfront get 200 and an INVITE with credentials goes on; once the loop is idle, calls pass.
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SipMessage } from '@sipfront/core';
import type { UdpPeer } from './helpers/sip-client.js';
import { startProxyToOneBackend, type ProxyToOneBackend, type TestSipfront } from './helpers/sipfront.js';
import { metricValue } from './helpers/workers-cli.js';
import { byCall, callIdOf, request, responseTo } from './helpers/sip-text.js';
import { waitFor } from './helpers/wait.js';

/** keeps the event loop busy in 25 ms slices, letting I/O and timers run between them */
const spinSlice = async (): Promise<void> => {
  const until = Date.now() + 25;
  while (Date.now() < until) {
    // busy
  }
  await new Promise((r) => setImmediate(r));
};

/** short, so that a server transaction's first 503 retransmission (Timer G) would come soon */
const T1 = 100;

describe('load shedding (sip.max_load)', () => {
  let net: ProxyToOneBackend;
  let port: number;
  let backend: UdpPeer;
  let caller: UdpPeer;
  let sf: TestSipfront;
  /** sipfront's log lines (debug level) */
  const logs: Array<Record<string, unknown>> = [];
  const moves = (): Array<Record<string, unknown>> => logs.filter((l) => l['msg'] === 'load shedding: share moved');

  beforeAll(async () => {
    // a low limit: the loop's load counts only the time its thread ran on a CPU, and a test
    // machine running other test files beside this one gives the spinning thread a share of a
    // core, not all of it (at 0.5, a thread on a third of a core was never refused)
    net = await startProxyToOneBackend([`sip: { max_load: 0.2, t1: ${T1}ms }`], { logLevel: 'debug', logs });
    ({ sf, port, backend, caller } = net);
  });
  afterAll(async () => {
    await net?.close();
  });

  const refusedOverload = async (): Promise<number> =>
    metricValue(await (await fetch(`${sf.apiUrl}/metrics`)).text(), 'sipfront_requests_refused_total', { reason: 'overload' }) ?? 0;

  /** keeps the loop busy for n slices (the proxy answers between them) */
  const busy = async (n = 4): Promise<void> => {
    for (let i = 0; i < n; i++) await spinSlice();
  };
  /** what the caller got for `text`, waiting while the loop stays busy (bounded) */
  const answerTo = async (text: string, accept: (m: SipMessage) => boolean = () => true): Promise<SipMessage> => {
    const t0 = Date.now();
    for (;;) {
      const m = caller.received.find((x) => byCall(text)(x) && accept(x));
      if (m !== undefined) return m;
      if (Date.now() - t0 > 5000) throw new Error(`no answer to ${text.split('\r\n')[0]}`);
      await busy(1);
    }
  };
  const backendGot = async (text: string, method: string): Promise<boolean> => {
    const t0 = Date.now();
    while (Date.now() - t0 < 1000) {
      if (backend.received.some((m) => m.method === method && byCall(text)(m))) return true;
      await busy(1);
    }
    return false;
  };

  /**
   * What became of a new request: the caller's answer to it other than a 100, or undefined when
   * it reached the backend (which then answers it 486). Bounded: 5 s.
   */
  const fate = async (text: string): Promise<SipMessage | undefined> => {
    const method = text.slice(0, text.indexOf(' '));
    const t0 = Date.now();
    for (;;) {
      const b = backend.received.find((m) => m.method === method && byCall(text)(m));
      if (b !== undefined) {
        backend.send(responseTo(b, 486, 'Busy Here', { toTag: 'b' }));
        return undefined;
      }
      const a = caller.received.find((m) => byCall(text)(m) && m.status !== 100);
      if (a !== undefined) return a;
      if (Date.now() - t0 > 5000) throw new Error(`no answer to ${text.split('\r\n')[0]}`);
      await busy(1);
    }
  };
  /** keeps the loop busy until eight new INVITEs in a row are refused: the share is (nearly) all (bounded: 30 s) */
  const overload = async (): Promise<void> => {
    let inARow = 0;
    const t0 = Date.now();
    while (inARow < 8 && Date.now() - t0 < 30_000) {
      const n = request('INVITE', 'sip:bob@example.com', { port: caller.port });
      caller.send(n);
      inARow = (await fate(n))?.status === 503 ? inARow + 1 : 0;
    }
    expect(inARow).toBe(8);
  };
  /**
   * A new request (`make` builds a fresh one each try) that the overloaded proxy refused, and its
   * 503. The share follows the thread's CPU time, and a test machine running other tests beside
   * this one can leave the spinning thread without a CPU for a moment, which lowers it: then the
   * load is driven back to all and another request tried (bounded: eight tries).
   */
  const refusedOne = async (make: () => string): Promise<{ text: string; answer: SipMessage }> => {
    for (let i = 0; i < 8; i++) {
      const text = make();
      caller.send(text);
      const answer = await fate(text);
      if (answer?.status === 503) return { text, answer };
      await overload();
    }
    throw new Error('no request refused in eight tries while overloaded');
  };

  it('refuses new requests with 503 while overloaded, but not dialogs, CANCEL, answers to challenges or OPTIONS to sipfront; takes calls again after', async () => {
    // a call under way, and one ringing, before the load comes
    const inv = request('INVITE', 'sip:bob@example.com', { port: caller.port });
    caller.send(inv);
    const got = await backend.next(2000, (m) => m.method === 'INVITE' && byCall(inv)(m));
    backend.send(responseTo(got, 200, 'OK', { toTag: 'up', contact: `<sip:bob@127.0.0.1:${backend.port}>` }));
    const ok = await caller.next(2000, (m) => m.status === 200 && byCall(inv)(m));
    const routes = ok.list('record-route').map((r) => `Route: ${r.value}`).reverse();
    const inDialog = (method: string, cseq: number) =>
      request(method, `sip:bob@127.0.0.1:${backend.port}`, { port: caller.port, callId: callIdOf(inv), fromTag: ok.fromTag!, toTag: 'up', cseq, extra: routes });
    caller.send(inDialog('ACK', 1));
    await backend.next(2000, (m) => m.method === 'ACK' && byCall(inv)(m));
    const ringing = request('INVITE', 'sip:carol@example.com', { port: caller.port });
    caller.send(ringing);
    const gotRinging = await backend.next(2000, (m) => m.method === 'INVITE' && byCall(ringing)(m));
    backend.send(responseTo(gotRinging, 180, 'Ringing', { toTag: 'ring' }));
    await caller.next(2000, (m) => m.status === 180 && byCall(ringing)(m));
    const refusedBefore = await refusedOverload();

    await overload();

    // refused: a new INVITE (no Retry-After, never at the backend), a MESSAGE, a REGISTER (Retry-After)
    const { text: newInvite, answer: r1 } = await refusedOne(() => request('INVITE', 'sip:bob@example.com', { port: caller.port }));
    expect(r1.has('retry-after')).toBe(false);
    expect(await backendGot(newInvite, 'INVITE')).toBe(false);
    // refused before any transaction was made: no 503 again without an ACK (a server transaction
    // would repeat it after T1, Timer G), a retransmission gets the same answer, its ACK goes nowhere
    const refusals = () => caller.received.filter((m) => byCall(newInvite)(m) && m.status === 503);
    const quietUntil = Date.now() + 4 * T1;
    while (Date.now() < quietUntil) await busy(1);
    expect(refusals()).toHaveLength(1);
    // the share is all again before the retransmission is drawn (a moment without the CPU may
    // have lowered it meanwhile)
    await overload();
    caller.send(newInvite);
    const again = await answerTo(newInvite, (m) => m.status === 503 && m !== r1);
    expect(again.toTag).toBe(r1.toTag);
    caller.send(request('ACK', 'sip:bob@example.com', { port: caller.port, callId: callIdOf(newInvite), fromTag: /tag=([^;\r\n]+)/.exec(newInvite)![1], toTag: r1.toTag!, branch: /branch=([^;\r\n]+)/.exec(newInvite)![1] }));
    expect(await backendGot(newInvite, 'ACK')).toBe(false);
    expect((await refusedOne(() => request('MESSAGE', 'sip:bob@example.com', { port: caller.port }))).answer.status).toBe(503);
    const { answer: r3 } = await refusedOne(() => request('REGISTER', 'sip:127.0.0.1', { port: caller.port, to: '<sip:alice@127.0.0.1>' }));
    expect(r3.get('retry-after')).toBe('5');

    // passed: the call under way ends, the ringing one is cancelled, OPTIONS to sipfront gets 200,
    // and an INVITE that answers a challenge goes on
    caller.send(inDialog('BYE', 2));
    expect(await backendGot(inv, 'BYE')).toBe(true);
    const cancel = ringing.replace(/^INVITE/, 'CANCEL').replace('CSeq: 1 INVITE', 'CSeq: 1 CANCEL');
    caller.send(cancel);
    expect((await answerTo(ringing, (m) => m.cseq?.method === 'CANCEL')).status).toBe(200);
    expect(await backendGot(ringing, 'CANCEL')).toBe(true);
    const opts = request('OPTIONS', `sip:127.0.0.1:${port}`, { port: caller.port });
    caller.send(opts);
    expect((await answerTo(opts)).status).toBe(200);
    const withCreds = request('INVITE', 'sip:bob@example.com', {
      port: caller.port,
      extra: ['Proxy-Authorization: Digest username="alice", realm="example.com", nonce="n", uri="sip:bob@example.com", response="00000000000000000000000000000000"'],
    });
    caller.send(withCreds);
    expect(await backendGot(withCreds, 'INVITE')).toBe(true);
    expect(await refusedOverload()).toBeGreaterThanOrEqual(refusedBefore + 13);

    // idle again: a new call reaches the backend (bounded: 15 s of tries)
    let passed = false;
    const t1 = Date.now();
    while (!passed && Date.now() - t1 < 15_000) {
      const n = request('INVITE', 'sip:bob@example.com', { port: caller.port });
      caller.send(n);
      const reached = await backend.next(1000, (m) => m.method === 'INVITE' && byCall(n)(m)).catch(() => undefined);
      if (reached !== undefined) {
        backend.send(responseTo(reached, 486, 'Busy Here', { toTag: 'idle' }));
        passed = true;
      } else {
        // not passed on: refused, and told so
        expect((await caller.next(2000, byCall(n))).status).toBe(503);
        // the load falls over the next samples: try again a little later
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    expect(passed).toBe(true);
    // the log told each move of the share and its rule: up while the loop was saturated, down after
    const seen = moves();
    const rules = ['over-target', 'rising', 'saturated', 'falling', 'clear', 'backlog'];
    expect(seen.length).toBeGreaterThan(1);
    for (const m of seen) {
      expect(rules).toContain(m['rule']);
      expect(m['share']).not.toBe(m['from']);
      expect(typeof m['busy']).toBe('number');
    }
    expect(seen.some((m) => (m['share'] as number) > (m['from'] as number))).toBe(true);
    expect(seen.some((m) => (m['share'] as number) < (m['from'] as number))).toBe(true);
    expect(logs.some((l) => l['msg'] === 'overloaded: refusing a share of new requests with 503')).toBe(true);
    // the end of an episode says how many were refused, for how long, and at most what share
    const ended = (): Array<Record<string, unknown>> => logs.filter((l) => l['msg'] === 'load back under the limit: new requests pass again');
    // (a call passes while a small share is still refused: the end comes a few idle samples later)
    const ends = await waitFor(() => (ended().length > 0 ? ended() : undefined), { timeoutMs: 10_000, what: 'the end of refusing' });
    const peak = Math.max(...seen.map((m) => m['share'] as number));
    expect(ends.some((l) => (l['refused'] as number) > 0 && (l['forMs'] as number) > 0)).toBe(true);
    for (const l of ends) expect(l['peakShare'] as number).toBeLessThanOrEqual(peak);
    expect(Math.max(...ends.map((l) => l['peakShare'] as number))).toBeGreaterThan(0);
  }, 120_000);
});

/**
 * A caller on a thread of its own (its loop runs while this one is kept busy): sends new INVITEs
 * to `port` at `rate` a second until told to stop, and posts the time of the first 503 it gets.
 */
const FLOOD_CALLER = `
const { parentPort, workerData } = require('node:worker_threads');
const dgram = require('node:dgram');
const { port, rate, pad } = workerData;
const s = dgram.createSocket('udp4');
let n = 0;
let stop = false;
let first503 = 0;
s.on('message', (m) => {
  if (first503 === 0 && m.toString('latin1', 0, 12) === 'SIP/2.0 503 ') {
    first503 = Date.now();
    parentPort.postMessage({ first503 });
  }
});
parentPort.on('message', (m) => {
  if (m === 'stop') {
    stop = true;
    s.close();
    parentPort.postMessage({ sent: n, first503 });
  }
});
s.bind(0, '127.0.0.1', () => {
  const me = s.address().port;
  const t0 = Date.now();
  parentPort.postMessage({ ready: true });
  const tick = () => {
    if (stop) return;
    const due = Math.floor(((Date.now() - t0) * rate) / 1000);
    while (n < due) {
      n++;
      const id = 'flood-' + process.pid + '-' + n;
      const text = 'INVITE sip:bob@example.com SIP/2.0\\r\\n' +
        'Via: SIP/2.0/UDP 127.0.0.1:' + me + ';branch=z9hG4bK-' + id + ';rport\\r\\n' +
        'Max-Forwards: 70\\r\\nFrom: <sip:alice@example.com>;tag=' + id + '\\r\\nTo: <sip:bob@example.com>\\r\\n' +
        'Call-ID: ' + id + '\\r\\nCSeq: 1 INVITE\\r\\nContact: <sip:alice@127.0.0.1:' + me + '>\\r\\n' +
        'X-Pad: ' + 'x'.repeat(pad) + '\\r\\nContent-Length: 0\\r\\n\\r\\n';
      s.send(text, port, '127.0.0.1');
    }
    setTimeout(tick, 2);
  };
  tick();
});
`;

describe('load shedding: the socket queue is the signal', () => {
  let net: ProxyToOneBackend;

  const before = process.env['SIPFRONT_UDP_BACKLOG_MAX_READ_MS'];
  beforeAll(async () => {
    // the test machine may hold many UDP sockets (other tests'): a read of /proc/net/udp that a
    // proxy would give up as too costly is still what this test needs
    process.env['SIPFRONT_UDP_BACKLOG_MAX_READ_MS'] = '60000';
    net = await startProxyToOneBackend(['sip: { max_load: 0.9 }']);
  });
  afterAll(async () => {
    if (before === undefined) delete process.env['SIPFRONT_UDP_BACKLOG_MAX_READ_MS'];
    else process.env['SIPFRONT_UDP_BACKLOG_MAX_READ_MS'] = before;
    await net?.close();
  });

  it("reads what waits in its own UDP socket (the shedder's signal), and refuses while the loop stays saturated", async () => {
    const proxy = net.sf.server.proxy;
    expect(proxy.overload()).toEqual({ share: 0, load: expect.any(Number), backlog: expect.any(Number) });
    const worker = new Worker(FLOOD_CALLER, { eval: true, workerData: { port: net.port, rate: 6000, pad: 600 } });
    const posted: Array<{ ready?: boolean; first503?: number; sent?: number }> = [];
    worker.on('message', (m: { ready?: boolean; first503?: number; sent?: number }) => posted.push(m));
    try {
      const t0 = Date.now();
      while (!posted.some((m) => m.ready === true)) {
        if (Date.now() - t0 > 5000) throw new Error('the flood caller did not start');
        await new Promise((r) => setTimeout(r, 5));
      }
      // this loop (the proxy's) held for 200 ms: the INVITEs the other thread sends meanwhile
      // wait in the kernel, ~1 KB each, and the proxy's reading says so at once
      const until = Date.now() + 200;
      while (Date.now() < until) {
        // busy
      }
      const seen = proxy.overload()!.backlog!;
      expect(seen).toBeGreaterThanOrEqual(300 * 700);
      // kept saturated, with the INVITEs still coming faster than it takes them: it refuses
      // (bounded: 3 s)
      const start = Date.now();
      while (!posted.some((m) => (m.first503 ?? 0) > 0) && Date.now() - start < 3000) await spinSlice();
      expect(posted.some((m) => (m.first503 ?? 0) > 0), 'a 503 within 3 s of saturation').toBe(true);
      expect(proxy.overload()!.share).toBeGreaterThan(0);
    } finally {
      worker.postMessage('stop');
      await new Promise((r) => setTimeout(r, 50));
      await worker.terminate();
    }
  }, 30_000);
});

