// When the stateful proxy sends 100 Trying for an INVITE (RFC 3261 §17.2.1): only when the
// callee's side has not answered within 200 ms (T1 at its default 500 ms), at once when the caller
// retransmits first, never when a 180 or a final response came in time. Real sockets, raw peers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UdpPeer } from './helpers/sip-client.js';
import { startProxyToOneBackend, type ProxyToOneBackend } from './helpers/sipfront.js';
import { byCall, request, responseTo } from './helpers/sip-text.js';

const DELAY = 200; // ms: min(200 ms, T1/2) with the default T1 of 500 ms

describe('100 Trying from the stateful proxy', () => {
  let net: ProxyToOneBackend;
  let backend: UdpPeer;
  let caller: UdpPeer;

  beforeAll(async () => {
    net = await startProxyToOneBackend();
    ({ backend, caller } = net);
  });
  afterAll(async () => {
    await net?.close();
  });

  const invite = () => request('INVITE', 'sip:bob@example.com', { port: caller.port });
  const statusesOf = (text: string) => caller.received.filter((m) => byCall(text)(m)).map((m) => m.status);

  it('a backend that rings at once: the caller gets the 180 and the final, and no 100 at any time', async () => {
    const inv = invite();
    caller.send(inv);
    const got = await backend.next(2000, (m) => m.method === 'INVITE' && byCall(inv)(m));
    backend.send(responseTo(got, 180, 'Ringing', { toTag: 'fast' }));
    expect((await caller.next(2000, byCall(inv))).status).toBe(180);
    backend.send(responseTo(got, 486, 'Busy Here', { toTag: 'fast' }));
    await caller.next(2000, (m) => m.status === 486 && byCall(inv)(m));
    await backend.next(2000, (m) => m.method === 'ACK' && byCall(inv)(m));
    // what is checked is that nothing comes: wait past the time the 100 would have gone
    await new Promise((r) => setTimeout(r, DELAY + 100));
    expect(statusesOf(inv)).toEqual([180, 486]);
  });

  it('a silent backend: the 100 comes after 200 ms, before the caller would retransmit (T1)', async () => {
    const inv = invite();
    const t0 = performance.now();
    caller.send(inv);
    const got = await backend.next(2000, (m) => m.method === 'INVITE' && byCall(inv)(m));
    const trying = await caller.next(2000, byCall(inv));
    const took = performance.now() - t0;
    expect(trying.status).toBe(100);
    expect(trying.toTag).toBeUndefined(); // §17.2.1: no To tag in a 100
    expect(took).toBeGreaterThanOrEqual(DELAY - 2);
    expect(took).toBeLessThan(500);
    backend.send(responseTo(got, 180, 'Ringing', { toTag: 'slow' }));
    backend.send(responseTo(got, 486, 'Busy Here', { toTag: 'slow' }));
    await caller.next(2000, (m) => m.status === 486 && byCall(inv)(m));
    expect(statusesOf(inv)).toEqual([100, 180, 486]);
  });

  it('a retransmitted INVITE before then gets the 100 at once (it quenches retransmissions); the backend sees one INVITE', async () => {
    const inv = invite();
    caller.send(inv);
    const got = await backend.next(2000, (m) => m.method === 'INVITE' && byCall(inv)(m));
    const t1 = performance.now();
    caller.send(inv);
    const trying = await caller.next(2000, byCall(inv));
    expect(trying.status).toBe(100);
    // at once: well before the 200 ms the first INVITE would have waited
    expect(performance.now() - t1).toBeLessThan(DELAY - 50);
    // its own timer does not send a second one
    await new Promise((r) => setTimeout(r, DELAY + 100));
    expect(statusesOf(inv)).toEqual([100]);
    backend.send(responseTo(got, 486, 'Busy Here', { toTag: 'rt' }));
    await caller.next(2000, (m) => m.status === 486 && byCall(inv)(m));
    expect(backend.received.filter((m) => m.method === 'INVITE' && byCall(inv)(m))).toHaveLength(1);
  });
});
