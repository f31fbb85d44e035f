// SHA-256 Digest (RFC 7616, RFC 8760) end to end over UDP: with `auth.algorithms: [SHA-256, MD5]`
// the registrar offers both, in that order, and accepts a client answering either, for REGISTER
// (401) and for a local user calling out (407); the default offers MD5 alone.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAuthorization, selectChallenge, type SipMessage } from '@sipfront/core';
import { udpPeer, type UdpPeer } from './helpers/sip-client.js';
import { startSipfront, type TestSipfront } from './helpers/sipfront.js';
import { callIdOf, request, responseTo, uniq } from './helpers/sip-text.js';

const sha256 = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex');
const param = (challenge: string, name: string): string => {
  const m = new RegExp(`${name}="([^"]*)"`).exec(challenge);
  if (m === null) throw new Error(`no ${name} in ${challenge}`);
  return m[1]!;
};

/** REGISTER for `user` from `peer` at `host` (a phone behind NAT, as in test/registrar.test.ts). */
const registerText = (peer: UdpPeer, host: string, user: string, callId: string, cseq: number, auth?: string): string =>
  request('REGISTER', 'sip:example.com', {
    port: peer.port,
    callId,
    cseq,
    to: `<sip:${user}@example.com>`,
    extra: [...(auth !== undefined ? [`Authorization: ${auth}`] : []), 'Expires: 600'],
  })
    .replace(/^From: <sip:alice@127.0.0.1>/m, `From: <sip:${user}@example.com>`)
    .replace(/^Contact: <sip:alice@127.0.0.1:(\d+)>/m, `Contact: <sip:${user}@192.168.1.50:$1>`)
    .replace(/Via: SIP\/2.0\/UDP 127.0.0.1/, `Via: SIP/2.0/UDP ${host}`);

const finalFor = (callId: string, seq: number) => (m: SipMessage) => m.status >= 200 && m.callId === callId && m.cseq?.seq === seq;

/** Sends an unauthenticated REGISTER; resolves with the 401's challenges and a way to answer them. */
const challengeRegister = async (peer: UdpPeer, host: string, user: string) => {
  const callId = `reg-${uniq()}`;
  peer.send(registerText(peer, host, user, callId, 1));
  const res = await peer.next(3000, finalFor(callId, 1));
  return {
    res,
    challenges: res.getAll('www-authenticate'),
    answer: async (auth: string) => {
      peer.send(registerText(peer, host, user, callId, 2, auth));
      return peer.next(3000, finalFor(callId, 2));
    },
  };
};

