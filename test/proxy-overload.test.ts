// Load shedding end to end (sip.max_load): the proxy runs in this process, so keeping this
// process's event loop busy is overload for it. New calls then get 503 without Retry-After (and
// never reach the backend), while a call under way goes on (its BYE passes) and OPTIONS to
// sipfront still get 200; once the loop is idle again, new calls pass.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SipMessage } from '@sipfront/core';
import { udpPeer, type UdpPeer } from './helpers/sip-client.js';
import { freeSipPort, startSipfront, type TestSipfront } from './helpers/sipfront.js';
import { callIdOf, request, responseTo } from './helpers/sip-text.js';

/** keeps the event loop busy in 25 ms slices, letting I/O and timers run between them */
const spinSlice = async (): Promise<void> => {
  const until = Date.now() + 25;
  while (Date.now() < until) {
    // busy
  }
  await new Promise((r) => setImmediate(r));
};

describe('load shedding (sip.max_load)', () => {
  let sf: TestSipfront;
  let port: number;
  let backend: UdpPeer;
  let caller: UdpPeer;

  beforeAll(async () => {
    backend = await udpPeer({ answerOptions: true });
    port = await freeSipPort();
    sf = await startSipfront(
      [
        'listen:',
        `  - { transport: udp, host: 127.0.0.1, port: ${port} }`,
        'security: { trusted: [127.0.0.1/32] }',
        'sip: { max_load: 0.5 }',
        'dispatcher:',
        '  probe: { interval: 1s, timeout: 500ms }',
        '  sets:',
        `    - { id: 1, name: b, algorithm: round-robin, destinations: [ { uri: "sip:127.0.0.1:${backend.port}" } ] }`,
      ].join('\n'),
    );
    caller = (await udpPeer()).to(port);
    backend.to(port);
  });
  afterAll(async () => {
    await sf?.close();
    for (const p of [caller, backend]) await p?.close();
  });

  const byCall = (text: string) => (m: { callId: string | undefined }) => m.callId === callIdOf(text);
  const refusedLimit = async (): Promise<number> => {
    const text = await (await fetch(`${sf.apiUrl}/metrics`)).text();
    const m = /^sipfront_requests_refused_total\{reason="limit"\} (\d+)/m.exec(text);
    return m === null ? 0 : Number(m[1]);
  };

  it('refuses new calls with 503 (no Retry-After) while overloaded, lets a call under way end, and takes calls again after', async () => {
    // a call under way before the load comes
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
    const refusedBefore = await refusedLimit();

    // overload: a new INVITE every slice until one is refused (bounded: 15 s)
    let refused: SipMessage | undefined;
    let refusedInvite = '';
    const t0 = Date.now();
    while (refused === undefined && Date.now() - t0 < 15_000) {
      const n = request('INVITE', 'sip:bob@example.com', { port: caller.port });
      caller.send(n);
      for (let i = 0; i < 4; i++) await spinSlice();
      refused = caller.received.find((m) => m.status === 503 && byCall(n)(m));
      if (refused !== undefined) refusedInvite = n;
    }
    expect(refused?.status).toBe(503);
    expect(refused?.has('retry-after')).toBe(false);
    expect(backend.received.some((m) => m.method === 'INVITE' && byCall(refusedInvite)(m))).toBe(false);

    // still overloaded: the call under way ends, and OPTIONS to sipfront is answered 200
    const bye = inDialog('BYE', 2);
    caller.send(bye);
    const opts = request('OPTIONS', `sip:127.0.0.1:${port}`, { port: caller.port });
    caller.send(opts);
    for (let i = 0; i < 4; i++) await spinSlice();
    expect((await caller.next(2000, byCall(opts))).status).toBe(200);
    const gotBye = await backend.next(2000, (m) => m.method === 'BYE' && byCall(inv)(m));
    backend.send(responseTo(gotBye, 200, 'OK'));
    expect((await caller.next(2000, (m) => m.cseq?.method === 'BYE' && byCall(inv)(m))).status).toBe(200);
    expect(await refusedLimit()).toBeGreaterThan(refusedBefore);

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
  });
});
