// Issue 13's proof, end to end over UDP on several loopback addresses: who may call through
// sipfront (proxy challenge, trusted networks, `from: [any]` routes), what the Asterisk set is told
// (P-Asserted-Identity, no Proxy-Authorization), forged dialogs, REGISTER for another AOR, both
// `local_calls` modes, and the npm `sip` package as an authenticated caller we did not write.
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAuthorization, type SipMessage } from '@sipfront/core';
import { udpPeer, type UdpPeer } from './helpers/sip-client.js';
import { freeSipPort, startSipfront, type TestSipfront } from './helpers/sipfront.js';
import { branchOf, request, responseTo, uniq } from './helpers/sip-text.js';
import { withTimeout } from './helpers/wait.js';

// The npm `sip` package (0.0.6) ships no types: the little of it used here, typed by hand.
// `create()` is what `sip.start()` wraps, without making the stack a module-wide singleton.
interface SipJsMessage {
  method?: string;
  uri?: string;
  status?: number;
  reason?: string;
  headers: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  content?: string;
}
interface SipJsStack {
  send(m: SipJsMessage, onResponse?: (rs: SipJsMessage) => void): void;
  destroy(): void;
}
interface SipJs {
  create(options: { address: string; port: number; udp?: boolean; tcp?: boolean }, onRequest: (rq: SipJsMessage) => void): SipJsStack;
  stringifyAuthHeader(h: unknown): string;
}
const sip = createRequire(import.meta.url)('sip') as SipJs;

const SUBSCRIBERS = [
  '    - { user: "1001", domain: example.com, password: secret1 }',
  '    - { user: "1002", domain: example.com, password: secret2 }',
];

const config = (port: number, backendPort: number, extra: string[] = []): string =>
  [
    'listen:',
    `  - { transport: udp, host: 127.0.0.1, port: ${port} }`,
    'domains: [example.com]',
    'security:',
    '  trusted: [127.0.0.7/32]',
    '  auth_failures: { max: 20, window: 60s, ban: 60s }',
    'registrar:',
    ...extra,
    '  subscribers:',
    ...SUBSCRIBERS,
    'dispatcher:',
    '  sets:',
    `    - { id: 1, name: asterisk, algorithm: round-robin, destinations: [ { uri: "sip:127.0.0.1:${backendPort}" } ] }`,
    'routes:',
    '  - { match: { ruri_user: "^sales$" }, to: { set: 1 }, from: [any] }',
  ].join('\n');

/** A raw UDP phone on one loopback address, with the message builders that name that address. */
interface Phone {
  host: string;
  peer: UdpPeer;
  /** a request from this phone; `from` is the From URI (default alice@<host>) */
  req(method: string, ruri: string, o: { callId: string; fromTag: string; from?: string; to?: string; toTag?: string; cseq?: number; branch?: string; extra?: string[]; body?: string }): string;
}

const phoneOn = async (host: string, sfPort: number): Promise<Phone> => {
  const peer = (await udpPeer({ host })).to(sfPort);
  return {
    host,
    peer,
    req: (method, ruri, o) =>
      request(method, ruri, { port: peer.port, ...o, ...(o.to !== undefined ? { to: o.to } : {}) })
        .replace(/^Via: SIP\/2\.0\/UDP 127\.0\.0\.1:/m, `Via: SIP/2.0/UDP ${host}:`)
        .replace(/^From: <sip:alice@127\.0\.0\.1>/m, `From: <${o.from ?? `sip:alice@${host}`}>`)
        .replace(/^Contact: <sip:alice@127\.0\.0\.1:/m, `Contact: <sip:alice@${host}:`),
  };
};

const final = (callId: string, cseq?: number) => (m: SipMessage) =>
  m.status >= 200 && m.callId === callId && (cseq === undefined || m.cseq?.seq === cseq);

const contactUri = (m: SipMessage): string => /<([^>]+)>/.exec(m.get('contact')!)![1]!;

/** The ACK of a non-2xx final answer: same branch as the INVITE (hop by hop, RFC 3261 §17.1.1.3). */
const ackNon2xx = (phone: Phone, sent: string, res: SipMessage, ruri: string, fromTag: string, from?: string): void => {
  phone.peer.send(phone.req('ACK', ruri, { callId: res.callId!, fromTag, toTag: res.toTag!, cseq: res.cseq!.seq, branch: branchOf(sent), ...(from !== undefined ? { from } : {}) }));
};

