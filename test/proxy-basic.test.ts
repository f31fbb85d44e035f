// The proxy's answers to what callers send, over real UDP/TCP sockets on 127.0.0.1:
// validation, Max-Forwards, loops, Proxy-Require, schemes, garbage, and forwarding through
// Via / Record-Route in both modes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sipText, udpPeer, tcpPeer, type UdpPeer } from './helpers/sip-client.js';
import { freeSipPort, startSipfront, type TestSipfront } from './helpers/sipfront.js';

let seq = 0;
const uniq = () => `${process.pid}-${++seq}-${Date.now()}`;

const request = (method: string, ruri: string, peer: { port: number; transport: string }, extra: string[] = [], body = ''): string => {
  const id = uniq();
  return sipText(
    [
      `${method} ${ruri} SIP/2.0`,
      `Via: SIP/2.0/${peer.transport.toUpperCase()} 127.0.0.1:${peer.port};branch=z9hG4bK-${id};rport`,
      'Max-Forwards: 70',
      `From: <sip:alice@127.0.0.1>;tag=a-${id}`,
      'To: <sip:bob@example.com>',
      `Call-ID: call-${id}`,
      `CSeq: 1 ${method}`,
      `Contact: <sip:alice@127.0.0.1:${peer.port}>`,
      ...extra,
    ],
    body,
  );
};

const callIdOf = (text: string): string => /^Call-ID: (.*)$/m.exec(text)![1]!;
const final = (text: string) => (m: { status: number; callId: string | undefined }) => m.status >= 200 && m.callId === callIdOf(text);

const withMf = (text: string, mf: number) => text.replace('Max-Forwards: 70', `Max-Forwards: ${mf}`);

