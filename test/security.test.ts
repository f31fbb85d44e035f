// Security in the request path (contract step 1 and 8), over real UDP sockets: strangers are
// refused, scanners and floods are banned and then ignored, trusted callers pass.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { udpPeer, type UdpPeer } from './helpers/sip-client.js';
import { freeSipPort, startSipfront, type TestSipfront } from './helpers/sipfront.js';
import { callIdOf, request } from './helpers/sip-text.js';

describe('security in the request path', () => {
  let sf: TestSipfront;
  let port: number;
  let backend: UdpPeer;
  const peers: UdpPeer[] = [];

  beforeAll(async () => {
    backend = await udpPeer({ answerOptions: true });
    port = await freeSipPort();
    sf = await startSipfront(
      [
        'listen:',
        `  - { transport: udp, host: 127.0.0.1, port: ${port} }`,
        'security:',
        '  trusted: [127.0.0.1/32]',
        '  flood: { window: 2s, max: 5, ban: 60s }',
        'dispatcher:',
        '  sets:',
        `    - { id: 1, name: b, algorithm: round-robin, destinations: [ { uri: "sip:127.0.0.1:${backend.port}" } ] }`,
      ].join('\n'),
    );
  });
  afterAll(async () => {
    await sf?.close();
    for (const p of [backend, ...peers]) await p.close();
  });

  const peerOn = async (host: string): Promise<UdpPeer> => {
    const p = (await udpPeer({ host })).to(port);
    peers.push(p);
    return p;
  };

  it('answers 403 to an INVITE from an address it cannot vouch for, and forwards nothing', async () => {
    const stranger = await peerOn('127.0.0.2');
    const inv = request('INVITE', 'sip:9999@example.com', { port: stranger.port });
    stranger.send(inv.replace('Via: SIP/2.0/UDP 127.0.0.1', 'Via: SIP/2.0/UDP 127.0.0.2'));
    const r = await stranger.next(3000, (m) => m.status >= 200 && m.callId === callIdOf(inv));
    expect(r.status).toBe(403);
    expect(await backend.silence(300, (m) => m.callId === callIdOf(inv))).toBe(true);
  });

  it('drops a scanner, bans its address, and ignores it afterwards', async () => {
    const scanner = await peerOn('127.0.0.3');
    const o = request('OPTIONS', `sip:100@127.0.0.1:${port}`, { port: scanner.port, extra: ['User-Agent: Friendly-Scanner'] });
    scanner.send(o);
    expect(await scanner.silence(500)).toBe(true);
    const ban = sf.server.security.getBan('127.0.0.3');
    expect(ban?.reason).toBe('scanner');
    const plain = request('OPTIONS', `sip:127.0.0.1:${port}`, { port: scanner.port });
    scanner.send(plain);
    expect(await scanner.silence(500)).toBe(true);
  });

  it('bans a flooding source after flood.max requests in the window; a trusted source is never banned', async () => {
    const flooder = await peerOn('127.0.0.4');
    const trusted = await peerOn('127.0.0.1');
    for (let i = 0; i < 8; i++) {
      flooder.send(request('OPTIONS', `sip:127.0.0.1:${port}`, { port: flooder.port }));
      trusted.send(request('OPTIONS', `sip:127.0.0.1:${port}`, { port: trusted.port }));
    }
    // the first five are answered, then nothing
    for (let i = 0; i < 5; i++) expect((await flooder.next(2000)).status).toBe(200);
    expect(await flooder.silence(500)).toBe(true);
    expect(sf.server.security.getBan('127.0.0.4')?.reason).toBe('flood');
    for (let i = 0; i < 8; i++) expect((await trusted.next(2000)).status).toBe(200);
    expect(sf.server.security.getBan('127.0.0.1')).toBeUndefined();
  });
});
