// The registrar's proof (issue 5) with real clients over UDP: sipp registers with MD5 digest
// (challenged, accepted, refreshed, unregistered); the npm `sip` package registers as a second,
// independent client and answers a call; calls from the Asterisk set reach the phone at the
// address its REGISTER came from, not the private address in its Contact; two devices of one AOR
// both ring and the one that answers gets the call; bindings expire on time.
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAuthorization, type SipMessage } from '@sipfront/core';
import { udpPeer, type UdpPeer } from './helpers/sip-client.js';
import { DOMAIN, inDialog, isFinal, registerWithDigest } from './helpers/register.js';
import { freeSipPort, startSipfront, type TestSipfront } from './helpers/sipfront.js';
import { callIdOf, request, responseTo, uniq } from './helpers/sip-text.js';
import { freePort, recvCount, runSipp, startSippUas } from './helpers/sipp.js';
import { waitFor, withTimeout } from './helpers/wait.js';

// ---- the npm `sip` package (CommonJS, untyped): the little of it this test uses -------------

interface SipJsMessage {
  method?: string;
  uri?: string;
  status?: number;
  reason?: string;
  headers: Record<string, unknown>;
  content?: string;
}
interface SipJsStack {
  send(m: SipJsMessage, callback?: (rs: SipJsMessage) => void): void;
  destroy(): void;
}
interface SipJs {
  create(
    options: { port: number; address: string; tcp?: boolean; udp?: boolean },
    handler: (rq: SipJsMessage, remote: { protocol: string; address: string; port: number }) => void,
  ): SipJsStack;
  makeResponse(rq: SipJsMessage, status: number, reason?: string): SipJsMessage;
  stringifyAuthHeader(h: unknown): string;
}
// `require` keeps the type check free of the package's missing declarations
const sipjs = createRequire(import.meta.url)('sip') as SipJs;

/** REGISTER → 401 → REGISTER with credentials; resolves with the final answer to the second. */
const registerRaw = async (peer: UdpPeer, o: Parameters<typeof registerWithDigest>[1]): Promise<SipMessage> => {
  const { first, final } = await registerWithDigest(peer, o);
  expect(first.status).toBe(401);
  return final;
};