for (const mode of ['stateful', 'stateless'] as const) {
  describe(`proxy basics (${mode})`, () => {
    let sf: TestSipfront;
    let backend: UdpPeer;
    let caller: UdpPeer;
    let port: number;

    beforeAll(async () => {
      backend = await udpPeer();
      port = await freeSipPort();
      sf = await startSipfront(
        [
          'listen:',
          `  - { transport: udp, host: 127.0.0.1, port: ${port} }`,
          `  - { transport: tcp, host: 127.0.0.1, port: ${port} }`,
          `mode: ${mode}`,
          'security: { trusted: [127.0.0.1/32] }',
          'sip: { t1: 50ms }',
          'dispatcher:',
          '  sets:',
          `    - { id: 1, name: b, algorithm: round-robin, destinations: [ { uri: "sip:127.0.0.1:${backend.port}" } ] }`,
          'routes:',
          `  - { match: { ruri_user: "^loop$" }, to: { uri: "sip:127.0.0.1:${port}" } }`,
        ].join('\n'),
      );
      caller = (await udpPeer()).to(port);
      backend.to(port);
    });
    afterAll(async () => {
      await sf?.close();
      await caller?.close();
      await backend?.close();
    });

    it('answers OPTIONS to itself with 200', async () => {
      const o = request('OPTIONS', `sip:127.0.0.1:${port}`, caller);
      caller.send(o);
      const r = await caller.next(3000, final(o));
      expect(r.status).toBe(200);
      expect(r.get('allow')).toContain('INVITE');
    });

    it('answers 483 to Max-Forwards 0, but 200 to an OPTIONS with Max-Forwards 0', async () => {
      const inv = withMf(request('INVITE', 'sip:bob@example.com', caller), 0);
      caller.send(inv);
      expect((await caller.next(3000, final(inv))).status).toBe(483);
      const o = withMf(request('OPTIONS', 'sip:bob@example.com', caller), 0);
      caller.send(o);
      expect((await caller.next(3000, final(o))).status).toBe(200);
    });

    it('answers 400 to a malformed request and survives garbage', async () => {
      const bad = request('OPTIONS', 'sip:bob@example.com', caller).replace('CSeq: 1 OPTIONS', 'CSeq: x OPTIONS');
      caller.send(bad);
      const r = await caller.next(3000, (m) => m.callId === callIdOf(bad));
      expect(r.status).toBe(400);
      expect(r.get('cseq')).toBe('x OPTIONS');
      caller.send(Buffer.from([0, 1, 2, 3, 255, 13, 10]));
      caller.send('INVITE\r\n\r\n');
      caller.send('SIP/2.0 200 OK\r\nVia: nonsense\r\n\r\n');
      const o = request('OPTIONS', `sip:127.0.0.1:${port}`, caller);
      caller.send(o);
      expect((await caller.next(3000, final(o))).status).toBe(200);
    });

    it('answers 420 to an unsupported Proxy-Require and 416 to an unknown scheme', async () => {
      const pr = request('OPTIONS', 'sip:bob@example.com', caller, ['Proxy-Require: foo-ext']);
      caller.send(pr);
      const r = await caller.next(3000, final(pr));
      expect(r.status).toBe(420);
      expect(r.get('unsupported')).toBe('foo-ext');
      const sch = request('OPTIONS', 'nobodyKnowsThisScheme:opaque', caller);
      caller.send(sch);
      expect((await caller.next(3000, final(sch))).status).toBe(416);
    });

    it('detects a loop (482)', async () => {
      const lo = request('OPTIONS', `sip:loop@example.com`, caller);
      caller.send(lo);
      const r = await caller.next(3000, final(lo));
      expect(r.status).toBe(482);
    });

    it('forwards a trusted one with Via, Record-Route, Max-Forwards', async () => {
      const text = request('INVITE', 'sip:bob@example.com', caller, ['Content-Type: application/sdp'], 'v=0\r\n');
      caller.send(text);
      const inv = await backend.next(3000, (m) => m.method === 'INVITE');
      expect(inv.maxForwards).toBe(69);
      expect(inv.topVia?.host).toBe('127.0.0.1');
      expect(inv.topVia?.port).toBe(port);
      expect(inv.topVia?.branch).toMatch(/^z9hG4bK/);
      expect(inv.vias()).toHaveLength(2);
      expect(inv.list('record-route')[0]?.value).toMatch(new RegExp(`^<sip:127\\.0\\.0\\.1:${port};lr;sf=`));
      expect(inv.uri).toBe('sip:bob@example.com');
      expect(inv.body.toString()).toBe('v=0\r\n');
      // the caller's Via got received/rport (RFC 3581)
      expect(inv.list('via')[1]?.value).toContain(`rport=${caller.port}`);
      // backend answers 180 and 200 with Record-Route copied
      const resp = (status: number, reason: string) =>
        sipText([
          `SIP/2.0 ${status} ${reason}`,
          ...inv.getAll('via').map((v) => `Via: ${v}`),
          `Record-Route: ${inv.get('record-route')!}`,
          `From: ${inv.get('from')!}`,
          `To: ${inv.get('to')!};tag=b1`,
          `Call-ID: ${inv.callId!}`,
          `CSeq: ${inv.get('cseq')!}`,
          `Contact: <sip:bob@127.0.0.1:${backend.port}>`,
        ]);
      backend.send(resp(180, 'Ringing'));
      backend.send(resp(200, 'OK'));
      const ring = await caller.next(3000, (m) => m.status === 180);
      expect(ring.vias()).toHaveLength(1);
      const ok = await caller.next(3000, (m) => m.status === 200 && m.callId === inv.callId);
      expect(ok.vias()).toHaveLength(1);
      expect(ok.get('record-route')).toMatch(new RegExp(`^<sip:127\\.0\\.0\\.1:${port};lr;sf=[A-Za-z0-9_-]{22}>$`));
      // ACK and BYE follow the route set through sipfront to the backend
      const inDialog = (method: string, cseq: number) =>
        sipText([
          `${method} sip:bob@127.0.0.1:${backend.port} SIP/2.0`,
          `Via: SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bK-${uniq()}`,
          'Max-Forwards: 70',
          `Route: ${ok.get('record-route')!}`,
          `From: ${ok.get('from')!}`,
          `To: ${ok.get('to')!}`,
          `Call-ID: ${ok.callId!}`,
          `CSeq: ${cseq} ${method}`,
        ]);
      caller.send(inDialog('ACK', 1));
      const ack = await backend.next(3000, (m) => m.method === 'ACK');
      expect(ack.has('route')).toBe(false);
      caller.send(inDialog('BYE', 2));
      const bye = await backend.next(3000, (m) => m.method === 'BYE');
      expect(bye.uri).toBe(`sip:bob@127.0.0.1:${backend.port}`);
      // a forged dialog: right Call-ID and tags, but a Route without our token
      const forged = inDialog('INFO', 3).replace(/^Route: .*$/m, `Route: <sip:127.0.0.1:${port};lr>`);
      caller.send(forged);
      const r403 = await caller.next(3000, (m) => m.status >= 200 && m.cseq?.method === 'INFO');
      expect(r403.status).toBe(403);
      expect(await backend.silence(300, (m) => m.method === 'INFO')).toBe(true);
    });

    it('forwards over TCP from a TCP caller', async () => {
      const tcp = await tcpPeer(port);
      try {
        const o = request('OPTIONS', `sip:127.0.0.1:${port}`, tcp);
        tcp.send(o);
        expect((await tcp.next(3000, final(o))).status).toBe(200);
      } finally {
        await tcp.close();
      }
    });
  });
}
