// The trunk client over real UDP on 127.0.0.1, against a provider's registrar: a small one
// written here (node:dgram, our parser, core's digest hashing) and sipp playing the provider
// (test/sipp/provider-registrar.xml, which checks every REGISTER's credentials itself), and
// Kamailio 5.6 as the provider's registrar (digest MD5 and SHA-256, its location table checked).
// Until the server wires the proxy's originate(), `send` is a minimal UDP client transaction
// written here: Via with a fresh branch, retransmission from T1, the final response by branch.
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { spawn, execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import type { DigestQop, SipMessage } from '@sipfront/core';
import { digestResponse, formatChallenge, ha1, isSipUri, parseAlgorithm, parseDigestCredentials, parseMessage, parseUri } from '@sipfront/core';
import { createTrunkManager, type TrunkManager, type TrunkSender, type TrunkSpec } from '@sipfront/trunks';
import { freePort, recvCount, sentCount, startSippUas } from './helpers/sipp.js';
import { waitFor } from './helpers/wait.js';

const REALM = 'provider.test';

interface UdpEnd {
  sock: Socket;
  port: number;
  /** run before the socket closes (pending retransmissions stop) */
  onClose: Array<() => void>;
  close(): Promise<void>;
}

const bindUdp = async (): Promise<UdpEnd> => {
  const sock = createSocket('udp4');
  sock.bind(0, '127.0.0.1');
  await once(sock, 'listening');
  const onClose: Array<() => void> = [];
  return {
    sock,
    port: sock.address().port,
    onClose,
    close: () => {
      for (const f of onClose.splice(0)) f();
      return new Promise((r) => sock.close(() => r()));
    },
  };
};

/** A minimal UDP client transaction for requests sipfront originates (what originate() does). */
const udpSender = (end: UdpEnd, t1 = 100): TrunkSender => {
  const waiting = new Map<string, (m: SipMessage) => void>();
  const pending = new Set<() => void>();
  end.onClose.push(() => {
    for (const stop of pending) stop();
  });
  end.sock.on('message', (data) => {
    let m: SipMessage;
    try {
      m = parseMessage(data, { datagram: true });
    } catch {
      return;
    }
    const branch = m.topVia?.branch;
    if (m.isResponse && m.status >= 200 && branch !== undefined) waiting.get(branch)?.(m);
  });
  return (req, destination, timeoutMs) =>
    new Promise((resolve) => {
      const u = parseUri(destination);
      if (!isSipUri(u)) return resolve({ code: null, error: 'not a SIP URI' });
      const branch = `z9hG4bK${randomBytes(8).toString('hex')}`;
      const msg = req.clone();
      msg.prepend('Via', `SIP/2.0/UDP 127.0.0.1:${end.port};branch=${branch};rport`);
      const data = msg.toBuffer();
      let interval = t1;
      let timer: NodeJS.Timeout;
      const tx = (): void => {
        end.sock.send(data, u.port ?? 5060, u.host);
        timer = setTimeout(tx, interval);
        interval = Math.min(interval * 2, 4000);
      };
      const finish = (r: Awaited<ReturnType<TrunkSender>>): void => {
        clearTimeout(timer);
        clearTimeout(deadline);
        waiting.delete(branch);
        pending.delete(stop);
        resolve(r);
      };
      const stop = (): void => finish({ code: null, error: 'closed' });
      pending.add(stop);
      const deadline = setTimeout(() => finish({ code: null, error: 'timeout' }), timeoutMs);
      waiting.set(branch, (res) => {
        res.removeFirstItem('via');
        finish({ response: res, code: res.status });
      });
      tx();
    });
};

interface Binding {
  contact: string;
  until: number;
}

/** A provider's registrar: 401 until the credentials verify, then 200 granting `grant` s. */
const fakeRegistrar = async (opts: { user: string; password: string; grant: number }) => {
  const end = await bindUdp();
  const bindings = new Map<string, Binding>();
  const registers: SipMessage[] = [];
  /** first arrival (ms) of each REGISTER CSeq, answered or not: one per attempt round */
  const firstSeen = new Map<string, number>();
  let silent = false;
  let nonce = randomBytes(8).toString('hex');
  end.sock.on('message', (data, rinfo) => {
    const req = parseMessage(data, { datagram: true });
    if (!req.isRequest || req.method !== 'REGISTER') return;
    const key = `${req.callId!} ${req.get('cseq')!}`;
    if (!firstSeen.has(key)) firstSeen.set(key, Date.now());
    if (silent) return;
    registers.push(req);
    const answer = (status: number, reason: string, extra: string[] = []): void => {
      const lines = [
        `SIP/2.0 ${status} ${reason}`,
        ...req.getAll('via').map((v) => `Via: ${v}`),
        `From: ${req.get('from')!}`,
        `To: ${req.get('to')!};tag=prov`,
        `Call-ID: ${req.callId!}`,
        `CSeq: ${req.get('cseq')!}`,
        ...extra,
        'Content-Length: 0',
      ];
      end.sock.send(Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), rinfo.port, rinfo.address);
    };
    const cred = parseDigestCredentials(req.get('authorization') ?? '');
    let valid = false;
    if (cred.ok && cred.value.username === opts.user && cred.value.realm === REALM && cred.value.nonce === nonce) {
      const c = cred.value;
      const alg = parseAlgorithm(c.algorithm)!;
      valid = c.response === digestResponse({ alg, ha1: ha1(alg, c.username, c.realm, opts.password), method: 'REGISTER', uri: c.uri, nonce: c.nonce, nc: c.nc, cnonce: c.cnonce, qop: c.qop as DigestQop });
    }
    if (!valid) {
      nonce = randomBytes(8).toString('hex');
      answer(401, 'Unauthorized', [`WWW-Authenticate: ${formatChallenge({ realm: REALM, nonce, algorithm: 'MD5' })}`]);
      return;
    }
    const contact = req.contacts()[0]?.nameAddr?.uri ?? '';
    const expires = req.expires ?? opts.grant;
    if (expires === 0) {
      bindings.delete(contact);
      answer(200, 'OK');
      return;
    }
    const granted = Math.min(expires, opts.grant);
    bindings.set(contact, { contact, until: Date.now() + granted * 1000 });
    answer(200, 'OK', [`Contact: <${contact}>;expires=${granted}`]);
  });
  return {
    port: end.port,
    registers,
    firstSeen,
    /** bindings that have not run out */
    live: (): Binding[] => [...bindings.values()].filter((b) => b.until > Date.now()),
    setSilent: (on: boolean) => void (silent = on),
    close: end.close,
  };
};

