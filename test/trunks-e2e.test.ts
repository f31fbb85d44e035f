// A provider trunk end to end through the running server: sipfront registers (answering the
// 401), the provider's calls reach the Asterisk set, calls out through the trunk carry the
// trunk's identity and answer the provider's 407, and the call shows up as a ladder in the API.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestResponse, ha1, parseDigestCredentials, type SipMessage } from '@sipfront/core';
import { udpPeer, type UdpPeer } from './helpers/sip-client.js';
import { freeSipPort, startSipfront, type TestSipfront } from './helpers/sipfront.js';
import { callIdOf, request, responseTo } from './helpers/sip-text.js';
import { waitFor } from './helpers/wait.js';

const verify = (req: SipMessage, header: string, password: string): boolean => {
  const v = req.get(header);
  if (v === undefined) return false;
  const c = parseDigestCredentials(v);
  if (!c.ok) return false;
  const cr = c.value;
  const expected = digestResponse({
    alg: 'MD5',
    ha1: ha1('MD5', cr.username, cr.realm, password),
    method: req.method,
    uri: cr.uri,
    nonce: cr.nonce,
    ...(cr.qop !== undefined ? { qop: cr.qop as 'auth', nc: cr.nc, cnonce: cr.cnonce } : {}),
  });
  return expected === cr.response;
};

describe('a provider trunk through the running server', () => {
  let sf: TestSipfront;
  let port: number;
  let provider: UdpPeer;
  let backend: UdpPeer;

  beforeAll(async () => {
    provider = await udpPeer({ host: '127.0.0.9' });
    backend = await udpPeer({ answerOptions: true });
    port = await freeSipPort();
    sf = await startSipfront(
      [
        'listen:',
        `  - { transport: udp, host: 127.0.0.1, port: ${port} }`,
        'security: { trusted: [127.0.0.1/32] }',
        'sip: { t1: 100ms }',
        'dispatcher:',
        '  sets:',
        `    - { id: 1, name: asterisk, algorithm: round-robin, destinations: [ { uri: "sip:127.0.0.1:${backend.port}" } ] }`,
        'trunks:',
        '  - id: prov',
        `    registrar: "sip:127.0.0.9:${provider.port}"`,
        '    user: "200200"',
        '    password: trunk-secret',
        '    domain: voip.example.net',
        '    expires: 300',
        '    retry: { interval: 1s, initial_delay_max: 0s }',
        'routes:',
        '  - { match: { ruri_user: "^00" }, to: { trunk: prov } }',
      ].join('\n'),
    );
    provider.to(port);
    backend.to(port);
  });
  afterAll(async () => {
    await sf?.close();
    await provider?.close();
    await backend?.close();
  });

  it('registers to the provider, answering its 401', async () => {
    const first = await provider.next(5000, (m) => m.method === 'REGISTER');
    expect(first.get('authorization')).toBeUndefined();
    expect(first.to?.uri).toBe('sip:200200@voip.example.net');
    provider.send(responseTo(first, 401, 'Unauthorized', { toTag: 'r1', extra: ['WWW-Authenticate: Digest realm="voip.example.net", nonce="abc123", algorithm=MD5, qop="auth"'] }));
    const second = await provider.next(5000, (m) => m.method === 'REGISTER' && m.has('authorization'));
    expect(verify(second, 'authorization', 'trunk-secret')).toBe(true);
    expect(second.cseq!.seq).toBe(first.cseq!.seq + 1);
    expect(second.callId).toBe(first.callId);
    provider.send(responseTo(second, 200, 'OK', { toTag: 'r1', extra: [`Contact: ${second.get('contact')!};expires=300`] }));
    await waitFor(() => sf.server.trunks.manager.get('prov')?.state === 'registered', { timeoutMs: 3000, what: 'trunk registered' });
    const api = await fetch(`${sf.apiUrl}/api/v1/trunks`).then((r) => r.json() as Promise<{ trunks: Array<{ id: string; state: string; lastCode: number }> }>);
    expect(api.trunks[0]).toMatchObject({ id: 'prov', state: 'registered', lastCode: 200 });
    expect(JSON.stringify(api)).not.toContain('trunk-secret');
  });

  it("sends the provider's call for the trunk's number to the Asterisk set", async () => {
    const inv = request('INVITE', `sip:200200@127.0.0.1:${port}`, { port: provider.port }).replace('Via: SIP/2.0/UDP 127.0.0.1', 'Via: SIP/2.0/UDP 127.0.0.9');
    provider.send(inv);
    const got = await backend.next(3000, (m) => m.method === 'INVITE' && m.callId === callIdOf(inv));
    expect(got.uri).toBe(`sip:200200@127.0.0.1:${port}`);
    backend.send(responseTo(got, 486, 'Busy Here'));
    expect((await provider.next(3000, (m) => m.status >= 200 && m.callId === callIdOf(inv))).status).toBe(486);
  });

  it("sends a call out through the trunk with the trunk's identity, answering the provider's 407", async () => {
    const inv = request('INVITE', 'sip:0049301234@example.com', { port: backend.port, extra: ['P-Asserted-Identity: <sip:1001@example.com>'] });
    const callId = callIdOf(inv);
    backend.send(inv);
    const out1 = await provider.next(3000, (m) => m.method === 'INVITE' && m.callId === callId);
    expect(out1.uri).toBe('sip:0049301234@voip.example.net');
    expect(out1.from?.uri).toBe('sip:200200@voip.example.net');
    expect(out1.getAll('p-asserted-identity')).toEqual(['<sip:200200@voip.example.net>']);
    provider.send(responseTo(out1, 407, 'Proxy Authentication Required', { toTag: 'o1', extra: ['Proxy-Authenticate: Digest realm="voip.example.net", nonce="n407", algorithm=MD5, qop="auth"'] }));
    const out2 = await provider.next(3000, (m) => m.method === 'INVITE' && m.callId === callId && m.has('proxy-authorization'));
    expect(verify(out2, 'proxy-authorization', 'trunk-secret')).toBe(true);
    expect(out2.cseq!.seq).toBe(out1.cseq!.seq + 1);
    provider.send(responseTo(out2, 200, 'OK', { toTag: 'o2', contact: `<sip:gw@127.0.0.9:${provider.port}>` }));
    const ok = await backend.next(3000, (m) => m.status === 200 && m.callId === callId);
    expect(ok.cseq!.seq).toBe(1);
    expect(ok.from?.uri).toBe('sip:alice@127.0.0.1');

    // the call is in the API as a ladder
    const list = await fetch(`${sf.apiUrl}/api/v1/calls`).then((r) => r.json() as Promise<{ calls: Array<{ callId: string; state: string }> }>);
    expect(list.calls.find((c) => c.callId === callId)?.state).toBe('answered');
    const text = await fetch(`${sf.apiUrl}/api/v1/calls/${encodeURIComponent(callId)}?format=text`).then((r) => r.text());
    expect(text).toContain('407 Proxy Authentication Required');
    expect(text).toContain('200 OK');
    const one = await fetch(`${sf.apiUrl}/api/v1/calls/${encodeURIComponent(callId)}`).then((r) => r.json() as Promise<{ messages: Array<{ text: string }> }>);
    expect(one.messages.some((m) => m.text.includes('Proxy-Authorization: <redacted>'))).toBe(true);
    const pcap = await fetch(`${sf.apiUrl}/api/v1/calls/${encodeURIComponent(callId)}?format=pcap`);
    expect(pcap.headers.get('content-type')).toContain('pcap');
    expect(Buffer.from(await pcap.arrayBuffer()).readUInt32LE(0)).toBe(0xa1b2c3d4);
  });
});
