// Stateful proxy scenarios over real sockets: failures, CANCEL, timeouts, transport changes and
// large bodies (RFC 3261 §16, §17, §18.1.1). Backends are raw SIP peers so every header can be checked.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tcpPeer, tcpServerPeer, udpPeer, type SipPeer, type UdpPeer } from './helpers/sip-client.js';
import { freeSipPort, startSipfront, type TestSipfront } from './helpers/sipfront.js';
import { callIdOf, request, responseTo } from './helpers/sip-text.js';

const T1 = 50; // ms: Timer B = 64·T1 = 3.2 s

describe('stateful proxy scenarios', () => {
  let sf: TestSipfront;
  let port: number;
  let backend: UdpPeer;
  let tcpBackend: SipPeer;
  let caller: UdpPeer;

  beforeAll(async () => {
    backend = await udpPeer({ answerOptions: true });
    tcpBackend = await tcpServerPeer();
    port = await freeSipPort();
    sf = await startSipfront(
      [
        'listen:',
        `  - { transport: udp, host: 127.0.0.1, port: ${port} }`,
        `  - { transport: tcp, host: 127.0.0.1, port: ${port} }`,
        'security: { trusted: [127.0.0.1/32] }',
        `sip: { t1: ${T1}ms, timer_c: 1500ms, max_message: 128KB }`,
        'dispatcher:',
        '  probe: { interval: 200ms, timeout: 100ms }',
        '  sets:',
        `    - { id: 1, name: b, algorithm: round-robin, destinations: [ { uri: "sip:127.0.0.1:${backend.port}" } ] }`,
        'routes:',
        `  - { match: { ruri_user: "^tcp" }, to: { uri: "sip:127.0.0.1:${tcpBackend.port};transport=tcp" } }`,
      ].join('\n'),
    );
    caller = (await udpPeer()).to(port);
    backend.to(port);
  });
  afterAll(async () => {
    await sf?.close();
    for (const p of [caller, backend, tcpBackend]) await p?.close();
  });

  const invite = (ruri = 'sip:bob@example.com', extra: string[] = []) => request('INVITE', ruri, { port: caller.port, extra });
  const byCall = (text: string) => (m: { callId: string | undefined }) => m.callId === callIdOf(text);

  it('answers 100 Trying once the backend has been silent for T1/2 (§17.2.1), and passes a 486 back, ACKing it hop by hop', async () => {
    const inv = invite();
    const t0 = performance.now();
    caller.send(inv);
    const got = await backend.next(2000, (m) => m.method === 'INVITE' && byCall(inv)(m));
    const trying = await caller.next(2000, byCall(inv));
    const took = performance.now() - t0;
    expect(trying.status).toBe(100);
    // the proxy waits min(200 ms, T1/2) = 25 ms for a response of the callee's side; then the 100
    // still comes well before the caller's first retransmission (T1)
    expect(took).toBeGreaterThanOrEqual(T1 / 2 - 2);
    expect(took).toBeLessThan(T1 / 2 + 500);
    backend.send(responseTo(got, 486, 'Busy Here', { toTag: 'busy' }));
    const ack = await backend.next(2000, (m) => m.method === 'ACK' && byCall(inv)(m));
    expect(ack.topVia?.branch).toBe(got.topVia?.branch); // same transaction (§17.1.1.3)
    expect(ack.toTag).toBe('busy');
    const res = await caller.next(2000, (m) => m.status >= 200 && byCall(inv)(m));
    expect(res.status).toBe(486);
    expect(res.vias()).toHaveLength(1);
  });

  it('cancels a ringing call: 200 to the CANCEL, CANCEL to the backend, 487 to the caller', async () => {
    const inv = invite();
    caller.send(inv);
    const got = await backend.next(2000, (m) => m.method === 'INVITE' && byCall(inv)(m));
    backend.send(responseTo(got, 180, 'Ringing', { toTag: 'ring' }));
    await caller.next(2000, (m) => m.status === 180 && byCall(inv)(m));
    const cancel = inv
      .replace(/^INVITE/, 'CANCEL')
      .replace('CSeq: 1 INVITE', 'CSeq: 1 CANCEL')
      .replace(/\r\nContent-Type[^\r]*/, '');
    caller.send(cancel);
    const c200 = await caller.next(2000, (m) => m.status === 200 && m.cseq?.method === 'CANCEL' && byCall(inv)(m));
    expect(c200.status).toBe(200);
    const bc = await backend.next(2000, (m) => m.method === 'CANCEL' && byCall(inv)(m));
    expect(bc.topVia?.branch).toBe(got.topVia?.branch);
    backend.send(responseTo(bc, 200, 'OK'));
    backend.send(responseTo(got, 487, 'Request Terminated', { toTag: 'ring' }));
    const fin = await caller.next(2000, (m) => m.status >= 300 && m.cseq?.method === 'INVITE' && byCall(inv)(m));
    expect(fin.status).toBe(487);
    await backend.next(2000, (m) => m.method === 'ACK' && byCall(inv)(m));
  });

  it('after the 200: forwards its retransmissions, absorbs a retransmitted INVITE, and replays the BYE\'s 200 without a second BYE (RFC 6026, Timer J)', async () => {
    const inv = invite();
    caller.send(inv);
    const got = await backend.next(2000, (m) => m.method === 'INVITE' && byCall(inv)(m));
    const ok = responseTo(got, 200, 'OK', { toTag: 'ok', contact: `<sip:bob@127.0.0.1:${backend.port}>` });
    backend.send(ok);
    const first = await caller.next(2000, (m) => m.status === 200 && byCall(inv)(m));
    // the caller's INVITE again (its 200 was "lost"): absorbed, the backend sees no second INVITE
    caller.send(inv);
    // the backend retransmits its 200 (no ACK yet): each one reaches the caller
    backend.send(ok);
    const second = await caller.next(2000, (m) => m.status === 200 && byCall(inv)(m) && m !== first);
    expect(second.toTag).toBe('ok');
    expect(second.vias()).toHaveLength(1);
    expect(second.topVia?.branch).toBe(first.topVia?.branch);
    // a CANCEL now finds the INVITE answered (its transaction at rest): 200, nothing goes on (§9.2)
    caller.send(inv.replace(/^INVITE/, 'CANCEL').replace('CSeq: 1 INVITE', 'CSeq: 1 CANCEL').replace(/\r\nContent-Type[^\r]*/, ''));
    const c200 = await caller.next(2000, (m) => m.cseq?.method === 'CANCEL' && byCall(inv)(m));
    expect(c200.status).toBe(200);
    const routes = first.list('record-route').map((r) => `Route: ${r.value}`).reverse();
    const inDialog = (method: string, cseq: number) =>
      request(method, `sip:bob@127.0.0.1:${backend.port}`, { port: caller.port, callId: callIdOf(inv), fromTag: first.fromTag!, toTag: 'ok', cseq, extra: routes });
    caller.send(inDialog('ACK', 1));
    await backend.next(2000, (m) => m.method === 'ACK' && byCall(inv)(m));
    const bye = inDialog('BYE', 2);
    caller.send(bye);
    const gotBye = await backend.next(2000, (m) => m.method === 'BYE' && byCall(inv)(m));
    backend.send(responseTo(gotBye, 200, 'OK'));
    const byeOk = await caller.next(2000, (m) => m.status === 200 && m.cseq?.method === 'BYE' && byCall(inv)(m));
    // the BYE again: its 200 comes back from sipfront's completed transaction
    caller.send(bye);
    const replay = await caller.next(2000, (m) => m.status === 200 && m.cseq?.method === 'BYE' && byCall(inv)(m) && m !== byeOk);
    expect(replay.toString()).toBe(byeOk.toString());
    expect(backend.received.filter((m) => m.method === 'INVITE' && byCall(inv)(m))).toHaveLength(1);
    expect(backend.received.filter((m) => m.method === 'BYE' && byCall(inv)(m))).toHaveLength(1);
    expect(backend.received.filter((m) => m.method === 'CANCEL' && byCall(inv)(m))).toHaveLength(0);
  });

  it('a UAS that drops the Vias below ours: its 200 and every retransmission of it reach the caller with the caller\'s Via put back', async () => {
    const inv = invite();
    caller.send(inv);
    const got = await backend.next(2000, (m) => m.method === 'INVITE' && byCall(inv)(m));
    expect(got.vias()).toHaveLength(2);
    // only sipfront's Via, the caller's lost
    const ours = `Via: ${got.getAll('via')[0]!}`;
    const ok = responseTo(got, 200, 'OK', { toTag: 'novia', contact: `<sip:bob@127.0.0.1:${backend.port}>` })
      .split('\r\n')
      .filter((l) => !l.startsWith('Via:') || l === ours)
      .join('\r\n');
    backend.send(ok);
    const first = await caller.next(2000, (m) => m.status === 200 && byCall(inv)(m));
    backend.send(ok);
    const second = await caller.next(2000, (m) => m.status === 200 && byCall(inv)(m) && m !== first);
    for (const r of [first, second]) {
      expect(r.vias()).toHaveLength(1);
      expect(r.topVia?.port).toBe(caller.port);
    }
  });

  it('gives the caller 408 at Timer B when the backend never answers', async () => {
    const inv = invite();
    const started = Date.now();
    caller.send(inv);
    // the backend sees the INVITE retransmitted (Timer A) and stays silent
    await backend.next(2000, (m) => m.method === 'INVITE' && byCall(inv)(m));
    await backend.next(2000, (m) => m.method === 'INVITE' && byCall(inv)(m));
    const fin = await caller.next(10_000, (m) => m.status >= 200 && byCall(inv)(m));
    const took = Date.now() - started;
    expect(fin.status).toBe(408);
    expect(took).toBeGreaterThanOrEqual(64 * T1 - 100);
    expect(took).toBeLessThan(64 * T1 + 1500);
  });

  it('cancels a branch at Timer C and answers 408', async () => {
    const inv = invite();
    caller.send(inv);
    const got = await backend.next(2000, (m) => m.method === 'INVITE' && byCall(inv)(m));
    const ringAt = Date.now();
    backend.send(responseTo(got, 180, 'Ringing', { toTag: 'slow' }));
    const bc = await backend.next(5000, (m) => m.method === 'CANCEL' && byCall(inv)(m));
    expect(Date.now() - ringAt).toBeGreaterThanOrEqual(1400);
    backend.send(responseTo(bc, 200, 'OK'));
    backend.send(responseTo(got, 487, 'Request Terminated', { toTag: 'slow' }));
    const fin = await caller.next(3000, (m) => m.status >= 300 && byCall(inv)(m));
    expect(fin.status).toBe(408);
  });

  it('record-routes twice when a UDP caller reaches a TCP backend, and the BYE reaches both ends', async () => {
    const inv = invite('sip:tcpbob@example.com');
    caller.send(inv);
    const got = await tcpBackend.next(3000, (m) => m.method === 'INVITE' && byCall(inv)(m));
    const rr = got.list('record-route').map((i) => i.value);
    expect(rr).toHaveLength(2);
    expect(rr[0]).toMatch(new RegExp(`^<sip:127\\.0\\.0\\.1:${port};transport=tcp;lr;sf=`));
    expect(rr[1]).toMatch(new RegExp(`^<sip:127\\.0\\.0\\.1:${port};lr;sf=`));
    expect(got.topVia?.transport).toBe('TCP');
    tcpBackend.send(responseTo(got, 200, 'OK', { toTag: 'tcp1', contact: `<sip:bob@127.0.0.1:${tcpBackend.port};transport=tcp>` }));
    const ok = await caller.next(3000, (m) => m.status === 200 && byCall(inv)(m));
    const routes = ok.list('record-route').map((i) => i.value).reverse();
    const inDialog = (method: string, cseq: number) =>
      request(method, `sip:bob@127.0.0.1:${tcpBackend.port};transport=tcp`, {
        port: caller.port, callId: callIdOf(inv), fromTag: ok.fromTag!, toTag: 'tcp1', cseq,
        extra: routes.map((r) => `Route: ${r}`),
      });
    caller.send(inDialog('ACK', 1));
    await tcpBackend.next(3000, (m) => m.method === 'ACK' && byCall(inv)(m));
    caller.send(inDialog('BYE', 2));
    const bye = await tcpBackend.next(3000, (m) => m.method === 'BYE' && byCall(inv)(m));
    expect(bye.has('route')).toBe(false);
    tcpBackend.send(responseTo(bye, 200, 'OK'));
    expect((await caller.next(3000, (m) => m.status === 200 && m.cseq?.method === 'BYE')).status).toBe(200);
    // and the other way: the backend hangs up towards the UDP caller along the same route set
    const bye2 = [
      `BYE sip:alice@127.0.0.1:${caller.port} SIP/2.0`,
      `Via: SIP/2.0/TCP 127.0.0.1:${tcpBackend.port};branch=z9hG4bK-back-${Date.now()}`,
      'Max-Forwards: 70',
      ...ok.list('record-route').map((i) => `Route: ${i.value}`),
      `From: ${ok.get('to')!}`,
      `To: ${ok.get('from')!}`,
      `Call-ID: ${callIdOf(inv)}`,
      'CSeq: 10 BYE',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    tcpBackend.send(bye2);
    const rb = await caller.next(3000, (m) => m.method === 'BYE' && byCall(inv)(m));
    expect(rb.uri).toBe(`sip:alice@127.0.0.1:${caller.port}`);
  });

  it('forwards a 60 kB body over TCP intact', async () => {
    const tcpCaller = await tcpPeer(port);
    try {
      const body = 'a='.padEnd(60_000, 'x') + '\r\n';
      const inv = request('INVITE', 'sip:tcpbob@example.com', { port: tcpCaller.port, transport: 'tcp', body, extra: ['Content-Type: application/sdp'] });
      tcpCaller.send(inv);
      const got = await tcpBackend.next(3000, (m) => m.method === 'INVITE' && byCall(inv)(m));
      expect(got.body.toString('latin1')).toBe(body);
      tcpBackend.send(responseTo(got, 603, 'Decline', { toTag: 'big' }));
      expect((await tcpCaller.next(3000, (m) => m.status >= 200 && byCall(inv)(m))).status).toBe(603);
    } finally {
      await tcpCaller.close();
    }
  });

  it('refuses with 513 a request too large for a UDP next hop', async () => {
    const tcpCaller = await tcpPeer(port);
    try {
      const body = 'a='.padEnd(66_000, 'x') + '\r\n';
      const inv = request('INVITE', 'sip:bob@example.com', { port: tcpCaller.port, transport: 'tcp', body, extra: ['Content-Type: application/sdp'] });
      tcpCaller.send(inv);
      expect((await tcpCaller.next(3000, (m) => m.status >= 200 && byCall(inv)(m))).status).toBe(513);
    } finally {
      await tcpCaller.close();
    }
  });
});
