// Stateless mode over real UDP sockets: with nothing kept between requests, every copy of an
// INVITE, its CANCEL and the ACK of its non-2xx must still reach the backend the INVITE reached,
// whatever the set's algorithm (§16.11), and the ACK of a non-2xx sipfront sent itself must go
// nowhere.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SipMessage } from '@sipfront/core';
import { udpPeer, type UdpPeer } from './helpers/sip-client.js';
import { request, responseTo, uniq } from './helpers/sip-text.js';
import { freeSipPort, startProxyToOneBackend, startSipfront, type ProxyToOneBackend, type TestSipfront } from './helpers/sipfront.js';
import { waitFor } from './helpers/wait.js';
import { metricValue } from './helpers/workers-cli.js';

for (const algorithm of ['round-robin', 'weighted', 'random', 'priority'] as const) {
  describe(`stateless mode, ${algorithm} over two backends`, () => {
    let sf: TestSipfront;
    let backends: UdpPeer[];
    let caller: UdpPeer;
    let port: number;

    beforeAll(async () => {
      backends = [await udpPeer({ answerOptions: true }), await udpPeer({ answerOptions: true })];
      port = await freeSipPort();
      const dest = (b: UdpPeer, w: number) => `{ uri: "sip:127.0.0.1:${b.port}", weight: ${w}, priority: 1 }`;
      sf = await startSipfront(
        [
          'listen:',
          `  - { transport: udp, host: 127.0.0.1, port: ${port} }`,
          'mode: stateless',
          'security: { trusted: [127.0.0.1/32] }',
          'dispatcher:',
          '  sets:',
          `    - { id: 1, algorithm: ${algorithm}, destinations: [ ${dest(backends[0]!, 1)}, ${dest(backends[1]!, 2)} ] }`,
        ].join('\n'),
      );
      caller = (await udpPeer()).to(port);
      for (const b of backends) b.to(port);
    });
    afterAll(async () => {
      await sf?.close();
      await caller?.close();
      for (const b of backends ?? []) await b.close();
    });

    /** every copy of `method` for this Call-ID that reached each backend */
    const copies = (callId: string, method: string): SipMessage[][] => backends.map((b) => b.received.filter((m) => m.callId === callId && m.method === method));
    const arrived = (callId: string, method: string, n: number) =>
      waitFor(() => copies(callId, method).flat().length >= n, { timeoutMs: 3000, what: `${n} ${method} at the backends` });
    /** the `n` copies of `method` that backend `at` got, none having reached the other; each with `branch` */
    const onlyAt = (callId: string, method: string, at: number, n: number, branch: string | undefined): SipMessage[] => {
      const c = copies(callId, method);
      expect(c[at], `${method} at the INVITE's backend`).toHaveLength(n);
      expect(c[1 - at], `${method} at the other backend`).toHaveLength(0);
      for (const m of c[at]!) expect(m.topVia?.branch, `${method}'s branch`).toBe(branch);
      return c[at]!;
    };

    it('sends a retransmitted INVITE, its CANCEL and the ACK of its 487 to the INVITE\'s backend', async () => {
      for (let call = 0; call < 12; call++) {
        const id = uniq();
        const callId = `sl-${id}`;
        const branch = `z9hG4bK-sl-${id}`;
        const invite = request('INVITE', 'sip:bob@example.com', { port: caller.port, callId, branch, fromTag: `f-${id}` });
        caller.send(invite);
        await arrived(callId, 'INVITE', 1);
        // the retransmission (same branch): to the same backend, as the same copy
        caller.send(invite);
        await arrived(callId, 'INVITE', 2);
        const at = copies(callId, 'INVITE').findIndex((c) => c.length > 0);
        const first = copies(callId, 'INVITE')[at]![0]!;
        const forwardedBranch = first.topVia?.branch;
        onlyAt(callId, 'INVITE', at, 2, forwardedBranch);

        const cancel = request('CANCEL', 'sip:bob@example.com', { port: caller.port, callId, branch, fromTag: `f-${id}` });
        caller.send(cancel);
        await arrived(callId, 'CANCEL', 1);
        // the CANCEL's branch is its INVITE's (§9.1): the backend matches it to the INVITE
        onlyAt(callId, 'CANCEL', at, 1, forwardedBranch);

        // the backend ends the INVITE with 487; the caller's ACK of it follows
        backends[at]!.send(responseTo(first, 487, 'Request Terminated', { toTag: `uas-${id}` }));
        const r = await caller.next(3000, (m) => m.callId === callId && m.status === 487);
        const ack = request('ACK', 'sip:bob@example.com', { port: caller.port, callId, branch, fromTag: `f-${id}`, toTag: r.toTag! });
        caller.send(ack);
        await arrived(callId, 'ACK', 1);
        onlyAt(callId, 'ACK', at, 1, forwardedBranch);
      }
    });

    it('spreads calls over both backends', async () => {
      // 60 calls: all on one backend by chance is (2/3)^60 for weighted 1:2 (priority: equal priorities share)
      const ids: string[] = [];
      for (let call = 0; call < 60; call++) {
        const callId = `spread-${uniq()}`;
        ids.push(callId);
        caller.send(request('INVITE', 'sip:bob@example.com', { port: caller.port, callId }));
      }
      const counts = await waitFor(() => {
        const c = backends.map((b) => b.received.filter((m) => m.method === 'INVITE' && ids.includes(m.callId!)).length);
        return c[0]! + c[1]! === 60 ? c : undefined;
      }, { timeoutMs: 5000, what: '60 INVITEs at the backends' });
      expect(counts[0]).toBeGreaterThan(0);
      expect(counts[1]).toBeGreaterThan(0);
    });
  });
}