const spec = (registrarPort: number, over: Partial<Omit<TrunkSpec, 'retry'>> & { retry?: Partial<TrunkSpec['retry']> } = {}): TrunkSpec => {
  const { retry, ...rest } = over;
  return {
    id: 'prov', registrar: `sip:127.0.0.1:${registrarPort}`, user: '200200', password: 'secret', ha1: null, authUser: '200200', realm: null,
    contactUser: '200200', domain: 'provider.test', fromUser: '200200', outboundProxy: null, inboundFrom: [], expires: 3600, routeTo: 1,
    ...rest,
    retry: { interval: 20_000, forbiddenInterval: 300_000, maxAttempts: 0, initialDelayMax: 0, ...retry },
  };
};

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const client = async (trunks: TrunkSpec[], requestTimeoutMs = 2000): Promise<{ m: TrunkManager; end: UdpEnd }> => {
  const end = await bindUdp();
  const m = createTrunkManager({ send: udpSender(end), localContact: () => `127.0.0.1:${end.port}`, requestTimeoutMs, unregisterTimeoutMs: 2000 }, trunks);
  cleanup.push(end.close, () => m.close({ unregister: false }));
  return { m, end };
};

describe('trunk registration over UDP against a registrar written here', () => {
  it('registers through a 401, refreshes a short grant before it runs out, is matched inbound, and leaves no binding at close', async () => {
    const reg = await fakeRegistrar({ user: '200200', password: 'secret', grant: 8 });
    cleanup.push(reg.close);
    const { m, end } = await client([spec(reg.port, { expires: 60 })]);
    m.start();
    await waitFor(() => m.get('prov')?.state === 'registered', { timeoutMs: 3000, what: 'registered' });
    expect(reg.registers.map((r) => r.has('authorization'))).toEqual([false, true]);
    expect(reg.live().map((b) => b.contact)).toEqual([`sip:200200@127.0.0.1:${end.port}`]);
    expect(m.matchInbound({ address: '127.0.0.1', port: 40000, transport: 'udp' }, '200200')?.routeTo).toBe(1);
    // granted 8 s although 60 were asked: refreshed at ~6.8 s (85 %), the binding never lapses.
    // (A 4 s grant left 0.6 s between the refresh and the end of the binding, and a full CI run,
    // starving this process, which is the registrar too, once let it lapse.)
    const until = Date.parse(m.get('prov')!.registeredUntil!);
    for (let i = 0; i < 34; i++) {
      await new Promise((r) => setTimeout(r, 250));
      expect(reg.live()).toHaveLength(1);
    }
    expect(Date.parse(m.get('prov')!.registeredUntil!)).toBeGreaterThan(until);
    const refreshes = reg.registers.slice(2);
    expect(refreshes.length).toBeGreaterThanOrEqual(1);
    expect(refreshes.length).toBeLessThanOrEqual(2);
    await m.close();
    expect(reg.live()).toEqual([]);
    expect(m.get('prov')).toMatchObject({ state: 'unregistered', registeredUntil: null });
  });

  it('wrong password: rejected after one answered challenge, and silent until forbidden_interval', async () => {
    const reg = await fakeRegistrar({ user: '200200', password: 'the-real-one', grant: 60 });
    cleanup.push(reg.close);
    const { m } = await client([spec(reg.port, { retry: { forbiddenInterval: 1500 } })]);
    m.start();
    await waitFor(() => m.get('prov')?.state === 'rejected', { timeoutMs: 3000, what: 'rejected' });
    expect(m.get('prov')).toMatchObject({ lastCode: 401 });
    const t0 = Date.now();
    expect(reg.registers).toHaveLength(2);
    await new Promise((r) => setTimeout(r, 1200));
    expect(reg.registers).toHaveLength(2);
    await waitFor(() => reg.registers.length === 4, { timeoutMs: 1500, what: 'the retry after forbidden_interval' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1200);
  });

  it('provider not answering: retrying, one attempt per interval; registered within one interval after it is back', async () => {
    const reg = await fakeRegistrar({ user: '200200', password: 'secret', grant: 60 });
    cleanup.push(reg.close);
    reg.setSilent(true);
    // each attempt: the REGISTER times out after 300 ms, the next one waits retry.interval (400 ms)
    const { m } = await client([spec(reg.port, { retry: { interval: 400 } })], 300);
    m.start();
    await waitFor(() => m.get('prov')?.state === 'retrying', { timeoutMs: 2000, what: 'retrying' });
    await new Promise((r) => setTimeout(r, 2000));
    const attempts = [...reg.firstSeen.values()];
    // about 3 in 2.3 s; never more than the spacing allows
    expect(attempts.length).toBeGreaterThanOrEqual(2);
    expect(attempts.length).toBeLessThanOrEqual(4);
    for (let i = 1; i < attempts.length; i++) expect(attempts[i]! - attempts[i - 1]!).toBeGreaterThanOrEqual(700 - 30);
    expect(reg.registers).toHaveLength(0);
    reg.setSilent(false);
    const back = Date.now();
    await waitFor(() => m.get('prov')?.state === 'registered', { timeoutMs: 2000, what: 'registered again' });
    // at worst the attempt in flight times out (300 ms), then one interval (400 ms), then two round trips (slack for a loaded machine)
    expect(Date.now() - back).toBeLessThanOrEqual(300 + 400 + 500);
  });
});

describe('trunk registration against sipp as the provider', () => {
  it('sipp challenges, verifies every REGISTER (refresh and Expires: 0 included) and sees the whole registration', async () => {
    const uas = await startSippUas({
      scenario: 'provider-registrar.xml',
      keys: { auth_user: 'acc-200200', auth_password: 'sipp-secret', grant: '2' },
      timeoutMs: 20_000,
      recvTimeoutMs: 10_000,
      maxCalls: 1,
    });
    cleanup.push(() => uas.stop(500));
    const { m } = await client([spec(uas.port, { authUser: 'acc-200200', password: 'sipp-secret', expires: 60 })]);
    m.start();
    await waitFor(() => m.get('prov')?.state === 'registered', { timeoutMs: 3000, what: 'registered with sipp' });
    const first = Date.parse(m.get('prov')!.registeredUntil!);
    await waitFor(() => Date.parse(m.get('prov')!.registeredUntil!) > first, { timeoutMs: 3000, what: 'a refresh accepted by sipp' });
    // a loaded machine (the whole suite runs in parallel) may answer slowly: a generous bound
    await m.close({ timeoutMs: 10_000 });
    expect(m.get('prov')).toMatchObject({ lastCode: 200, lastReason: 'OK' });
    const result = await uas.result;
    expect(result.errors).toBe('');
    expect(recvCount(result.counts, 'REGISTER')).toBeGreaterThanOrEqual(3);
    expect(sentCount(result.counts, '401')).toBe(1);
    expect(sentCount(result.counts, '403')).toBe(0);
    expect(result.successful).toBe(1);
  });

  it('sipp refuses wrong credentials with 403: the trunk is rejected and waits forbidden_interval', async () => {
    const uas = await startSippUas({
      scenario: 'provider-registrar.xml',
      keys: { auth_user: '200200', auth_password: 'sipp-secret', grant: '60' },
      timeoutMs: 20_000,
      maxCalls: 1,
    });
    cleanup.push(() => uas.stop(500));
    const { m } = await client([spec(uas.port, { password: 'not-it', retry: { forbiddenInterval: 60_000 } })]);
    m.start();
    await waitFor(() => m.get('prov')?.state === 'rejected', { timeoutMs: 3000, what: 'rejected by sipp' });
    expect(m.get('prov')).toMatchObject({ lastCode: 403, lastReason: 'Forbidden' });
    const result = await uas.result;
    expect(sentCount(result.counts, '403')).toBe(1);
    expect(recvCount(result.counts, 'REGISTER')).toBe(2);
  });
});

// ---- Kamailio 5.6 as the provider's registrar ----------------------------------------------

const run = promisify(execFile);

interface Kamailio {
  port: number;
  /** the location table as `kamcmd ul.dump` prints it */
  dump(): Promise<string>;
  stop(): Promise<void>;
}

/** Kamailio in the foreground (SIPP-NOTES): digest from pv_www_authenticate, no database; grants at most 3 s. */
const startKamailio = async (algorithm: 'MD5' | 'SHA-256'): Promise<Kamailio> => {
  const dir = await mkdtemp(join(tmpdir(), 'sipfront-kamailio-'));
  const port = await freePort('both');
  const ctl = `unix:${join(dir, 'ctl')}`;
  const cfg = [
    '#!KAMAILIO',
    'debug=2', 'log_stderror=yes', 'children=1', 'tcp_children=1', 'auto_aliases=no',
    `listen=udp:127.0.0.1:${port}`, `listen=tcp:127.0.0.1:${port}`,
    'mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"',
    ...['kex', 'textops', 'tm', 'sl', 'pv', 'xlog', 'usrloc', 'registrar', 'auth', 'ctl'].map((m) => `loadmodule "${m}.so"`),
    `modparam("ctl", "binrpc", "${ctl}")`,
    'modparam("registrar", "min_expires", 1)',
    'modparam("registrar", "max_expires", 3)',
    `modparam("auth", "algorithm", "${algorithm}")`,
    'request_route {',
    '  if (is_method("REGISTER")) {',
    '    if (!pv_www_authenticate("$td", "kam-secret", "0")) { www_challenge("$td", "1"); exit; }',
    '    if (!save("location")) sl_reply_error();',
    '    exit;',
    '  }',
    '  sl_send_reply("404", "Not here");',
    '}',
  ].join('\n');
  await writeFile(join(dir, 'kamailio.cfg'), cfg);
  const child = spawn('kamailio', ['-f', join(dir, 'kamailio.cfg'), '-DD', '-E', '-Y', dir, '-P', join(dir, 'pid'), '-m', '32', '-M', '8'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => void (stderr = (stderr + d.toString()).slice(-20_000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('error', () => undefined);
  const kamcmd = async (...args: string[]): Promise<string> => (await run('kamcmd', ['-s', ctl, ...args], { timeout: 3000 })).stdout;
  try {
    await waitFor(async () => (await kamcmd('core.version')).includes('kamailio'), { timeoutMs: 8000, what: 'kamailio up' });
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`kamailio did not start: ${stderr.slice(-2000)}`, { cause: err });
  }
  return {
    port,
    dump: () => kamcmd('ul.dump'),
    stop: async () => {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(killer);
      await rm(dir, { recursive: true, force: true });
    },
  };
};

describe('trunk registration against Kamailio 5.6 as the provider', () => {
  for (const algorithm of ['MD5', 'SHA-256'] as const) {
    it(`${algorithm}: Kamailio's location table holds the binding, refreshed under a 3 s grant, gone after close`, async () => {
      const kam = await startKamailio(algorithm);
      cleanup.push(kam.stop);
      const { m, end } = await client([spec(kam.port, { password: 'kam-secret', expires: 60 })]);
      const contact = `sip:200200@127.0.0.1:${end.port}`;
      m.start();
      await waitFor(() => m.get('prov')?.state === 'registered', { timeoutMs: 4000, what: `registered with Kamailio (${algorithm})` });
      expect(await kam.dump()).toContain(contact);
      const until = Date.parse(m.get('prov')!.registeredUntil!);
      expect(until - Date.now()).toBeLessThanOrEqual(3000);
      await waitFor(() => Date.parse(m.get('prov')!.registeredUntil!) > until, { timeoutMs: 4000, what: 'a refresh Kamailio accepted' });
      expect(await kam.dump()).toContain(contact);
      await m.close();
      expect(m.get('prov')).toMatchObject({ state: 'unregistered', lastCode: 200 });
      expect(await kam.dump()).not.toContain(contact);
    });
  }

  it('wrong password: Kamailio challenges again, the trunk is rejected', async () => {
    const kam = await startKamailio('MD5');
    cleanup.push(kam.stop);
    const { m } = await client([spec(kam.port, { password: 'wrong' })]);
    m.start();
    await waitFor(() => m.get('prov')?.state === 'rejected', { timeoutMs: 4000, what: 'rejected by Kamailio' });
    expect(m.get('prov')).toMatchObject({ lastCode: 401 });
    expect(m.get('prov')?.lastReason).toMatch(/credentials refused/);
  });
});