describe('registrar end to end: sipp, the npm sip package, NAT, forking, expiry', () => {
  let sf: TestSipfront;
  let port: number;
  /** an Asterisk node: the only destination of set 1 */
  let backend: UdpPeer;

  beforeAll(async () => {
    backend = await udpPeer({ answerOptions: true });
    port = await freeSipPort();
    sf = await startSipfront(
      [
        'listen:',
        `  - { transport: udp, host: 127.0.0.1, port: ${port} }`,
        `domains: [${DOMAIN}]`,
        'security: { trusted: [127.0.0.1/32], auth_failures: { max: 50, window: 60s, ban: 60s } }',
        'registrar:',
        '  expires: { min: 1, default: 600, max: 3600 }',
        '  subscribers:',
        `    - { user: "1001", domain: ${DOMAIN}, password: secret1 }`,
        `    - { user: "1002", domain: ${DOMAIN}, password: secret2 }`,
        `    - { user: "1003", domain: ${DOMAIN}, password: secret3 }`,
        `    - { user: "1004", domain: ${DOMAIN}, password: secret4 }`,
        'dispatcher:',
        '  sets:',
        `    - { id: 1, name: asterisk, algorithm: round-robin, destinations: [ { uri: "sip:127.0.0.1:${backend.port}" } ] }`,
      ].join('\n'),
    );
    backend.to(port);
  });
  afterAll(async () => {
    await sf?.close();
    await backend?.close();
  });

  it('sipp registers with MD5 digest: challenged, accepted, refreshed, unregistered', async () => {
    const aor = `1001@${DOMAIN}`;
    let settled = false;
    const run = runSipp({
      scenario: 'register.xml',
      remote: `127.0.0.1:${port}`,
      localHost: '127.0.0.2',
      callDurationMs: 1000,
      keys: { reg_user: '1001', reg_domain: DOMAIN, contact_host: '192.168.1.50', contact_port: '5060', reg_expires: '600' },
      extraArgs: ['-au', '1001', '-ap', 'secret1'],
      timeoutMs: 15_000,
    }).finally(() => {
      settled = true;
    });
    // watch the binding while sipp runs: it appears (CSeq 2), is refreshed (a higher CSeq), goes
    const cseqs = new Set<number>();
    let listed = false;
    await waitFor(
      async () => {
        const b = await sf.server.registrar.lookup(aor);
        if (b.length === 1) {
          expect(b[0]).toMatchObject({ uri: 'sip:1001@192.168.1.50:5060', source: { transport: 'udp', address: '127.0.0.2' } });
          cseqs.add(b[0]!.cseq);
          if (!listed) {
            const res = await fetch(`${sf.apiUrl}/api/v1/registrations`);
            const body = (await res.json()) as { registrations: Array<{ aor: string }> };
            listed = body.registrations.some((r) => r.aor === aor);
          }
        }
        return settled;
      },
      { timeoutMs: 20_000, intervalMs: 20, what: 'the sipp registration run' },
    );
    const r = await run;
    // sipp's verdict: exit status 0 with -m 1 = the one call passed every step of the scenario
    // (the statistics row may have been written just before the call ended, so not asserted)
    expect({ code: r.code, failed: r.failed, errors: r.errors }, `sipp stats: ${JSON.stringify(r.stats)}`).toEqual({ code: 0, failed: 0, errors: '' });
    expect(recvCount(r.counts, '401')).toBeGreaterThanOrEqual(1);
    expect(listed).toBe(true);
    expect(cseqs.has(2)).toBe(true);
    expect([...cseqs].some((c) => c > 2)).toBe(true);
    expect(await sf.server.registrar.lookup(aor)).toEqual([]);
    const res = await fetch(`${sf.apiUrl}/api/v1/registrations`);
    const body = (await res.json()) as { registrations: Array<{ aor: string }> };
    expect(body.registrations.map((x) => x.aor)).not.toContain(aor);
  });

  it('the npm sip package registers on its own (answering the 401 itself) and answers a call', async () => {
    const localPort = await freePort('udp');
    const host = '127.0.0.7';
    const seen: string[] = [];
    let acked = (): void => undefined;
    const ackArrived = new Promise<void>((resolve) => (acked = resolve));
    const stack = sipjs.create({ port: localPort, address: host, tcp: false }, (rq) => {
      seen.push(rq.method ?? '');
      if (rq.method === 'INVITE') {
        (rq.headers['to'] as { params: Record<string, string> }).params['tag'] = 'sipjs-callee';
        stack.send(sipjs.makeResponse(rq, 180, 'Ringing'));
        const ok = sipjs.makeResponse(rq, 200, 'OK');
        ok.headers['contact'] = [{ uri: `sip:1002@${host}:${localPort}` }];
        ok.headers['record-route'] = rq.headers['record-route'];
        stack.send(ok);
      } else if (rq.method === 'ACK') {
        acked();
      } else if (rq.method === 'BYE') {
        stack.send(sipjs.makeResponse(rq, 200, 'OK'));
      }
    });
    try {
      const callId = `sipjs-${uniq()}`;
      const registerMsg = (cseq: number, expires: number, authorization?: string): SipJsMessage => ({
        method: 'REGISTER',
        uri: `sip:${DOMAIN}`,
        headers: {
          to: { uri: `sip:1002@${DOMAIN}` },
          from: { uri: `sip:1002@${DOMAIN}`, params: { tag: 'sipjs-reg' } },
          'call-id': callId,
          cseq: { method: 'REGISTER', seq: cseq },
          // behind NAT: the Contact names a private address that nothing can reach
          contact: [{ uri: 'sip:1002@192.168.1.60:5060' }],
          route: `<sip:127.0.0.1:${port};lr>`,
          expires,
          'max-forwards': 70,
          'user-agent': 'npm sip 0.0.6',
          ...(authorization !== undefined ? { authorization } : {}),
        },
      });
      const send = (m: SipJsMessage): Promise<SipJsMessage> =>
        withTimeout(
          new Promise<SipJsMessage>((resolve) => stack.send(m, (rs) => {
            if ((rs.status ?? 0) >= 200) resolve(rs);
          })),
          5000,
          `npm sip: ${m.method ?? ''} CSeq ${String((m.headers['cseq'] as { seq: number }).seq)}`,
        );
      const challenge = await send(registerMsg(1, 600));
      expect(challenge.status).toBe(401);
      const www = (challenge.headers['www-authenticate'] as unknown[])[0];
      const auth = (nc: number): string =>
        buildAuthorization(sipjs.stringifyAuthHeader(www), { username: '1002', password: 'secret2' }, 'REGISTER', `sip:${DOMAIN}`, { nc });
      const ok = await send(registerMsg(2, 600, auth(1)));
      expect(ok.status).toBe(200);
      const bindings = await sf.server.registrar.lookup(`1002@${DOMAIN}`);
      expect(bindings).toHaveLength(1);
      expect(bindings[0]).toMatchObject({ uri: 'sip:1002@192.168.1.60:5060', userAgent: 'npm sip 0.0.6', source: { address: host, port: localPort } });

      // the Asterisk node calls 1002: the npm sip client gets the INVITE and answers it
      const invite = request('INVITE', `sip:1002@${DOMAIN}`, { port: backend.port, to: `<sip:1002@${DOMAIN}>` });
      const inviteId = callIdOf(invite);
      backend.send(invite);
      const answer = await backend.next(5000, isFinal(inviteId));
      expect(answer.status).toBe(200);
      expect(answer.toTag).toBe('sipjs-callee');
      backend.send(inDialog('ACK', answer, backend, 1));
      await withTimeout(ackArrived, 3000, 'the ACK at the npm sip client');
      backend.send(inDialog('BYE', answer, backend, 2));
      expect((await backend.next(3000, isFinal(inviteId, 'BYE'))).status).toBe(200);
      expect(seen).toEqual(['INVITE', 'ACK', 'BYE']);

      // unregister with the same nonce, next nonce-count
      const gone = await send(registerMsg(3, 0, auth(2)));
      expect(gone.status).toBe(200);
      expect(await sf.server.registrar.lookup(`1002@${DOMAIN}`)).toEqual([]);
    } finally {
      stack.destroy();
    }
  });

  it('a call from the Asterisk set reaches the sipp UA where its REGISTER came from, not its Contact', async () => {
    const phonePort = await freePort('udp');
    const reg = await runSipp({
      scenario: 'register-only.xml',
      remote: `127.0.0.1:${port}`,
      localPort: phonePort,
      keys: { reg_user: '1003', reg_domain: DOMAIN, contact_host: '192.168.1.50', contact_port: '5999', reg_expires: '600' },
      extraArgs: ['-au', '1003', '-ap', 'secret3'],
      timeoutMs: 10_000,
    });
    expect({ code: reg.code, failed: reg.failed, errors: reg.errors }, `sipp stats: ${JSON.stringify(reg.stats)}`).toEqual({ code: 0, failed: 0, errors: '' });
    const [binding] = await sf.server.registrar.lookup(`1003@${DOMAIN}`);
    expect(binding).toMatchObject({ uri: 'sip:1003@192.168.1.50:5999', source: { address: '127.0.0.1', port: phonePort } });

    // the same sipp port now plays the phone that rings and answers
    const phone = await startSippUas({ scenario: 'uas.xml', port: phonePort, maxCalls: 1, timeoutMs: 20_000 });
    try {
      const invite = request('INVITE', `sip:1003@${DOMAIN}`, { port: backend.port, to: `<sip:1003@${DOMAIN}>` });
      const callId = callIdOf(invite);
      backend.send(invite);
      const answer = await backend.next(5000, isFinal(callId));
      expect(answer.status).toBe(200);
      expect(answer.contacts()[0]?.nameAddr?.uri).toMatch(new RegExp(`^sip:127\\.0\\.0\\.1:${phonePort}\\b`));
      expect(await phone.received('INVITE')).toEqual([callId]);
      backend.send(inDialog('ACK', answer, backend, 1));
      backend.send(inDialog('BYE', answer, backend, 2));
      expect((await backend.next(3000, isFinal(callId, 'BYE'))).status).toBe(200);
    } finally {
      const r = await phone.stop();
      expect({ invites: recvCount(r.counts, 'INVITE'), byes: recvCount(r.counts, 'BYE'), acks: recvCount(r.counts, 'ACK') }).toEqual({ invites: 1, byes: 1, acks: 1 });
    }
  });

  it('two devices of one AOR both ring; the one that answers gets the call, the other a CANCEL', async () => {
    const deskHost = '127.0.0.5';
    const mobileHost = '127.0.0.6';
    const desk = (await udpPeer({ host: deskHost })).to(port);
    const mobile = (await udpPeer({ host: mobileHost })).to(port);
    try {
      expect((await registerRaw(desk, { host: deskHost, user: '1004', password: 'secret4', contact: 'sip:1004@192.168.1.51:5060', expires: 600 })).status).toBe(200);
      expect((await registerRaw(mobile, { host: mobileHost, user: '1004', password: 'secret4', contact: 'sip:1004@192.168.1.52:5060', expires: 600 })).status).toBe(200);
      expect(await sf.server.registrar.lookup(`1004@${DOMAIN}`)).toHaveLength(2);

      const invite = request('INVITE', `sip:1004@${DOMAIN}`, { port: backend.port, to: `<sip:1004@${DOMAIN}>` });
      const callId = callIdOf(invite);
      backend.send(invite);
      const isInvite = (m: SipMessage): boolean => m.method === 'INVITE' && m.callId === callId;
      const [atDesk, atMobile] = await Promise.all([desk.next(3000, isInvite), mobile.next(3000, isInvite)]);
      expect(atDesk.uri).toBe('sip:1004@192.168.1.51:5060');
      expect(atMobile.uri).toBe('sip:1004@192.168.1.52:5060');

      // both ring
      desk.send(responseTo(atDesk, 180, 'Ringing', { toTag: 'desk' }));
      mobile.send(responseTo(atMobile, 180, 'Ringing', { toTag: 'mobile' }));
      const rings = new Set<string>();
      for (let i = 0; i < 2; i++) {
        const ring = await backend.next(3000, (m) => m.status === 180 && m.callId === callId);
        rings.add(ring.toTag ?? '');
      }
      expect(rings).toEqual(new Set(['desk', 'mobile']));

      // the desk phone answers (its Contact in the answer is where it can be reached)
      desk.send(responseTo(atDesk, 200, 'OK', { toTag: 'desk', contact: `<sip:1004@${deskHost}:${desk.port}>` }));
      const answer = await backend.next(3000, isFinal(callId));
      expect(answer.status).toBe(200);
      expect(answer.toTag).toBe('desk');

      // the mobile gets CANCEL, answers it and ends its INVITE with 487
      const cancel = await mobile.next(3000, (m) => m.method === 'CANCEL' && m.callId === callId);
      mobile.send(responseTo(cancel, 200, 'OK', { toTag: 'mobile' }));
      mobile.send(responseTo(atMobile, 487, 'Request Terminated', { toTag: 'mobile' }));
      expect((await mobile.next(3000, (m) => m.method === 'ACK' && m.callId === callId)).cseq?.seq).toBe(atMobile.cseq?.seq);

      // the call goes on with the desk phone only
      backend.send(inDialog('ACK', answer, backend, 1));
      await desk.next(3000, (m) => m.method === 'ACK' && m.callId === callId);
      backend.send(inDialog('BYE', answer, backend, 2));
      const bye = await desk.next(3000, (m) => m.method === 'BYE' && m.callId === callId);
      desk.send(responseTo(bye, 200, 'OK'));
      expect((await backend.next(3000, isFinal(callId, 'BYE'))).status).toBe(200);
      // the caller never saw the mobile's 487, and the desk no CANCEL
      expect(backend.received.filter((m) => m.callId === callId && m.cseq?.method === 'INVITE' && m.status >= 200).map((m) => m.status)).toEqual([200]);
      expect(desk.received.some((m) => m.method === 'CANCEL')).toBe(false);
    } finally {
      await desk.close();
      await mobile.close();
    }
  });

  describe('expiry', () => {
    let short: TestSipfront;
    let shortPort: number;
    beforeAll(async () => {
      shortPort = await freeSipPort();
      short = await startSipfront(
        [
          'listen:',
          `  - { transport: udp, host: 127.0.0.1, port: ${shortPort} }`,
          `domains: [${DOMAIN}]`,
          'registrar:',
          '  expires: { min: 1, default: 2, max: 2 }',
          '  subscribers:',
          `    - { user: "1001", domain: ${DOMAIN}, password: secret1 }`,
        ].join('\n'),
      );
    });
    afterAll(async () => {
      await short?.close();
    });

    it('removes a binding registered for 2 s after 2 s (tolerance 300 ms), not before', async () => {
      const host = '127.0.0.8';
      const phone = (await udpPeer({ host })).to(shortPort);
      try {
        // the REGISTER is asked for 3600 s: max caps it at 2
        const before = Date.now();
        const ok = await registerRaw(phone, { host, user: '1001', password: 'secret1', contact: 'sip:1001@192.168.1.50:5060', expires: 3600 });
        const after = Date.now();
        expect(ok.status).toBe(200);
        expect(ok.get('contact')).toBe('<sip:1001@192.168.1.50:5060>;expires=2');
        expect(await short.server.registrar.lookup(`1001@${DOMAIN}`)).toHaveLength(1);
        // the 2 s run from when the registrar took the REGISTER: between `before` and `after`
        await waitFor(async () => (await short.server.registrar.lookup(`1001@${DOMAIN}`)).length === 0, {
          timeoutMs: 2000 + 300 + (after - before),
          intervalMs: 20,
          what: 'the binding to expire',
        });
        const gone = Date.now();
        expect(gone - before).toBeGreaterThanOrEqual(2000 - 25);
        expect(gone - after).toBeLessThanOrEqual(2000 + 300);
        // the sweep removes it from the store too (the API lists what the store holds)
        await waitFor(async () => {
          const res = await fetch(`${short.apiUrl}/api/v1/registrations`);
          return ((await res.json()) as { registrations: unknown[] }).registrations.length === 0;
        }, { timeoutMs: 2000, what: 'the expired binding to leave GET /registrations' });
      } finally {
        await phone.close();
      }
    });
  });
});
