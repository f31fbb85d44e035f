// The registrar and caller trust end to end over UDP: REGISTER with digest, calls from the
// Asterisk set to registered phones (step 7), and the proxy challenge for local users (step 8).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAuthorization } from '@sipfront/core';
import { udpPeer, type UdpPeer } from './helpers/sip-client.js';
import { freeSipPort, startSipfront, type TestSipfront } from './helpers/sipfront.js';
import { callIdOf, request, responseTo, uniq } from './helpers/sip-text.js';

describe('registrar and caller trust', () => {
  let sf: TestSipfront;
  let port: number;
  let backend: UdpPeer;
  let phone: UdpPeer;
  let stranger: UdpPeer;

  beforeAll(async () => {
    backend = await udpPeer({ answerOptions: true });
    port = await freeSipPort();
    sf = await startSipfront(
      [
        'listen:',
        `  - { transport: udp, host: 127.0.0.1, port: ${port} }`,
        'domains: [example.com]',
        'security: { trusted: [127.0.0.1/32], auth_failures: { max: 50, window: 60s, ban: 60s } }',
        'registrar:',
        '  subscribers:',
        '    - { user: "1001", domain: example.com, password: secret1 }',
        '    - { user: "1002", domain: example.com, password: secret2 }',
        'dispatcher:',
        '  sets:',
        `    - { id: 1, name: asterisk, algorithm: round-robin, destinations: [ { uri: "sip:127.0.0.1:${backend.port}" } ] }`,
      ].join('\n'),
    );
    backend.to(port);
    // phones live on other loopback addresses: not trusted, not destinations
    phone = (await udpPeer({ host: '127.0.0.5' })).to(port);
    stranger = (await udpPeer({ host: '127.0.0.6' })).to(port);
  });
  afterAll(async () => {
    await sf?.close();
    for (const p of [backend, phone, stranger]) await p?.close();
  });

  const register = (peer: UdpPeer, user: string, opts: { callId?: string; cseq?: number; auth?: string; expires?: number } = {}) =>
    request('REGISTER', 'sip:example.com', {
      port: peer.port,
      callId: opts.callId ?? `reg-${uniq()}`,
      cseq: opts.cseq ?? 1,
      to: `<sip:${user}@example.com>`,
      extra: [
        ...(opts.auth !== undefined ? [`Authorization: ${opts.auth}`] : []),
        `Expires: ${opts.expires ?? 600}`,
      ],
    })
      .replace(/^From: <sip:alice@127.0.0.1>/m, `From: <sip:${user}@example.com>`)
      .replace(/^Contact: <sip:alice@127.0.0.1:(\d+)>/m, `Contact: <sip:${user}@192.168.1.50:$1>`)
      .replace(/Via: SIP\/2.0\/UDP 127.0.0.1/, `Via: SIP/2.0/UDP ${peer === phone ? '127.0.0.5' : '127.0.0.6'}`);

  const final = (text: string) => (m: { status: number; callId: string | undefined }) => m.status >= 200 && m.callId === callIdOf(text);

  const registerWithAuth = async (peer: UdpPeer, user: string, password: string) => {
    const callId = `reg-${uniq()}`;
    const first = register(peer, user, { callId });
    peer.send(first);
    const challenge = await peer.next(3000, final(first));
    expect(challenge.status).toBe(401);
    const auth = buildAuthorization(challenge.get('www-authenticate')!, { username: user, password }, 'REGISTER', 'sip:example.com');
    const second = register(peer, user, { callId, cseq: 2, auth });
    peer.send(second);
    return peer.next(3000, (m) => m.status >= 200 && m.callId === callId && m.cseq?.seq === 2);
  };

  it('challenges a REGISTER with exactly one MD5 challenge, qop=auth', async () => {
    const r = register(phone, '1001');
    phone.send(r);
    const res = await phone.next(3000, final(r));
    expect(res.status).toBe(401);
    const ch = res.getAll('www-authenticate');
    expect(ch).toHaveLength(1);
    expect(ch[0]).toMatch(/^Digest /);
    expect(ch[0]).toContain('realm="example.com"');
    expect(ch[0]).toContain('algorithm=MD5');
    expect(ch[0]).toContain('qop="auth"');
  });

  it('registers with the right password and lists the binding', async () => {
    const ok = await registerWithAuth(phone, '1001', 'secret1');
    expect(ok.status).toBe(200);
    expect(ok.get('contact')).toMatch(/<sip:1001@192\.168\.1\.50:\d+>;expires=(600|599)/);
    const regs = await sf.server.registrar.lookup('1001@example.com');
    expect(regs).toHaveLength(1);
    expect(regs[0]!.source).toMatchObject({ transport: 'udp', address: '127.0.0.5', port: phone.port });
  });

  it('takes a digest without qop once per nonce: the same credentials again are challenged (stale=true)', async () => {
    const callId = `reg-${uniq()}`;
    const first = register(phone, '1001', { callId });
    phone.send(first);
    const challenge = await phone.next(3000, final(first));
    // an RFC 2069-style client: it ignores the qop offered, so no nc and no cnonce
    const noQop = challenge.get('www-authenticate')!.replace(/,\s*qop="auth"/, '');
    expect(noQop).not.toContain('qop');
    const auth = buildAuthorization(noQop, { username: '1001', password: 'secret1' }, 'REGISTER', 'sip:example.com');
    expect(auth).not.toMatch(/\bnc=/);
    phone.send(register(phone, '1001', { callId, cseq: 2, auth }));
    expect((await phone.next(3000, (m) => m.status >= 200 && m.callId === callId && m.cseq?.seq === 2)).status).toBe(200);
    // re-sent by whoever captured it, on another Call-ID: not a second time
    const replayId = `reg-${uniq()}`;
    phone.send(register(phone, '1001', { callId: replayId, cseq: 1, auth }));
    const replayed = await phone.next(3000, (m) => m.status >= 200 && m.callId === replayId);
    expect(replayed.status).toBe(401);
    expect(replayed.get('www-authenticate')).toMatch(/stale=true/i);
  });

  it('answers a wrong password with a fresh 401, like an unknown user', async () => {
    const bad = await registerWithAuth(stranger, '1002', 'wrong');
    expect(bad.status).toBe(401);
    const unknown = await registerWithAuth(stranger, '7777', 'whatever');
    expect(unknown.status).toBe(401);
  });

  it("refuses one user's credentials for another AOR (403)", async () => {
    const callId = `reg-${uniq()}`;
    const first = register(stranger, '1001', { callId });
    stranger.send(first);
    const challenge = await stranger.next(3000, final(first));
    const auth = buildAuthorization(challenge.get('www-authenticate')!, { username: '1002', password: 'secret2' }, 'REGISTER', 'sip:example.com');
    const second = register(stranger, '1001', { callId, cseq: 2, auth });
    stranger.send(second);
    expect((await stranger.next(3000, (m) => m.status >= 200 && m.cseq?.seq === 2 && m.callId === callId)).status).toBe(403);
  });

  it('sends a call from the Asterisk set to where the phone registered from (step 7)', async () => {
    const inv = request('INVITE', 'sip:1001@example.com', { port: backend.port });
    backend.send(inv);
    const got = await phone.next(3000, (m) => m.method === 'INVITE' && m.callId === callIdOf(inv));
    expect(got.uri).toMatch(/^sip:1001@192\.168\.1\.50:\d+$/);
    phone.send(responseTo(got, 486, 'Busy Here'));
    expect((await backend.next(3000, final(inv))).status).toBe(486);
  });

  it('answers 480 for a subscriber without contact and 404 for an unknown user', async () => {
    const a = request('INVITE', 'sip:1002@example.com', { port: backend.port });
    backend.send(a);
    expect((await backend.next(3000, final(a))).status).toBe(480);
    const b = request('INVITE', 'sip:5555@example.com', { port: backend.port });
    backend.send(b);
    expect((await backend.next(3000, final(b))).status).toBe(404);
  });

  it('challenges a local user calling out (407) and forwards with P-Asserted-Identity once answered (step 8)', async () => {
    const callId = `out-${uniq()}`;
    const base = (cseq: number, extra: string[]) =>
      request('INVITE', 'sip:600@example.com', { port: phone.port, callId, cseq, extra: ['P-Asserted-Identity: <sip:boss@example.com>', ...extra] })
        .replace(/^From: <sip:alice@127.0.0.1>/m, 'From: <sip:1001@example.com>')
        .replace(/Via: SIP\/2.0\/UDP 127.0.0.1/, 'Via: SIP/2.0/UDP 127.0.0.5');
    const first = base(1, []);
    phone.send(first);
    const ch = await phone.next(3000, final(first));
    expect(ch.status).toBe(407);
    const auth = buildAuthorization(ch.get('proxy-authenticate')!, { username: '1001', password: 'secret1' }, 'INVITE', 'sip:600@example.com');
    const second = base(2, [`Proxy-Authorization: ${auth}`]);
    phone.send(second);
    const got = await backend.next(3000, (m) => m.method === 'INVITE' && m.callId === callId);
    expect(got.getAll('p-asserted-identity')).toEqual(['<sip:1001@example.com>']);
    expect(got.has('proxy-authorization')).toBe(false);
    backend.send(responseTo(got, 603, 'Decline'));
  });

  it('answers 403 to a stranger whose From domain is not served', async () => {
    const inv = request('INVITE', 'sip:600@example.com', { port: stranger.port })
      .replace(/Via: SIP\/2.0\/UDP 127.0.0.1/, 'Via: SIP/2.0/UDP 127.0.0.6')
      .replace(/^From: <sip:alice@127.0.0.1>/m, 'From: <sip:alice@evil.example.net>');
    stranger.send(inv);
    expect((await stranger.next(3000, final(inv))).status).toBe(403);
    expect(await backend.silence(300, (m) => m.callId === callIdOf(inv))).toBe(true);
  });
});
