// Serial failover through the dispatcher set: a backend that stays silent is given up after
// dispatcher.failover.first_answer and the call goes on to the next one; a failover answer
// (503) does the same; the caller sees only the final outcome.
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { udpPeer, type UdpPeer } from './helpers/sip-client.js';
import { freeSipPort, startSipfront, type TestSipfront } from './helpers/sipfront.js';
import { callIdOf, request, responseTo } from './helpers/sip-text.js';

/** sipfront on `port` with one set of two backends tried in order, `first` before `second` */
const startPrioritySet = (port: number, firstAnswer: string, first: number, second: number): Promise<TestSipfront> =>
  startSipfront(
    [
      'listen:',
      `  - { transport: udp, host: 127.0.0.1, port: ${port} }`,
      'security: { trusted: [127.0.0.1/32] }',
      'dispatcher:',
      '  probe: { interval: 1h, timeout: 20s }',
      `  failover: { first_answer: ${firstAnswer}, max_tries: 3 }`,
      '  sets:',
      '    - id: 1',
      '      name: asterisk',
      '      algorithm: priority',
      '      destinations:',
      `        - { uri: "sip:127.0.0.1:${first}", priority: 0 }`,
      `        - { uri: "sip:127.0.0.1:${second}", priority: 1 }`,
    ].join('\n'),
  );

/**
 * Two backends tried in order (`first` silent, `second` answering OPTIONS so the probes find it
 * up), sipfront before them as startPrioritySet sets it up, and a caller; all on loopback.
 */
const startFailoverNet = async (firstAnswer: string) => {
  const first = await udpPeer();
  const second = await udpPeer({ answerOptions: true });
  const port = await freeSipPort();
  const sf = await startPrioritySet(port, firstAnswer, first.port, second.port);
  const caller = (await udpPeer()).to(port);
  first.to(port);
  second.to(port);
  return {
    sf,
    port,
    first,
    second,
    caller,
    async close(): Promise<void> {
      await sf.close();
      for (const p of [first, second, caller]) await p.close();
    },
  };
};

describe('failover to the next destination', () => {
  let sf: TestSipfront;
  let dead: UdpPeer;
  let alive: UdpPeer;
  let caller: UdpPeer;
  let net: Awaited<ReturnType<typeof startFailoverNet>> | undefined;

  beforeAll(async () => {
    net = await startFailoverNet('500ms');
    ({ sf, first: dead, second: alive, caller } = net);
  });
  afterAll(async () => {
    await net?.close();
  });

  it('gives up on a silent backend after first_answer and completes the call on the next', async () => {
    const inv = request('INVITE', 'sip:600@example.com', { port: caller.port });
    const id = callIdOf(inv);
    const started = Date.now();
    caller.send(inv);
    await dead.next(2000, (m) => m.method === 'INVITE' && m.callId === id);
    const got = await alive.next(3000, (m) => m.method === 'INVITE' && m.callId === id);
    const after = Date.now() - started;
    expect(after).toBeGreaterThanOrEqual(450);
    expect(after).toBeLessThan(1500);
    alive.send(responseTo(got, 200, 'OK', { contact: `<sip:600@127.0.0.1:${alive.port}>` }));
    const ok = await caller.next(3000, (m) => m.status >= 200 && m.callId === id);
    expect(ok.status).toBe(200);
    // the silent one is now suspected: the next call goes straight to the live one
    const inv2 = request('INVITE', 'sip:600@example.com', { port: caller.port });
    caller.send(inv2);
    const got2 = await alive.next(3000, (m) => m.method === 'INVITE' && m.callId === callIdOf(inv2));
    alive.send(responseTo(got2, 486, 'Busy Here'));
    expect((await caller.next(3000, (m) => m.status >= 200 && m.callId === callIdOf(inv2))).status).toBe(486);
    expect(dead.received.filter((m) => m.method === 'INVITE' && m.callId === callIdOf(inv2))).toHaveLength(0);
  });

  it('passes over a 503 to the next destination; 503 with Retry-After when none is left', async () => {
    await sf.server.dispatch.dispatcher.setState(1, `sip:127.0.0.1:${dead.port}`, 'active');
    const inv = request('INVITE', 'sip:600@example.com', { port: caller.port });
    const id = callIdOf(inv);
    caller.send(inv);
    const d = await dead.next(2000, (m) => m.method === 'INVITE' && m.callId === id);
    dead.send(responseTo(d, 503, 'Service Unavailable'));
    const a = await alive.next(3000, (m) => m.method === 'INVITE' && m.callId === id);
    alive.send(responseTo(a, 503, 'Service Unavailable'));
    const fin = await caller.next(3000, (m) => m.status >= 200 && m.callId === id);
    expect(fin.status).toBe(503);
    expect(fin.get('retry-after')).toBeDefined();
  });
});

describe('failover waits for an answer that came in time behind a busy loop', () => {
  let slow: UdpPeer;
  let other: UdpPeer;
  let caller: UdpPeer;
  let sfPort: number;
  const FIRST_ANSWER = 400;
  let net: Awaited<ReturnType<typeof startFailoverNet>> | undefined;

  beforeAll(async () => {
    net = await startFailoverNet(`${FIRST_ANSWER}ms`);
    ({ port: sfPort, first: slow, second: other, caller } = net);
  });
  afterAll(async () => {
    await net?.close();
  });

  it('a 100 Trying sent before first_answer but read after it keeps the call on its backend', async () => {
    // the backend's 100 comes from another thread (as from another process): this one, which is
    // sipfront's too, is kept busy past first_answer, so the 100 waits in the socket unread while
    // the timer falls due
    const sender = new Worker(
      `const { parentPort } = require('node:worker_threads');
       const dgram = require('node:dgram');
       const s = dgram.createSocket('udp4');
       s.bind(0, '127.0.0.1', () => parentPort.postMessage('ready'));
       parentPort.on('message', (m) => setTimeout(() => s.send(Buffer.from(m.bytes, 'latin1'), m.port, '127.0.0.1', () => parentPort.postMessage('sent')), m.at - Date.now()));`,
      { eval: true },
    );
    try {
      await once(sender, 'message');
      const inv = request('INVITE', 'sip:600@example.com', { port: caller.port });
      const id = callIdOf(inv);
      caller.send(inv);
      const got = await slow.next(2000, (m) => m.method === 'INVITE' && m.callId === id);
      const at = Date.now();
      const sent = once(sender, 'message');
      sender.postMessage({ bytes: responseTo(got, 100, 'Trying'), port: sfPort, at: at + FIRST_ANSWER - 150 });
      while (Date.now() < at + FIRST_ANSWER + 150) {
        // busy: no timer, no socket of this thread is served
      }
      await sent;
      expect(await other.silence(600, (m) => m.method === 'INVITE' && m.callId === id)).toBe(true);
      slow.send(responseTo(got, 200, 'OK', { contact: `<sip:600@127.0.0.1:${slow.port}>` }));
      expect((await caller.next(3000, (m) => m.status >= 200 && m.callId === id)).status).toBe(200);
    } finally {
      await sender.terminate();
    }
  });
});