describe('SHA-256 digest offered first: [SHA-256, MD5]', () => {
  let sf: TestSipfront;
  let backend: UdpPeer;
  let phone: UdpPeer;

  beforeAll(async () => {
    backend = await udpPeer({ answerOptions: true });
    sf = await startSipfront(
      [
        'domains: [example.com]',
        'security: { trusted: [127.0.0.1/32], auth_failures: { max: 50, window: 60s, ban: 60s } }',
        'registrar:',
        '  auth: { algorithms: [SHA-256, MD5] }',
        '  subscribers:',
        '    - { user: "1001", domain: example.com, password: secret1 }',
        'dispatcher:',
        '  sets:',
        `    - { id: 1, name: asterisk, algorithm: round-robin, destinations: [ { uri: "sip:127.0.0.1:${backend.port}" } ] }`,
      ].join('\n'),
    );
    backend.to(sf.udpPort);
    phone = (await udpPeer({ host: '127.0.0.5' })).to(sf.udpPort);
  });
  afterAll(async () => {
    await sf?.close();
    for (const p of [backend, phone]) await p?.close();
  });

  it('challenges a REGISTER with two WWW-Authenticate headers, SHA-256 first, then MD5, both qop=auth', async () => {
    const { res, challenges } = await challengeRegister(phone, '127.0.0.5', '1001');
    expect(res.status).toBe(401);
    expect(challenges).toHaveLength(2);
    expect(challenges[0]).toMatch(/^Digest realm="example\.com", nonce="[^"]+", algorithm=SHA-256, qop="auth"$/);
    expect(challenges[1]).toMatch(/^Digest realm="example\.com", nonce="[^"]+", algorithm=MD5, qop="auth"$/);
    // a client that does SHA-256 picks the first; an MD5-only client the second (RFC 8760 §2.4)
    expect(selectChallenge(challenges)?.algorithm).toBe('SHA-256');
    expect(selectChallenge(challenges, ['MD5'])?.algorithm).toBe('MD5');
  });

  it('registers a client answering with SHA-256', async () => {
    const { challenges, answer } = await challengeRegister(phone, '127.0.0.5', '1001');
    const auth = buildAuthorization(selectChallenge(challenges)!, { username: '1001', password: 'secret1' }, 'REGISTER', 'sip:example.com');
    expect(auth).toContain('algorithm=SHA-256');
    expect(param(auth, 'response')).toMatch(/^[0-9a-f]{64}$/);
    const ok = await answer(auth);
    expect(ok.status).toBe(200);
    expect(ok.get('contact')).toMatch(/^<sip:1001@192\.168\.1\.50:\d+>;expires=(600|599)$/);
  });

  it('accepts a SHA-256 response computed independently after RFC 7616 (node:crypto), the same one the client builds', async () => {
    const { challenges, answer } = await challengeRegister(phone, '127.0.0.5', '1001');
    const ch = challenges[0]!;
    const realm = param(ch, 'realm');
    const nonce = param(ch, 'nonce');
    const cnonce = '0a4f113b5f3c2e1d';
    const nc = '00000001';
    const uri = 'sip:example.com';
    // RFC 7616 §3.4.1-3.4.3, qop=auth: response = H(H(A1):nonce:nc:cnonce:qop:H(A2))
    const ha1 = sha256(`1001:${realm}:secret1`);
    const ha2 = sha256(`REGISTER:${uri}`);
    const response = sha256(`${ha1}:${nonce}:${nc}:${cnonce}:auth:${ha2}`);
    const built = buildAuthorization(ch, { username: '1001', password: 'secret1' }, 'REGISTER', uri, { cnonce, nc: 1 });
    expect(param(built, 'response')).toBe(response);
    const byHand = `Digest username="1001", realm="${realm}", nonce="${nonce}", uri="${uri}", response="${response}", algorithm=SHA-256, cnonce="${cnonce}", qop=auth, nc=${nc}`;
    expect((await answer(byHand)).status).toBe(200);
  });

  it('refuses a SHA-256 response made with the wrong password (a fresh pair of challenges)', async () => {
    const { challenges, answer } = await challengeRegister(phone, '127.0.0.5', '1001');
    const bad = await answer(buildAuthorization(challenges[0]!, { username: '1001', password: 'wrong' }, 'REGISTER', 'sip:example.com'));
    expect(bad.status).toBe(401);
    expect(bad.getAll('www-authenticate').map((c) => /algorithm=([\w-]+)/.exec(c)![1])).toEqual(['SHA-256', 'MD5']);
  });

  it('registers a client answering the MD5 challenge too', async () => {
    const { challenges, answer } = await challengeRegister(phone, '127.0.0.5', '1001');
    const auth = buildAuthorization(selectChallenge(challenges, ['MD5'])!, { username: '1001', password: 'secret1' }, 'REGISTER', 'sip:example.com');
    expect(auth).toContain('algorithm=MD5');
    expect((await answer(auth)).status).toBe(200);
  });

  it('challenges a local user calling out with SHA-256 and MD5 (407), and forwards once answered with SHA-256', async () => {
    const callId = `out-${uniq()}`;
    const invite = (cseq: number, extra: string[]) =>
      request('INVITE', 'sip:600@example.com', { port: phone.port, callId, cseq, extra })
        .replace(/^From: <sip:alice@127.0.0.1>/m, 'From: <sip:1001@example.com>')
        .replace(/Via: SIP\/2.0\/UDP 127.0.0.1/, 'Via: SIP/2.0/UDP 127.0.0.5');
    const first = invite(1, []);
    phone.send(first);
    const ch = await phone.next(3000, finalFor(callIdOf(first), 1));
    expect(ch.status).toBe(407);
    const offered = ch.getAll('proxy-authenticate');
    expect(offered.map((c) => /algorithm=([\w-]+)/.exec(c)![1])).toEqual(['SHA-256', 'MD5']);
    const auth = buildAuthorization(selectChallenge(offered)!, { username: '1001', password: 'secret1' }, 'INVITE', 'sip:600@example.com');
    expect(auth).toContain('algorithm=SHA-256');
    phone.send(invite(2, [`Proxy-Authorization: ${auth}`]));
    const got = await backend.next(3000, (m) => m.method === 'INVITE' && m.callId === callId);
    expect(got.getAll('p-asserted-identity')).toEqual(['<sip:1001@example.com>']);
    expect(got.has('proxy-authorization')).toBe(false);
    backend.send(responseTo(got, 603, 'Decline'));
    expect((await phone.next(3000, finalFor(callId, 2))).status).toBe(603);
  });
});

describe('the default, [MD5]', () => {
  let sf: TestSipfront;
  let phone: UdpPeer;

  beforeAll(async () => {
    sf = await startSipfront(
      [
        'domains: [example.com]',
        'security: { auth_failures: { max: 50, window: 60s, ban: 60s } }',
        'registrar:',
        '  subscribers:',
        '    - { user: "1001", domain: example.com, password: secret1 }',
      ].join('\n'),
    );
    phone = (await udpPeer({ host: '127.0.0.5' })).to(sf.udpPort);
  });
  afterAll(async () => {
    await sf?.close();
    await phone?.close();
  });

  it('offers exactly one challenge, MD5, and takes no SHA-256 answer', async () => {
    const { res, challenges, answer } = await challengeRegister(phone, '127.0.0.5', '1001');
    expect(res.status).toBe(401);
    expect(challenges).toHaveLength(1);
    expect(challenges[0]).toMatch(/^Digest realm="example\.com", nonce="[^"]+", algorithm=MD5, qop="auth"$/);
    // SHA-256 credentials for an algorithm not configured count as none: challenged again
    const sha = buildAuthorization(challenges[0]!.replace('algorithm=MD5', 'algorithm=SHA-256'), { username: '1001', password: 'secret1' }, 'REGISTER', 'sip:example.com');
    const again = await answer(sha);
    expect(again.status).toBe(401);
    expect(again.getAll('www-authenticate')).toHaveLength(1);
  });

  it('registers with MD5', async () => {
    const { challenges, answer } = await challengeRegister(phone, '127.0.0.5', '1001');
    expect((await answer(buildAuthorization(challenges[0]!, { username: '1001', password: 'secret1' }, 'REGISTER', 'sip:example.com'))).status).toBe(200);
  });
});
