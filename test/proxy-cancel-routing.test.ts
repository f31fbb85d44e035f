// A CANCEL that arrives while the INVITE is still being routed (an asynchronous router: a
// registrar lookup in Redis, a DNS query): the caller gets 200 for the CANCEL and 487 for the
// INVITE, and the INVITE must then never be forwarded — the callee would ring for a call that
// is already over (RFC 3261 §9.2, §16.10).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RouteDecision } from '@sipfront/core';
import { startCoreProxy, type CoreProxy } from './helpers/core-proxy.js';
import { udpPeer, type UdpPeer } from './helpers/sip-client.js';
import { callIdOf, request } from './helpers/sip-text.js';

describe('CANCEL while routing', () => {
  let sf: CoreProxy;
  let backend: UdpPeer;
  let caller: UdpPeer;
  let port: number;
  /** routing decisions wait here until the test lets them go */
  const held: Array<() => void> = [];

  beforeAll(async () => {
    backend = await udpPeer();
    sf = await startCoreProxy({
      route: (req) => {
        const d: RouteDecision = { action: 'forward', targets: [{ destination: `sip:127.0.0.1:${backend.port}` }] };
        if (req.method !== 'INVITE') return d;
        return new Promise<RouteDecision>((resolve) => held.push(() => resolve(d)));
      },
    });
    port = sf.port;
    caller = (await udpPeer()).to(port);
    backend.to(port);
  });
  afterAll(async () => {
    await sf?.close();
    await caller?.close();
    await backend?.close();
  });

  it('answers 200 and 487 and never forwards the INVITE', async () => {
    const inv = request('INVITE', 'sip:bob@example.com', { port: caller.port });
    const byCall = (m: { callId: string | undefined }) => m.callId === callIdOf(inv);
    caller.send(inv);
    expect((await caller.next(2000, (m) => m.status === 100 && byCall(m))).status).toBe(100);
    expect(held).toHaveLength(1);
    caller.send(inv.replace(/^INVITE /, 'CANCEL ').replace(/CSeq: (\d+) INVITE/, 'CSeq: $1 CANCEL'));
    expect((await caller.next(2000, (m) => m.status === 200 && m.cseq?.method === 'CANCEL' && byCall(m))).status).toBe(200);
    expect((await caller.next(2000, (m) => m.status === 487 && byCall(m))).cseq?.method).toBe('INVITE');
    // the route comes back now: nothing goes to the backend
    held.shift()!();
    expect(await backend.silence(500, (m) => byCall(m))).toBe(true);
  });
});
