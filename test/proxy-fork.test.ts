// Parallel forking (RFC 3261 §16.7 step 5, RFC 6026 §7.1): every 2xx goes upstream, also after the
// first one, while another branch still owes its answer to the CANCEL, and after the call's state
// was let go. Real UDP peers on 127.0.0.1 as the two callees.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { udpPeer, type UdpPeer } from './helpers/sip-client.js';
import { startCoreProxy, type CoreProxy } from './helpers/core-proxy.js';
import { callIdOf, request, responseTo } from './helpers/sip-text.js';

describe('parallel fork', () => {
  let sf: CoreProxy;
  let a: UdpPeer;
  let b: UdpPeer;
  let caller: UdpPeer;

  beforeAll(async () => {
    a = await udpPeer();
    b = await udpPeer();
    sf = await startCoreProxy({
      route: () => ({ action: 'forward', fork: 'parallel', targets: [{ destination: `sip:127.0.0.1:${a.port}` }, { destination: `sip:127.0.0.1:${b.port}` }] }),
    });
    caller = (await udpPeer()).to(sf.port);
    a.to(sf.port);
    b.to(sf.port);
  });
  afterAll(async () => {
    await sf?.close();
    for (const p of [caller, a, b]) await p?.close();
  });

  /** an INVITE ringing at both callees: B rings, A has it */
  const ringBoth = async () => {
    const inv = request('INVITE', 'sip:bob@example.com', { port: caller.port });
    const cid = callIdOf(inv);
    caller.send(inv);
    const ia = await a.next(2000, (m) => m.method === 'INVITE' && m.callId === cid);
    const ib = await b.next(2000, (m) => m.method === 'INVITE' && m.callId === cid);
    b.send(responseTo(ib, 180, 'Ringing', { toTag: 'tb' }));
    await caller.next(2000, (m) => m.status === 180 && m.callId === cid);
    return { cid, ia, ib };
  };

  it('a 200 from the other callee, crossing its CANCEL, reaches the caller; so does its retransmission', async () => {
    const { cid, ia, ib } = await ringBoth();
    a.send(responseTo(ia, 200, 'OK', { toTag: 'ta', contact: `<sip:a@127.0.0.1:${a.port}>` }));
    expect((await caller.next(2000, (m) => m.status === 200 && m.callId === cid)).toTag).toBe('ta');
    const cancel = await b.next(2000, (m) => m.method === 'CANCEL' && m.callId === cid);
    b.send(responseTo(cancel, 200, 'OK', { toTag: 'tb' }));
    // B answered before the CANCEL reached it: its 200 goes upstream while its branch is open
    const okB = responseTo(ib, 200, 'OK', { toTag: 'tb', contact: `<sip:b@127.0.0.1:${b.port}>` });
    b.send(okB);
    const first = await caller.next(2000, (m) => m.status === 200 && m.callId === cid && m.toTag === 'tb');
    expect(first.vias()).toHaveLength(1);
    // the call's state is let go by now; B's retransmission still goes up
    b.send(okB);
    const again = await caller.next(2000, (m) => m.status === 200 && m.callId === cid && m.toTag === 'tb' && m !== first);
    expect(again.topVia?.branch).toBe(first.topVia?.branch);
  });

  it('a retransmitted 200 reaches the caller while the other callee still owes the 487 to its CANCEL', async () => {
    const { cid, ia } = await ringBoth();
    const ok = responseTo(ia, 200, 'OK', { toTag: 'ta', contact: `<sip:a@127.0.0.1:${a.port}>` });
    a.send(ok);
    const first = await caller.next(2000, (m) => m.status === 200 && m.callId === cid);
    await b.next(2000, (m) => m.method === 'CANCEL' && m.callId === cid); // B stays silent
    // A retransmits its 200 (the first may have been lost on the way to the caller)
    a.send(ok);
    const again = await caller.next(2000, (m) => m.status === 200 && m.callId === cid && m !== first);
    expect(again.toTag).toBe('ta');
    expect(again.vias()).toHaveLength(1);
  });
});
