// Malformed input at a running sipfront, over UDP and TCP: thousands of mutated requests and
// responses, garbage and half messages. Nothing may crash, leak an unhandled rejection or stop
// the proxy from answering; malformed requests that can be addressed get 400.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { udpPeer, type UdpPeer } from './helpers/sip-client.js';
import { freeSipPort, startSipfront, type TestSipfront } from './helpers/sipfront.js';
import { callIdOf, request, responseTo } from './helpers/sip-text.js';
import { parseMessage } from '@sipfront/core';

// a small deterministic PRNG: a failure can be replayed
const rng = (seed: number) => () => {
  seed = (seed * 1664525 + 1013904223) >>> 0;
  return seed / 2 ** 32;
};

const SPECIALS = ['\r\n', '\r', '\n', ' ', ':', ';', ',', '"', '<', '>', '\\', '%', '\u0000', '=', '@', '[', ']', '99999999999999999999', 'z9hG4bK'];

const mutate = (text: string, r: () => number): Buffer => {
  let s = text;
  const n = 1 + Math.floor(r() * 4);
  for (let i = 0; i < n; i++) {
    const at = Math.floor(r() * s.length);
    const k = r();
    if (k < 0.3) s = s.slice(0, at) + SPECIALS[Math.floor(r() * SPECIALS.length)] + s.slice(at);
    else if (k < 0.5) s = s.slice(0, at) + s.slice(at + 1 + Math.floor(r() * 20));
    else if (k < 0.65) s = s.slice(0, at);
    else if (k < 0.8) {
      const lines = s.split('\r\n');
      const j = Math.floor(r() * lines.length);
      lines.splice(j, 0, lines[Math.floor(r() * lines.length)]!);
      s = lines.join('\r\n');
    } else {
      const b = Buffer.from(s, 'latin1');
      if (b.length > 0) b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
      s = b.toString('latin1');
    }
  }
  return Buffer.from(s, 'latin1');
};

describe('malformed input at a running sipfront', () => {
  let sf: TestSipfront;
  let port: number;
  let backend: UdpPeer;
  let caller: UdpPeer;
  const rejections: unknown[] = [];
  const onRejection = (r: unknown): void => {
    rejections.push(r);
  };

  beforeAll(async () => {
    process.on('unhandledRejection', onRejection);
    backend = await udpPeer({ answerOptions: true });
    port = await freeSipPort();
    sf = await startSipfront(
      [
        'listen:',
        `  - { transport: udp, host: 127.0.0.1, port: ${port} }`,
        `  - { transport: tcp, host: 127.0.0.1, port: ${port} }`,
        'security: { trusted: [127.0.0.1/32] }',
        'sip: { t1: 50ms }',
        'dispatcher:',
        '  sets:',
        `    - { id: 1, name: b, algorithm: round-robin, destinations: [ { uri: "sip:127.0.0.1:${backend.port}" } ] }`,
      ].join('\n'),
    );
    caller = (await udpPeer()).to(port);
    backend.to(port);
  });
  afterAll(async () => {
    process.off('unhandledRejection', onRejection);
    await sf?.close();
    await caller?.close();
    await backend?.close();
  });

  const alive = async (): Promise<void> => {
    const o = request('OPTIONS', `sip:127.0.0.1:${port}`, { port: caller.port });
    caller.send(o);
    const r = await caller.next(3000, (m) => m.status >= 200 && m.callId === callIdOf(o));
    expect(r.status).toBe(200);
  };

  it('survives 3000 mutated datagrams and still answers', async () => {
    const r = rng(4475);
    const inv = request('INVITE', 'sip:600@example.com', { port: caller.port, body: 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\n', extra: ['Content-Type: application/sdp', 'Record-Route: <sip:10.0.0.1;lr>'] });
    const reg = request('REGISTER', 'sip:example.com', { port: caller.port, extra: ['Expires: 60', 'Authorization: Digest username="1001", realm="example.com", nonce="x", uri="sip:example.com", response="0"'] });
    const res = responseTo(parseMessage(Buffer.from(inv, 'latin1')), 200, 'OK', { contact: '<sip:600@127.0.0.1:5099>' });
    // responses that look like they are for sipfront's own branch
    const ours = res.replace(/^Via: /m, `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bKsf00000000.x\r\nVia: `);
    const seeds = [inv, reg, res, ours];
    for (let i = 0; i < 3000; i++) {
      caller.send(mutate(seeds[i % seeds.length]!, r));
      if (i % 250 === 0) await alive();
    }
    await alive();
    expect(rejections).toEqual([]);
  }, 60_000);

  it('answers 400 to a malformed request it can address', async () => {
    const bad = request('INVITE', 'sip:600@example.com', { port: caller.port }).replace(/^Max-Forwards: 70$/m, 'Max-Forwards: lots');
    caller.send(bad);
    const r = await caller.next(3000, (m) => m.callId === callIdOf(bad) && m.status >= 200);
    expect(r.status).toBe(400);
  });

  it('survives garbage and half messages over TCP', async () => {
    const r = rng(5118);
    const seed = request('OPTIONS', `sip:127.0.0.1:${port}`, { port: 9, transport: 'tcp' });
    for (let c = 0; c < 30; c++) {
      const sock = connect({ port, host: '127.0.0.1' });
      await new Promise<void>((resolve) => sock.once('connect', () => resolve()).once('error', () => resolve()));
      sock.on('error', () => undefined);
      for (let i = 0; i < 20; i++) sock.write(mutate(seed, r));
      if (c % 3 === 0) sock.write('INVITE sip:x SIP/2.0\r\nContent-Length: 999999\r\n\r\n');
      sock.destroy();
    }
    await alive();
    expect(rejections).toEqual([]);
  }, 60_000);
});