describe('stateless mode: the ACK of a non-2xx sipfront sent itself', () => {
  let net: ProxyToOneBackend;
  let sf: TestSipfront;
  let backend: UdpPeer;
  let caller: UdpPeer;
  let port: number;

  beforeAll(async () => {
    net = await startProxyToOneBackend(['mode: stateless']);
    ({ sf, port, backend, caller } = net);
  });
  afterAll(async () => {
    await net?.close();
  });

  it('is absorbed, while the ACK of a backend\'s non-2xx passes', async () => {
    // 483: sipfront answers an INVITE with Max-Forwards 0 itself
    const id = uniq();
    const callId = `own-${id}`;
    const branch = `z9hG4bK-own-${id}`;
    caller.send(request('INVITE', 'sip:bob@example.com', { port: caller.port, callId, branch, fromTag: `f-${id}`, maxForwards: 0 }));
    const r = await caller.next(3000, (m) => m.callId === callId && m.status === 483);
    expect(r.toTag).toMatch(/^sf[0-9a-f]{16}$/);
    // a retransmission gets the same tag: the ACK of either answer is known
    caller.send(request('INVITE', 'sip:bob@example.com', { port: caller.port, callId, branch, fromTag: `f-${id}`, maxForwards: 0 }));
    const again = await caller.next(3000, (m) => m.callId === callId && m.status === 483);
    expect(again.toTag).toBe(r.toTag);
    caller.send(request('ACK', 'sip:bob@example.com', { port: caller.port, callId, branch, fromTag: `f-${id}`, toTag: r.toTag! }));

    // then a call the backend refuses: its ACK reaches the backend, and the earlier one never did
    const id2 = uniq();
    const callId2 = `theirs-${id2}`;
    const branch2 = `z9hG4bK-theirs-${id2}`;
    caller.send(request('INVITE', 'sip:bob@example.com', { port: caller.port, callId: callId2, branch: branch2, fromTag: `f-${id2}` }));
    const inv = await backend.next(3000, (m) => m.callId === callId2 && m.method === 'INVITE');
    backend.send(responseTo(inv, 486, 'Busy Here', { toTag: `busy-${id2}` }));
    const busy = await caller.next(3000, (m) => m.callId === callId2 && m.status === 486);
    caller.send(request('ACK', 'sip:bob@example.com', { port: caller.port, callId: callId2, branch: branch2, fromTag: `f-${id2}`, toTag: busy.toTag! }));
    await backend.next(3000, (m) => m.callId === callId2 && m.method === 'ACK');
    // UDP between two sockets on loopback keeps its order: the first ACK would be here by now
    expect(backend.received.filter((m) => m.callId === callId)).toHaveLength(0);
  });

  it('is absorbed with a preloaded Route to sipfront too', async () => {
    const id = uniq();
    const callId = `pre-${id}`;
    const branch = `z9hG4bK-pre-${id}`;
    const route = [`Route: <sip:127.0.0.1:${port};lr>`];
    caller.send(request('INVITE', 'sip:bob@example.com', { port: caller.port, callId, branch, fromTag: `f-${id}`, maxForwards: 0, extra: route }));
    const r = await caller.next(3000, (m) => m.callId === callId && m.status === 483);
    const refused = async () => metricValue(await (await fetch(`${sf.apiUrl}/metrics`)).text(), 'sipfront_requests_refused_total') ?? 0;
    const before = await refused();
    caller.send(request('ACK', 'sip:bob@example.com', { port: caller.port, callId, branch, fromTag: `f-${id}`, toTag: r.toTag!, extra: route }));
    // a marker after it: the ACK, had it been passed on, would be at the backend first
    const marker = request('MESSAGE', 'sip:bob@example.com', { port: caller.port, callId: `marker-${id}` });
    caller.send(marker);
    await backend.next(3000, (m) => m.callId === `marker-${id}`);
    expect(backend.received.filter((m) => m.callId === callId)).toHaveLength(0);
    // absorbed as ours, not dropped as an in-dialog request from a stranger (refused, counted)
    expect(await refused()).toBe(before);
  });

  it('a re-INVITE, and the ACK of its non-2xx, reach the backend with one branch', async () => {
    const id = uniq();
    const callId = `re-${id}`;
    caller.send(request('INVITE', 'sip:bob@example.com', { port: caller.port, callId, fromTag: `f-${id}` }));
    const inv = await backend.next(3000, (m) => m.callId === callId && m.method === 'INVITE');
    backend.send(responseTo(inv, 200, 'OK', { toTag: `b-${id}`, contact: `<sip:bob@127.0.0.1:${backend.port}>` }));
    const ok = await caller.next(3000, (m) => m.callId === callId && m.status === 200);
    const route = ok.getAll('record-route').map((rr) => `Route: ${rr}`);
    expect(route).toHaveLength(1);
    const inDialog = (method: string, branch: string, cseq: number) =>
      request(method, `sip:bob@127.0.0.1:${backend.port}`, { port: caller.port, callId, branch, fromTag: `f-${id}`, toTag: `b-${id}`, cseq, extra: route });
    caller.send(inDialog('ACK', `z9hG4bK-ack1-${id}`, 1));
    await backend.next(3000, (m) => m.callId === callId && m.method === 'ACK');
    // the re-INVITE: refused with 491 by the backend, ACKed by the caller
    const reBranch = `z9hG4bK-re-${id}`;
    caller.send(inDialog('INVITE', reBranch, 2));
    const reInv = await backend.next(3000, (m) => m.callId === callId && m.method === 'INVITE' && m.cseq?.seq === 2);
    backend.send(responseTo(reInv, 491, 'Request Pending'));
    await caller.next(3000, (m) => m.callId === callId && m.status === 491);
    caller.send(inDialog('ACK', reBranch, 2));
    const ack = await backend.next(3000, (m) => m.callId === callId && m.method === 'ACK' && m.cseq?.seq === 2);
    // §17.2.3: the backend's INVITE server transaction matches the ACK by this branch
    expect(ack.topVia?.branch).toBe(reInv.topVia?.branch);
  });
});