const metric = async (sf: TestSipfront, line: RegExp): Promise<number> => {
  const text = await (await fetch(`${sf.apiUrl}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  const m = line.exec(text);
  return m === null ? 0 : Number(m[1]);
};
const AUTH_FAILURES = /^sipfront_auth_failures_total (\d+(?:\.\d+)?)$/m;
const PROXY_AUTH_FAILED = /^sipfront_proxy_auth_total\{result="failed"\} (\d+(?:\.\d+)?)$/m;

describe('caller trust end to end (local_calls: via-backends)', () => {
  let sf: TestSipfront;
  let port: number;
  let backend: UdpPeer;
  let stranger: Phone; // 127.0.0.9: not trusted, not a destination
  let phone1001: Phone;
  let phone1002: Phone;
  let trustedNet: Phone; // 127.0.0.7: security.trusted

  beforeAll(async () => {
    backend = await udpPeer({ answerOptions: true });
    port = await freeSipPort();
    sf = await startSipfront(config(port, backend.port));
    backend.to(port);
    stranger = await phoneOn('127.0.0.9', port);
    phone1001 = await phoneOn('127.0.0.5', port);
    phone1002 = await phoneOn('127.0.0.6', port);
    trustedNet = await phoneOn('127.0.0.7', port);
  });
  afterAll(async () => {
    await sf?.close();
    for (const p of [backend, stranger?.peer, phone1001?.peer, phone1002?.peer, trustedNet?.peer]) await p?.close();
  });

  /** INVITE → 407 → INVITE with credentials of `user` (CSeq 2); resolves with what the caller sent second. */
  const inviteWithAuth = async (phone: Phone, ruri: string, o: { from: string; user: string; password: string; extra?: string[] }) => {
    const callId = `inv-${uniq()}`;
    const fromTag = `f-${uniq()}`;
    const first = phone.req('INVITE', ruri, { callId, fromTag, from: o.from, cseq: 1, to: `<${ruri}>`, ...(o.extra !== undefined ? { extra: o.extra } : {}) });
    phone.peer.send(first);
    const ch = await phone.peer.next(2000, final(callId, 1));
    expect(ch.status).toBe(407);
    ackNon2xx(phone, first, ch, ruri, fromTag, o.from);
    const auth = buildAuthorization(ch.get('proxy-authenticate')!, { username: o.user, password: o.password }, 'INVITE', ruri);
    const second = phone.req('INVITE', ruri, { callId, fromTag, from: o.from, cseq: 2, to: `<${ruri}>`, extra: [...(o.extra ?? []), `Proxy-Authorization: ${auth}`] });
    phone.peer.send(second);
    return { callId, fromTag, sent: second, challenge: ch };
  };

  const register = async (phone: Phone, aorUser: string, authUser: string, password: string): Promise<SipMessage> => {
    const callId = `reg-${uniq()}`;
    const fromTag = `r-${uniq()}`;
    const reg = (cseq: number, extra: string[]) =>
      phone.req('REGISTER', 'sip:example.com', { callId, fromTag, cseq, from: `sip:${aorUser}@example.com`, to: `<sip:${aorUser}@example.com>`, extra: ['Expires: 600', ...extra] })
        .replace(/^Contact: <sip:alice@/m, `Contact: <sip:${aorUser}@`);
    phone.peer.send(reg(1, []));
    const ch = await phone.peer.next(2000, final(callId, 1));
    expect(ch.status).toBe(401);
    const auth = buildAuthorization(ch.get('www-authenticate')!, { username: authUser, password }, 'REGISTER', 'sip:example.com');
    phone.peer.send(reg(2, [`Authorization: ${auth}`]));
    return phone.peer.next(2000, final(callId, 2));
  };

  it('challenges a stranger (407); wrong credentials get no further, count as an auth failure, and nothing reaches the backend', async () => {
    const ruri = 'sip:0044123@example.com';
    const from = 'sip:1001@example.com';
    const failuresBefore = await metric(sf, AUTH_FAILURES);
    const proxyFailedBefore = await metric(sf, PROXY_AUTH_FAILED);
    const callId = `inv-${uniq()}`;
    const fromTag = `f-${uniq()}`;
    const first = stranger.req('INVITE', ruri, { callId, fromTag, from, to: `<${ruri}>`, cseq: 1 });
    stranger.peer.send(first);
    const ch = await stranger.peer.next(2000, final(callId, 1));
    expect(ch.status).toBe(407);
    const challenges = ch.getAll('proxy-authenticate');
    expect(challenges).toHaveLength(1);
    expect(challenges[0]).toContain('realm="example.com"');
    expect(challenges[0]).toContain('algorithm=MD5');
    ackNon2xx(stranger, first, ch, ruri, fromTag, from);

    const auth = buildAuthorization(challenges[0]!, { username: '1001', password: 'not-the-password' }, 'INVITE', ruri);
    const second = stranger.req('INVITE', ruri, { callId, fromTag, from, to: `<${ruri}>`, cseq: 2, extra: [`Proxy-Authorization: ${auth}`] });
    stranger.peer.send(second);
    const again = await stranger.peer.next(2000, final(callId, 2));
    expect([403, 407]).toContain(again.status);
    if (again.status === 407) expect(again.get('proxy-authenticate')).toMatch(/^Digest /);
    ackNon2xx(stranger, second, again, ruri, fromTag, from);
    expect(await metric(sf, AUTH_FAILURES)).toBe(failuresBefore + 1);
    expect(await metric(sf, PROXY_AUTH_FAILED)).toBe(proxyFailedBefore + 1);

    // a From domain sipfront does not serve: 403 at once, no challenge
    const evilId = `inv-${uniq()}`;
    const evil = stranger.req('INVITE', ruri, { callId: evilId, fromTag: `f-${uniq()}`, from: 'sip:1001@evil.example.net', to: `<${ruri}>` });
    stranger.peer.send(evil);
    expect((await stranger.peer.next(2000, final(evilId))).status).toBe(403);
    expect(stranger.peer.received.some((m) => m.callId === evilId && m.status === 407)).toBe(false);

    // the backend saw none of these INVITEs
    expect(await backend.silence(300, (m) => m.callId === callId || m.callId === evilId)).toBe(true);
    expect(backend.received.some((m) => m.callId === callId || m.callId === evilId)).toBe(false);
  });

  it('forwards 1001 with the right password: P-Asserted-Identity, no Proxy-Authorization; the call completes through Record-Route', async () => {
    const ruri = 'sip:0044123@example.com';
    const { callId, fromTag } = await inviteWithAuth(stranger, ruri, {
      from: 'sip:1001@example.com', user: '1001', password: 'secret1',
      extra: ['P-Asserted-Identity: <sip:boss@example.com>'],
    });
    const inv = await backend.next(2000, (m) => m.method === 'INVITE' && m.callId === callId);
    expect(inv.getAll('p-asserted-identity')).toEqual(['<sip:1001@example.com>']);
    expect(inv.has('proxy-authorization')).toBe(false);
    expect(inv.uri).toBe(ruri);
    expect(inv.get('record-route')).toMatch(new RegExp(`^<sip:127\\.0\\.0\\.1:${port};lr;sf=`));

    const contact = `<sip:asterisk@127.0.0.1:${backend.port}>`;
    backend.send(responseTo(inv, 180, 'Ringing', { toTag: 'ast-1', contact }));
    backend.send(responseTo(inv, 200, 'OK', { toTag: 'ast-1', contact }));
    const ok = await stranger.peer.next(2000, (m) => m.status === 200 && m.callId === callId && m.cseq?.method === 'INVITE');
    const route = ok.list('record-route').map((r) => `Route: ${r.value}`).reverse();
    expect(route).toHaveLength(1);
    const inDialog = (method: string, cseq: number) =>
      stranger.req(method, contactUri(ok), { callId, fromTag, from: 'sip:1001@example.com', to: '<sip:0044123@example.com>', toTag: ok.toTag!, cseq, extra: route });
    stranger.peer.send(inDialog('ACK', 2));
    const ack = await backend.next(2000, (m) => m.method === 'ACK' && m.callId === callId);
    expect(ack.toTag).toBe('ast-1');
    stranger.peer.send(inDialog('BYE', 3));
    const bye = await backend.next(2000, (m) => m.method === 'BYE' && m.callId === callId);
    expect(bye.uri).toBe(contactUri(ok));
    backend.send(responseTo(bye, 200, 'OK'));
    expect((await stranger.peer.next(2000, (m) => m.status >= 200 && m.callId === callId && m.cseq?.method === 'BYE')).status).toBe(200);
  });

  it("removes a stranger's own P-Asserted-Identity / P-Preferred-Identity on a `from: [any]` route", async () => {
    const ruri = 'sip:sales@example.com';
    const callId = `inv-${uniq()}`;
    const fromTag = `f-${uniq()}`;
    const sent = stranger.req('INVITE', ruri, {
      callId, fromTag, to: `<${ruri}>`,
      extra: ['P-Asserted-Identity: <sip:admin@example.com>', 'P-Preferred-Identity: <sip:admin@example.com>'],
    });
    stranger.peer.send(sent);
    const inv = await backend.next(2000, (m) => m.method === 'INVITE' && m.callId === callId);
    expect(inv.has('p-asserted-identity')).toBe(false);
    expect(inv.has('p-preferred-identity')).toBe(false);
    backend.send(responseTo(inv, 486, 'Busy Here', { toTag: 'ast-2' }));
    const busy = await stranger.peer.next(2000, final(callId));
    expect(busy.status).toBe(486);
    ackNon2xx(stranger, sent, busy, ruri, fromTag);
  });

  it('a trusted network calls without a challenge; a forged in-dialog BYE from a stranger gets 403 and reaches nobody, the real BYE reaches the caller', async () => {
    const ruri = 'sip:2000@example.com';
    const callId = `inv-${uniq()}`;
    const fromTag = `t-${uniq()}`;
    trustedNet.peer.send(trustedNet.req('INVITE', ruri, { callId, fromTag, to: `<${ruri}>` }));
    const inv = await backend.next(2000, (m) => m.method === 'INVITE' && m.callId === callId);
    expect(trustedNet.peer.received.some((m) => m.callId === callId && m.status === 407)).toBe(false);
    const contact = `<sip:asterisk@127.0.0.1:${backend.port}>`;
    backend.send(responseTo(inv, 200, 'OK', { toTag: 'ast-3', contact }));
    const ok = await trustedNet.peer.next(2000, (m) => m.status === 200 && m.callId === callId);
    const rr = ok.list('record-route').map((r) => r.value);
    trustedNet.peer.send(trustedNet.req('ACK', contactUri(ok), { callId, fromTag, toTag: 'ast-3', to: `<${ruri}>`, cseq: 1, extra: rr.map((r) => `Route: ${r}`).reverse() }));
    await backend.next(2000, (m) => m.method === 'ACK' && m.callId === callId);

    // the stranger knows the Call-ID and both tags, but not the token
    const forged = (routeUri: string, cseq: number) =>
      stranger.req('BYE', contactUri(ok), { callId, fromTag, toTag: 'ast-3', to: `<${ruri}>`, cseq, extra: [`Route: <${routeUri}>`] });
    for (const [routeUri, cseq] of [[`sip:127.0.0.1:${port};lr`, 5], [`sip:127.0.0.1:${port};lr;sf=AAAAAAAAAAAAAAAAAAAAAA`, 6]] as const) {
      stranger.peer.send(forged(routeUri, cseq));
      expect((await stranger.peer.next(2000, final(callId, cseq))).status).toBe(403);
    }
    expect(await backend.silence(300, (m) => m.method === 'BYE' && m.callId === callId)).toBe(true);
    expect(trustedNet.peer.received.some((m) => m.method === 'BYE')).toBe(false);

    // Asterisk hangs up: its BYE follows the Record-Route (in its order) to the caller and the 200 comes back
    const bye = request('BYE', `sip:alice@127.0.0.7:${trustedNet.peer.port}`, {
      port: backend.port, callId, fromTag: 'ast-3', toTag: fromTag, cseq: 1, to: '<sip:alice@127.0.0.7>',
      extra: rr.map((r) => `Route: ${r}`),
    });
    backend.send(bye);
    const got = await trustedNet.peer.next(2000, (m) => m.method === 'BYE' && m.callId === callId);
    expect(got.uri).toBe(`sip:alice@127.0.0.7:${trustedNet.peer.port}`);
    trustedNet.peer.send(responseTo(got, 200, 'OK'));
    expect((await backend.next(2000, (m) => m.status === 200 && m.callId === callId && m.cseq?.method === 'BYE')).status).toBe(200);
  });

  it('answers 403 when 1001 authenticates but sends From: 1002', async () => {
    const ruri = 'sip:0044123@example.com';
    const { callId, fromTag, sent } = await inviteWithAuth(phone1001, ruri, { from: 'sip:1002@example.com', user: '1001', password: 'secret1' });
    const res = await phone1001.peer.next(2000, final(callId, 2));
    expect(res.status).toBe(403);
    ackNon2xx(phone1001, sent, res, ruri, fromTag, 'sip:1002@example.com');
    expect(await backend.silence(300, (m) => m.callId === callId)).toBe(true);
  });

  it("challenges a REGISTER from a trusted network, and 1001's credentials cannot register 1002 (403)", async () => {
    const r = await register(trustedNet, '1002', '1001', 'secret1');
    expect(r.status).toBe(403);
    expect(await sf.server.registrar.lookup('1002@example.com')).toHaveLength(0);
  });

  it('local_calls: via-backends — 1001 calling registered 1002 reaches the backend, not 1002', async () => {
    expect((await register(phone1002, '1002', '1002', 'secret2')).status).toBe(200);
    expect(await sf.server.registrar.lookup('1002@example.com')).toHaveLength(1);
    const ruri = 'sip:1002@example.com';
    const { callId, fromTag, sent } = await inviteWithAuth(phone1001, ruri, { from: 'sip:1001@example.com', user: '1001', password: 'secret1' });
    const inv = await backend.next(2000, (m) => m.method === 'INVITE' && m.callId === callId);
    expect(inv.uri).toBe(ruri);
    expect(inv.getAll('p-asserted-identity')).toEqual(['<sip:1001@example.com>']);
    expect(await phone1002.peer.silence(300, (m) => m.method === 'INVITE' && m.callId === callId)).toBe(true);
    backend.send(responseTo(inv, 486, 'Busy Here', { toTag: 'ast-4' }));
    const busy = await phone1001.peer.next(2000, final(callId, 2));
    expect(busy.status).toBe(486);
    ackNon2xx(phone1001, sent, busy, ruri, fromTag, 'sip:1001@example.com');
  });

  it('the npm sip package, as 1001, answers the 407 itself and completes a call', async () => {
    const address = '127.0.0.8';
    const sipPort = await freeSipPort();
    const stack = sip.create({ address, port: sipPort, tcp: false }, () => undefined);
    try {
      const ruri = 'sip:0044123@example.com';
      const callId = `npm-sip-${uniq()}`;
      const fromTag = `npm-${uniq()}`;
      const responses: SipJsMessage[] = [];
      let notify: (() => void) | undefined;
      const onResponse = (rs: SipJsMessage): void => {
        responses.push(rs);
        notify?.();
      };
      const nextResponse = (pred: (rs: SipJsMessage) => boolean, what: string): Promise<SipJsMessage> =>
        withTimeout(
          new Promise<SipJsMessage>((resolve) => {
            const look = (): void => {
              const i = responses.findIndex(pred);
              if (i >= 0) {
                notify = undefined;
                resolve(responses.splice(i, 1)[0]!);
              }
            };
            notify = look;
            look();
          }),
          2000,
          what,
        );
      const invite = (cseq: number, auth?: string): SipJsMessage => ({
        method: 'INVITE',
        uri: ruri,
        headers: {
          to: { uri: ruri },
          from: { uri: 'sip:1001@example.com', params: { tag: fromTag } },
          'call-id': callId,
          cseq: { method: 'INVITE', seq: cseq },
          contact: [{ uri: `sip:1001@${address}:${sipPort}` }],
          // sipfront as the outbound proxy (a preloaded loose route naming it)
          route: [{ uri: `sip:127.0.0.1:${port};lr` }],
          'max-forwards': 70,
          ...(auth !== undefined ? { 'proxy-authorization': auth } : {}),
        },
      });

      stack.send(invite(1), onResponse);
      const ch = await nextResponse((rs) => rs.status === 407, 'the 407 to the npm sip caller');
      const challenge = sip.stringifyAuthHeader(ch.headers['proxy-authenticate'][0]);
      stack.send(invite(2, buildAuthorization(challenge, { username: '1001', password: 'secret1' }, 'INVITE', ruri)), onResponse);

      const inv = await backend.next(2000, (m) => m.method === 'INVITE' && m.callId === callId);
      expect(inv.getAll('p-asserted-identity')).toEqual(['<sip:1001@example.com>']);
      expect(inv.has('proxy-authorization')).toBe(false);
      expect(inv.cseq?.seq).toBe(2);
      const contact = `<sip:asterisk@127.0.0.1:${backend.port}>`;
      backend.send(responseTo(inv, 200, 'OK', { toTag: 'ast-5', contact }));
      const ok = await nextResponse((rs) => rs.status === 200 && rs.headers.cseq.method === 'INVITE', 'the 200 to the npm sip caller');

      const inDialog = (method: string, seq: number): SipJsMessage => ({
        method,
        uri: ok.headers.contact[0].uri,
        headers: {
          to: ok.headers.to,
          from: ok.headers.from,
          'call-id': callId,
          cseq: { method, seq },
          route: [...(ok.headers['record-route'] ?? [])].reverse(),
          'max-forwards': 70,
        },
      });
      stack.send(inDialog('ACK', 2));
      await backend.next(2000, (m) => m.method === 'ACK' && m.callId === callId && m.toTag === 'ast-5');
      stack.send(inDialog('BYE', 3), onResponse);
      const bye = await backend.next(2000, (m) => m.method === 'BYE' && m.callId === callId);
      backend.send(responseTo(bye, 200, 'OK'));
      const byeOk = await nextResponse((rs) => rs.headers.cseq.method === 'BYE' && (rs.status ?? 0) >= 200, 'the 200 to the npm sip caller\'s BYE');
      expect(byeOk.status).toBe(200);
    } finally {
      stack.destroy();
    }
  });
});

describe('caller trust end to end (local_calls: direct)', () => {
  let sf: TestSipfront;
  let port: number;
  let backend: UdpPeer;
  let phone1001: Phone;
  let phone1002: Phone;

  beforeAll(async () => {
    backend = await udpPeer({ answerOptions: true });
    port = await freeSipPort();
    sf = await startSipfront(config(port, backend.port, ['  local_calls: direct']));
    backend.to(port);
    phone1001 = await phoneOn('127.0.0.5', port);
    phone1002 = await phoneOn('127.0.0.6', port);
  });
  afterAll(async () => {
    await sf?.close();
    for (const p of [backend, phone1001?.peer, phone1002?.peer]) await p?.close();
  });

  it("1001 calling registered 1002 reaches 1002's contact, not the backend", async () => {
    // register 1002 (the same exchange as above, against this instance)
    const callIdR = `reg-${uniq()}`;
    const reg = (cseq: number, extra: string[]) =>
      phone1002.req('REGISTER', 'sip:example.com', { callId: callIdR, fromTag: 'r1', cseq, from: 'sip:1002@example.com', to: '<sip:1002@example.com>', extra: ['Expires: 600', ...extra] })
        .replace(/^Contact: <sip:alice@/m, 'Contact: <sip:1002@');
    phone1002.peer.send(reg(1, []));
    const ch = await phone1002.peer.next(2000, final(callIdR, 1));
    phone1002.peer.send(reg(2, [`Authorization: ${buildAuthorization(ch.get('www-authenticate')!, { username: '1002', password: 'secret2' }, 'REGISTER', 'sip:example.com')}`]));
    expect((await phone1002.peer.next(2000, final(callIdR, 2))).status).toBe(200);

    const ruri = 'sip:1002@example.com';
    const callId = `inv-${uniq()}`;
    const fromTag = `f-${uniq()}`;
    const first = phone1001.req('INVITE', ruri, { callId, fromTag, from: 'sip:1001@example.com', to: `<${ruri}>`, cseq: 1 });
    phone1001.peer.send(first);
    const ch407 = await phone1001.peer.next(2000, final(callId, 1));
    expect(ch407.status).toBe(407);
    ackNon2xx(phone1001, first, ch407, ruri, fromTag, 'sip:1001@example.com');
    const auth = buildAuthorization(ch407.get('proxy-authenticate')!, { username: '1001', password: 'secret1' }, 'INVITE', ruri);
    const second = phone1001.req('INVITE', ruri, { callId, fromTag, from: 'sip:1001@example.com', to: `<${ruri}>`, cseq: 2, extra: [`Proxy-Authorization: ${auth}`] });
    phone1001.peer.send(second);

    const inv = await phone1002.peer.next(2000, (m) => m.method === 'INVITE' && m.callId === callId);
    expect(inv.uri).toBe(`sip:1002@127.0.0.6:${phone1002.peer.port}`);
    expect(inv.getAll('p-asserted-identity')).toEqual(['<sip:1001@example.com>']);
    expect(inv.has('proxy-authorization')).toBe(false);
    expect(await backend.silence(300, (m) => m.callId === callId)).toBe(true);
    phone1002.peer.send(responseTo(inv, 486, 'Busy Here', { toTag: 'p-1002' }));
    const busy = await phone1001.peer.next(2000, final(callId, 2));
    expect(busy.status).toBe(486);
    ackNon2xx(phone1001, second, busy, ruri, fromTag, 'sip:1001@example.com');
  });
});
