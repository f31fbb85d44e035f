// NAT keep-alive end to end: with `registrar.keepalive.interval` set, phones that registered
// with a Contact other than their source get an OPTIONS every interval at the address they
// registered from; one that stops answering loses its binding after two misses.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAuthorization, type SipMessage } from '@sipfront/core';
import { tcpPeer, udpPeer, type SipPeer, type UdpPeer } from './helpers/sip-client.js';
import { startSipfront, type TestSipfront } from './helpers/sipfront.js';
import { request, responseTo, uniq } from './helpers/sip-text.js';
import { waitFor } from './helpers/wait.js';

const INTERVAL = 1_000;
const TIMEOUT = 500; // keepaliveTimeout(INTERVAL): half the interval
const TOLERANCE = 400;

describe('registrar NAT keep-alive', () => {
  let sf: TestSipfront;
  const peers: SipPeer[] = [];

  beforeAll(async () => {
    sf = await startSipfront(
      [
        'domains: [example.com]',
        'security: { auth_failures: { max: 50, window: 60s, ban: 60s } }',
        'registrar:',
        `  keepalive: { interval: ${INTERVAL}ms }`,
        '  subscribers:',
        ...['1001', '1002', '1003', '1004', '1005'].map((u) => `    - { user: "${u}", domain: example.com, password: pw${u} }`),
      ].join('\n'),
    );
  });
  afterAll(async () => {
    await sf?.close();
    for (const p of peers) await p.close();
  });

  /** REGISTER with digest from `peer` (at `host`), Contact as given; resolves with the final answer. */
  const register = async (peer: SipPeer, host: string, user: string, contact: string): Promise<SipMessage> => {
    const callId = `reg-${uniq()}`;
    const tcp = peer.transport === 'tcp';
    const msg = (cseq: number, auth?: string) =>
      request('REGISTER', 'sip:example.com', {
        port: peer.port,
        callId,
        cseq,
        to: `<sip:${user}@example.com>`,
        ...(tcp ? { transport: 'tcp' as const } : {}),
        extra: [...(auth !== undefined ? [`Authorization: ${auth}`] : []), 'Expires: 600'],
      })
        .replace(/^From: <sip:alice@127.0.0.1>/m, `From: <sip:${user}@example.com>`)
        .replace(/^Contact: .*$/m, `Contact: <${contact}>`)
        .replace(/^Via: SIP\/2.0\/(UDP|TCP) 127.0.0.1/m, `Via: SIP/2.0/$1 ${host}`);
    const final = (seq: number) => (m: SipMessage) => m.status >= 200 && m.callId === callId && m.cseq?.seq === seq;
    peer.send(msg(1));
    const challenge = await peer.next(3000, final(1));
    expect(challenge.status).toBe(401);
    peer.send(msg(2, buildAuthorization(challenge.get('www-authenticate')!, { username: user, password: `pw${user}` }, 'REGISTER', 'sip:example.com')));
    return peer.next(3000, final(2));
  };

  /** Answers every OPTIONS with `status()` (null: stays silent) and notes when each new one (by Call-ID) arrived. */
  const answerPings = (peer: SipPeer, status: () => number | null = () => 200) => {
    const first = new Map<string, { at: number; msg: SipMessage }>();
    let running = true;
    const loop = (async () => {
      while (running) {
        let m: SipMessage;
        try {
          m = await peer.next(200, (x) => x.method === 'OPTIONS');
        } catch {
          continue; // none within 200 ms
        }
        if (!first.has(m.callId!)) first.set(m.callId!, { at: Date.now(), msg: m });
        const code = status();
        if (code !== null) peer.send(responseTo(m, code, code === 200 ? 'OK' : 'Method Not Allowed'));
      }
    })();
    return {
      pings: () => [...first.values()],
      stop: async () => {
        running = false;
        await loop;
      },
    };
  };

  const bindings = (aor: string) => sf.server.registrar.lookup(aor);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('pings a phone behind NAT every interval at the address it registered from, and it keeps its binding', async () => {
    const phone: UdpPeer = (await udpPeer({ host: '127.0.0.5' })).to(sf.udpPort);
    peers.push(phone);
    const contact = `sip:1001@192.168.1.50:${phone.port}`;
    const ok = await register(phone, '127.0.0.5', '1001', contact);
    expect(ok.status).toBe(200);
    const registeredAt = Date.now();
    const pinger = answerPings(phone);
    await sleep(4 * INTERVAL + INTERVAL / 2);
    await pinger.stop();
    const pings = pinger.pings();
    expect(pings.length).toBeGreaterThanOrEqual(4);
    expect(pings.length).toBeLessThanOrEqual(5);
    // the first one interval after the REGISTER, then one per interval
    expect(Math.abs(pings[0]!.at - registeredAt - INTERVAL)).toBeLessThanOrEqual(TOLERANCE);
    for (let i = 1; i < pings.length; i++) expect(Math.abs(pings[i]!.at - pings[i - 1]!.at - INTERVAL)).toBeLessThanOrEqual(TOLERANCE);
    const m = pings[0]!.msg;
    expect(m.uri).toBe(contact);
    expect(m.get('to')).toContain(contact);
    expect(m.vias()[0]!.transport.toUpperCase()).toBe('UDP');
    const regs = await bindings('1001@example.com');
    expect(regs.map((b) => b.uri)).toEqual([contact]);
  });

  it('counts any final answer as alive (405)', async () => {
    const phone = (await udpPeer({ host: '127.0.0.8' })).to(sf.udpPort);
    peers.push(phone);
    const contact = `sip:1003@10.1.2.3:5060`;
    expect((await register(phone, '127.0.0.8', '1003', contact)).status).toBe(200);
    const pinger = answerPings(phone, () => 405);
    await sleep(3 * INTERVAL + INTERVAL / 2);
    await pinger.stop();
    expect(pinger.pings().length).toBeGreaterThanOrEqual(3);
    expect((await bindings('1003@example.com')).map((b) => b.uri)).toEqual([contact]);
  });

  it('removes the binding of a phone that stops answering within 2 × interval + timeout', async () => {
    const phone = (await udpPeer({ host: '127.0.0.6' })).to(sf.udpPort);
    peers.push(phone);
    let answering = true;
    const pinger = answerPings(phone, () => (answering ? 200 : null));
    // the registration must not race the responder for the 401/200: it only takes OPTIONS
    expect((await register(phone, '127.0.0.6', '1002', `sip:1002@192.168.1.51:${phone.port}`)).status).toBe(200);
    await waitFor(() => pinger.pings().length >= 1, { timeoutMs: INTERVAL + TOLERANCE + 1000, what: 'first ping' });
    const removed: number[] = [];
    const unwatch = sf.server.stores.contacts.onChange((c) => {
      if (c.aor === '1002@example.com' && c.reason === 'removed') removed.push(Date.now());
    });
    answering = false;
    const stoppedAt = Date.now();
    try {
      await waitFor(async () => (await bindings('1002@example.com')).length === 0, {
        timeoutMs: 2 * INTERVAL + TIMEOUT + TOLERANCE + 2000,
        intervalMs: 20,
        what: 'binding removed',
      });
      const took = Date.now() - stoppedAt;
      // two misses in a row, each at least one timeout long, and no more than the bound
      expect(took).toBeGreaterThanOrEqual(INTERVAL + TIMEOUT - TOLERANCE);
      expect(took).toBeLessThanOrEqual(2 * INTERVAL + TIMEOUT + TOLERANCE);
      expect(removed).toHaveLength(1);
    } finally {
      unwatch();
      await pinger.stop();
    }
    // and it is not pinged any more
    const n = pinger.pings().length;
    expect(await phone.silence(2 * INTERVAL, (m) => m.method === 'OPTIONS' && !pinger.pings().some((p) => p.msg.callId === m.callId))).toBe(true);
    expect(pinger.pings()).toHaveLength(n);
  });

  it('does not ping a phone whose Contact is where it registered from', async () => {
    const phone = (await udpPeer({ host: '127.0.0.7' })).to(sf.udpPort);
    peers.push(phone);
    const contact = `sip:1004@127.0.0.7:${phone.port}`;
    expect((await register(phone, '127.0.0.7', '1004', contact)).status).toBe(200);
    expect(await phone.silence(2 * INTERVAL + INTERVAL / 2, (m) => m.method === 'OPTIONS')).toBe(true);
    expect((await bindings('1004@example.com')).map((b) => b.uri)).toEqual([contact]);
  });

  it('pings a TCP phone over its own connection, and removes it once the connection is gone', async () => {
    const phone = await tcpPeer(sf.tcpPort);
    peers.push(phone);
    const contact = 'sip:1005@192.168.1.60:5060;transport=tcp';
    expect((await register(phone, '127.0.0.1', '1005', contact)).status).toBe(200);
    const pinger = answerPings(phone);
    await waitFor(() => pinger.pings().length >= 2, { timeoutMs: 2 * INTERVAL + TOLERANCE + 1000, what: 'two pings over TCP' });
    await pinger.stop();
    const m = pinger.pings()[0]!.msg;
    expect(m.uri).toBe(contact);
    expect(m.vias()[0]!.transport.toUpperCase()).toBe('TCP');
    expect(await bindings('1005@example.com')).toHaveLength(1);
    await phone.close();
    const closedAt = Date.now();
    await waitFor(async () => (await bindings('1005@example.com')).length === 0, {
      timeoutMs: 2 * INTERVAL + TIMEOUT + TOLERANCE + 2000,
      intervalMs: 20,
      what: 'TCP binding removed',
    });
    expect(Date.now() - closedAt).toBeLessThanOrEqual(2 * INTERVAL + TIMEOUT + TOLERANCE);
  });
});
