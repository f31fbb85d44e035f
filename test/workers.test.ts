// `workers: 2` run as an operator runs it: the real `sipfront` command (a node:cluster primary and
// two workers sharing one UDP socket) against sipp and raw UDP peers, on a real Redis. Each describe
// has its own sipfront, Redis prefix and peers; every wait is bounded.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { buildAuthorization, callIdOwner, getParam, type SipMessage } from '@sipfront/core';
import { udpPeer, type UdpPeer } from './helpers/sip-client.js';
import { request, responseTo, uniq } from './helpers/sip-text.js';
import { countOf, freePort, recvCount, runSipp, sentCount, startSippUas, type SippUas } from './helpers/sipp.js';
import { freeSipPort } from './helpers/sipfront.js';
import { waitFor } from './helpers/wait.js';
import { checkConfig, fetchMetrics, isAlive, metricValue, startCli, type RunningCli } from './helpers/workers-cli.js';

const REDIS_URL = process.env['SIPFRONT_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379/0';
/** every key this file makes starts with it; afterAll deletes them */
const BASE_PREFIX = `sftest-workers-${process.pid}-${randomBytes(4).toString('hex')}:`;

interface Instance {
  cli: RunningCli;
  port: number;
  apiUrl: string;
}

const configYaml = (o: { port: number; apiPort: number; prefix: string; backends: readonly number[]; extra?: readonly string[]; security?: string }): string =>
  [
    'listen:',
    `  - { transport: udp, host: 127.0.0.1, port: ${o.port} }`,
    'workers: 2',
    `store: { kind: redis, url: "${REDIS_URL}", prefix: "${o.prefix}" }`,
    `api: { host: 127.0.0.1, port: ${o.apiPort} }`,
    o.security ?? 'security: { trusted: [127.0.0.1/32] }',
    'log: { level: info }',
    ...(o.extra ?? []),
    'dispatcher:',
    '  sets:',
    '    - id: 1',
    '      algorithm: round-robin',
    '      destinations:',
    ...o.backends.map((p) => `        - { uri: "sip:127.0.0.1:${p}" }`),
  ].join('\n');

/** Starts `sipfront --config` with `workers: 2` and waits for "all workers started". */
const startWorkers = async (name: string, backends: readonly number[], extra: readonly string[] = [], security?: string): Promise<Instance> => {
  const port = await freeSipPort();
  const apiPort = await freePort('tcp');
  const cli = await startCli(configYaml({ port, apiPort, prefix: `${BASE_PREFIX}${name}:`, backends, extra, ...(security !== undefined ? { security } : {}) }));
  return { cli, port, apiUrl: `http://127.0.0.1:${apiPort}` };
};

/** SIGTERM (whatever a test left running), then the temp files go. */
const stopWorkers = async (sf: Instance | undefined): Promise<void> => {
  await sf?.cli.stop('SIGTERM').catch(() => undefined);
  await sf?.cli.dispose();
};

/** On a failure the tail of sipfront's own log goes into the report. */
const showLogsOnFailure = (sf: Instance | undefined): void => {
  onTestFailed(() => {
    if (sf !== undefined) console.error(`sipfront log (tail):\n${sf.cli.stdout().slice(-8000)}\n${sf.cli.stderr().slice(-2000)}`);
  });
};

const relayed = (metrics: string, worker: '0' | '1', direction: 'out' | 'in'): number | undefined =>
  metricValue(metrics, 'sipfront_worker_relayed_total', { worker, direction });

afterAll(async () => {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, lazyConnect: true });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${BASE_PREFIX}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
});

describe('workers: 2 — sipp calls through both workers to two sipp backends', () => {
  const CALLS = 400;
  let sf: Instance | undefined;
  const backends: SippUas[] = [];

  beforeAll(async () => {
    for (let i = 0; i < 2; i++) backends.push(await startSippUas({ scenario: 'uas.xml' }));
    sf = await startWorkers('calls', backends.map((b) => b.port));
  });
  afterAll(async () => {
    await stopWorkers(sf);
    for (const b of backends) await b.stop();
  });

  it(`completes ${CALLS} calls at 100/s, split between the backends; /metrics adds up both workers`, async () => {
    showLogsOnFailure(sf);
    const r = await runSipp({ scenario: 'uac.xml', remote: `127.0.0.1:${sf!.port}`, calls: CALLS, rate: 100, callDurationMs: 50, timeoutMs: 60_000 });
    expect({ successful: r.successful, failed: r.failed, code: r.code }, r.errors.slice(0, 2000)).toEqual({ successful: CALLS, failed: 0, code: 0 });

    // each backend's distinct Call-IDs: together every call, once, about half each (round-robin per worker)
    const ids = await waitFor(
      async () => {
        const got = await Promise.all(backends.map((b) => b.received('INVITE')));
        return got[0]!.length + got[1]!.length >= CALLS ? got : undefined;
      },
      { timeoutMs: 5000, what: `${CALLS} INVITEs in the backends' traces` },
    );
    expect(new Set([...ids[0]!, ...ids[1]!]).size).toBe(CALLS);
    expect(ids[0]!.length + ids[1]!.length).toBe(CALLS);
    for (const one of ids) expect(Math.abs(one.length - CALLS / 2), `INVITEs per backend: ${ids.map((x) => x.length).join(', ')}`).toBeLessThanOrEqual(CALLS * 0.05);

    // the primary's aggregate: every INVITE sipp sent (first sends and retransmissions) counted once
    expect(sentCount(r.counts, 'INVITE')).toBe(CALLS);
    const callerInvites = CALLS + countOf(r.counts, 'INVITE', 'Retrans');
    // The workers' registries are read one after the other: a probe's answer relayed in between
    // would make the in/out pairs differ for one scrape, so scrape until they agree (bounded).
    let metrics = '';
    await waitFor(
      async () => {
        metrics = await fetchMetrics(sf!.apiUrl);
        return relayed(metrics, '0', 'in') === relayed(metrics, '1', 'out') && relayed(metrics, '1', 'in') === relayed(metrics, '0', 'out');
      },
      { timeoutMs: 3000, intervalMs: 200, what: 'relayed in = relayed out between the two workers' },
    ).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}\n${metricLines(metrics, 'sipfront_worker_relayed_total')}`);
    });
    expect(metricValue(metrics, 'sipfront_sip_requests_total', { method: 'INVITE' })).toBe(callerInvites);
    // both workers took datagrams that the other owned and passed them on
    for (const worker of ['0', '1'] as const) {
      expect(relayed(metrics, worker, 'out'), metricLines(metrics, 'sipfront_worker_relayed_total')).toBeGreaterThan(0);
    }

    const results = await Promise.all(backends.map((b) => b.stop()));
    const invites = results.map((x) => recvCount(x.counts, 'INVITE'));
    // no duplicate INVITE reached a backend (one transaction per call, whichever worker got the datagram)
    expect(invites[0]! + invites[1]!).toBe(CALLS);
  }, 120_000);
});

describe('workers: 2 — CANCEL reaches the backend and the caller gets 487', () => {
  const CALLS = 20;
  let sf: Instance | undefined;
  let backend: SippUas | undefined;

  beforeAll(async () => {
    backend = await startSippUas({ scenario: 'uas-noanswer.xml' });
    sf = await startWorkers('cancel', [backend.port], ['sip: { t1: 100ms }']);
  });
  afterAll(async () => {
    await stopWorkers(sf);
    await backend?.stop();
  });

  it(`${CALLS} cancelled calls: 487 for each, a CANCEL for each at the backend`, async () => {
    showLogsOnFailure(sf);
    const r = await runSipp({ scenario: 'uac-cancel.xml', remote: `127.0.0.1:${sf!.port}`, calls: CALLS, rate: 20, callDurationMs: 200, timeoutMs: 30_000 });
    expect({ successful: r.successful, failed: r.failed, code: r.code }, r.errors.slice(0, 2000)).toEqual({ successful: CALLS, failed: 0, code: 0 });
    expect(recvCount(r.counts, '487')).toBe(CALLS);

    const invites = await backend!.received('INVITE');
    const cancels = await waitFor(
      async () => {
        const got = await backend!.received('CANCEL');
        return got.length >= CALLS ? got : undefined;
      },
      { timeoutMs: 5000, what: `${CALLS} CANCELs at the backend` },
    );
    expect(invites).toHaveLength(CALLS);
    expect(new Set(cancels)).toEqual(new Set(invites));
  }, 60_000);
});

describe('workers: 2 — a retransmitted INVITE makes one transaction, whichever worker gets each copy', () => {
  const CALL_IDS = 20;
  const COPIES = 6;
  let sf: Instance | undefined;
  let caller: UdpPeer | undefined;
  let backend: UdpPeer | undefined;
  /** the calls of the first test, for the second */
  const invites: Array<{ callId: string; text: string; owner: number }> = [];

  beforeAll(async () => {
    backend = await udpPeer({ answerOptions: true });
    caller = await udpPeer();
    sf = await startWorkers('retrans', [backend.port]);
  });
  afterAll(async () => {
    await stopWorkers(sf);
    await caller?.close();
    await backend?.close();
  });

  it(`${COPIES} copies of an INVITE → exactly one INVITE at the backend, for ${CALL_IDS} Call-IDs owned by both workers; the 200 comes back`, async () => {
    showLogsOnFailure(sf);
    const target = caller!.to(sf!.port);
    // half the Call-IDs hash to each worker, so each is the owner of some and a relay for others
    const owned = [0, 0];
    while (invites.length < CALL_IDS) {
      const callId = `workers-retrans-${uniq()}`;
      const text = request('INVITE', `sip:bob@127.0.0.1:${sf!.port}`, { port: caller!.port, callId });
      const owner = callIdOwner(Buffer.from(text, 'latin1'), 2);
      if (owner < 0 || owned[owner]! >= CALL_IDS / 2) continue;
      owned[owner]! += 1;
      invites.push({ callId, text, owner });
    }

    const atBackend = (callId: string, method: string): SipMessage[] =>
      backend!.received.filter((m) => m.method === method && m.callId === callId);
    const atCaller = (callId: string, status: number): SipMessage[] =>
      caller!.received.filter((m) => m.status === status && m.callId === callId);

    // the Via port of the INVITEs each worker forwarded: its own send socket
    const viaPorts = [new Set<number>(), new Set<number>()];
    for (const { callId, text } of invites) {
      for (let i = 0; i < COPIES; i++) target.send(text);
      const invite = await backend!.next(5000, (m) => m.method === 'INVITE' && m.callId === callId);
      viaPorts[invites.find((i) => i.callId === callId)!.owner]!.add(invite.topVia!.port!);
      reply(backend!, invite, responseTo(invite, 100, 'Trying'));
      // every copy has been handled once the caller has a 100 for each (a stateful proxy answers a
      // retransmission with its last provisional); 1 s at most if some copies get none
      await waitFor(() => atCaller(callId, 100).length >= COPIES, { timeoutMs: 1000 }).catch(() => undefined);
      expect(atBackend(callId, 'INVITE'), `INVITEs at the backend for ${callId}`).toHaveLength(1);
      expect(atCaller(callId, 100).length, `100 Trying at the caller for ${callId}`).toBeGreaterThanOrEqual(1);

      reply(backend!, invite, responseTo(invite, 200, 'OK', { toTag: `b-${callId}`, contact: `<sip:bob@127.0.0.1:${backend!.port}>` }));
      const ok = await caller!.next(5000, (m) => m.status === 200 && m.callId === callId);
      expect(ok.toTag).toBe(`b-${callId}`);
    }
    // each worker sends from a socket of its own (its answers come straight back to it), not the listen port
    expect(viaPorts.map((p) => p.size)).toEqual([1, 1]);
    const [own0, own1] = viaPorts.map((p) => [...p][0]!);
    expect(own0).not.toBe(own1);
    expect([own0, own1]).not.toContain(sf!.port);
    // still one INVITE per Call-ID after all of them (a late duplicate would show here)
    for (const { callId } of invites) expect(atBackend(callId, 'INVITE'), callId).toHaveLength(1);

    // the copies really crossed between the workers, both ways
    const metrics = await fetchMetrics(sf!.apiUrl);
    const lines = metricLines(metrics, 'sipfront_worker_relayed_total');
    expect(relayed(metrics, '0', 'in'), lines).toBeGreaterThan(0);
    expect(relayed(metrics, '1', 'in'), lines).toBeGreaterThan(0);
  }, 60_000);

  it("the API's call list and ladders hold both workers' calls; PUT /trace reaches both", async () => {
    showLogsOnFailure(sf);
    expect(invites).toHaveLength(CALL_IDS);
    const api = `${sf!.apiUrl}/api/v1`;
    const list = (await (await fetch(`${api}/calls`)).json()) as { calls: Array<{ callId: string; status: number | null }> };
    const listed = new Map(list.calls.map((c) => [c.callId, c]));
    for (const { callId } of invites) expect(listed.get(callId)?.status, callId).toBe(200);
    // newest first across the workers
    const starts = list.calls.map((c) => (c as unknown as { startedAt: string }).startedAt);
    expect(starts).toEqual([...starts].sort().reverse());

    for (const owner of [0, 1]) {
      const { callId } = invites.find((i) => i.owner === owner)!;
      const id = encodeURIComponent(callId);
      const one = (await (await fetch(`${api}/calls/${id}`)).json()) as { messages: Array<{ direction: string; method: string; status: number }> };
      expect(one.messages.filter((m) => m.method === 'INVITE').map((m) => m.direction), callId).toEqual(expect.arrayContaining(['in', 'out']));
      expect(one.messages.some((m) => m.status === 200 && m.direction === 'out'), callId).toBe(true);
      const text = await (await fetch(`${api}/calls/${id}?format=text`)).text();
      expect(text).toContain('INVITE');
      const pcap = await fetch(`${api}/calls/${id}?format=pcap`);
      expect(pcap.status).toBe(200);
      const bytes = Buffer.from(await pcap.arrayBuffer());
      expect(bytes.readUInt32LE(0)).toBe(0xa1b2c3d4);
      expect(bytes.length).toBeGreaterThan(24 + 16 * 2);
    }
    expect((await fetch(`${api}/calls/no-such-call`)).status).toBe(404);

    // capture off: a new call on either worker is not traced
    const off = await fetch(`${api}/trace`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ capture: 'off' }) });
    expect(off.status).toBe(200);
    try {
      const target = caller!.to(sf!.port);
      const fresh: Record<number, string> = {};
      while (fresh[0] === undefined || fresh[1] === undefined) {
        const callId = `workers-untraced-${uniq()}`;
        const text = request('INVITE', `sip:bob@127.0.0.1:${sf!.port}`, { port: caller!.port, callId });
        const owner = callIdOwner(Buffer.from(text, 'latin1'), 2);
        if (owner < 0 || fresh[owner] !== undefined) continue;
        fresh[owner] = callId;
        target.send(text);
        await backend!.next(5000, (m) => m.method === 'INVITE' && m.callId === callId);
      }
      for (const callId of Object.values(fresh)) expect((await fetch(`${api}/calls/${encodeURIComponent(callId)}`)).status, callId).toBe(404);
    } finally {
      await fetch(`${api}/trace`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ capture: 'all' }) });
    }
  }, 60_000);

  it("GET /events carries the call events of both workers while someone listens", async () => {
    showLogsOnFailure(sf);
    const ac = new AbortController();
    const res = await fetch(`${sf!.apiUrl}/api/v1/events`, { signal: ac.signal });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let text = '';
    const pump = (async () => {
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return;
          text += Buffer.from(value).toString('utf8');
        }
      } catch {
        // aborted
      }
    })();
    try {
      // the other workers hear of the listener through the primary: a call per worker, until each shows
      const target = caller!.to(sf!.port);
      for (const owner of [0, 1]) {
        await waitFor(
          async () => {
            let callId = '';
            let inviteText = '';
            do {
              callId = `workers-events-${uniq()}`;
              inviteText = request('INVITE', `sip:bob@127.0.0.1:${sf!.port}`, { port: caller!.port, callId });
            } while (callIdOwner(Buffer.from(inviteText, 'latin1'), 2) !== owner);
            target.send(inviteText);
            await backend!.next(3000, (m) => m.method === 'INVITE' && m.callId === callId);
            await waitFor(() => text.includes(callId), { timeoutMs: 500 }).catch(() => undefined);
            return text.includes(callId);
          },
          { timeoutMs: 5000, intervalMs: 1, what: `a call event from worker ${owner}` },
        );
      }
      expect(text).toMatch(/event: call/);
    } finally {
      ac.abort();
      await pump;
    }
  }, 30_000);
});

describe('workers: 2 — SIGTERM to the primary', () => {
  let sf: Instance | undefined;
  let caller: UdpPeer | undefined;
  let backend: UdpPeer | undefined;

  beforeAll(async () => {
    backend = await udpPeer({ answerOptions: true });
    caller = await udpPeer();
    sf = await startWorkers('sigterm', [backend.port]);
  });
  afterAll(async () => {
    await sf?.cli.dispose();
    await caller?.close();
    await backend?.close();
  });

  it('with a call ringing on worker 1: the call is wound up, both workers stop, "all workers stopped", exit 0, no worker left', async () => {
    showLogsOnFailure(sf);
    const cli = sf!.cli;
    // every worker has logged by now ("started" comes before "all workers started")
    const pids = cli.workerPids();
    expect([...pids.keys()].sort()).toEqual([0, 1]);
    const workerPids = [...pids.values()];
    expect(new Set(workerPids).size).toBe(2);
    expect(workerPids).not.toContain(cli.pid);
    for (const pid of workerPids) expect(isAlive(pid), `worker ${pid} alive before SIGTERM`).toBe(true);

    // A call still ringing on worker 1 (the one without the API) keeps that worker draining after
    // worker 0 has stopped: a primary that exits on the first worker's exit leaves it behind.
    let invite = '';
    let callId = '';
    do {
      callId = `workers-sigterm-${uniq()}`;
      invite = request('INVITE', `sip:bob@127.0.0.1:${sf!.port}`, { port: caller!.port, callId });
    } while (callIdOwner(Buffer.from(invite, 'latin1'), 2) !== 1);
    caller!.to(sf!.port).send(invite);
    const forwarded = await backend!.next(5000, (m) => m.method === 'INVITE' && m.callId === callId);
    reply(backend!, forwarded, responseTo(forwarded, 180, 'Ringing', { toTag: 'ringing' }));
    await caller!.next(5000, (m) => m.status === 180 && m.callId === callId);
    // the backend answers the CANCEL that the draining worker sends, as a phone would
    const cancelled = backend!.next(15_000, (m) => m.method === 'CANCEL' && m.callId === callId).then((cancel) => {
      reply(backend!, cancel, responseTo(cancel, 200, 'OK', { toTag: 'ringing' }));
      reply(backend!, forwarded, responseTo(forwarded, 487, 'Request Terminated', { toTag: 'ringing' }));
      return cancel;
    });
    cancelled.catch(() => undefined);

    const exit = await cli.stop('SIGTERM', 15_000);
    expect({ code: exit.code, signal: exit.signal }, cli.stderr()).toEqual({ code: 0, signal: null });
    for (const pid of workerPids) expect(isAlive(pid), `worker ${pid} gone after the primary exited`).toBe(false);

    const msgs = cli.logs.map((l) => `${l.worker ?? 'primary'}:${l.msg ?? ''}`);
    expect(msgs).toContain('primary:stopping the workers');
    const allStopped = msgs.indexOf('primary:all workers stopped');
    expect(allStopped, msgs.join('\n')).toBeGreaterThan(-1);
    for (const index of [0, 1]) {
      const stopped = msgs.indexOf(`${index}:stopped`);
      expect(stopped, `worker ${index} logged "stopped" before the primary's "all workers stopped"`).toBeGreaterThan(-1);
      expect(stopped, `worker ${index} logged "stopped" before the primary's "all workers stopped"`).toBeLessThan(allStopped);
    }
    expect(cli.logs.filter((l) => (l.level ?? 0) >= 50), 'no error or fatal log line').toEqual([]);

    // worker 1 wound the call up before it went: CANCEL to the backend, a final answer to the caller
    await cancelled;
    const final = caller!.received.find((m) => m.callId === callId && m.status >= 300);
    expect(final?.status, 'the caller\'s final response').toBe(503);
  }, 30_000);
});

describe("workers: 2 — a trunk registered by worker 0 routes its provider's calls in every worker", () => {
  let sf: Instance | undefined;
  let backend: UdpPeer | undefined;
  let provider: UdpPeer | undefined;

  beforeAll(async () => {
    backend = await udpPeer({ answerOptions: true });
    // the provider is a stranger to security.trusted: only its trunk vouches for it
    provider = await udpPeer({ host: '127.0.0.7', answerOptions: true });
    sf = await startWorkers('trunk', [backend.port], [
      'trunks:',
      `  - { id: prov, registrar: "sip:127.0.0.7:${provider.port}", user: "200200", password: secret, expires: 60, route_to: 1 }`,
    ]);
  });
  afterAll(async () => {
    await stopWorkers(sf);
    await provider?.close();
    await backend?.close();
  });

  it("the provider's INVITEs reach the backend through either worker once the trunk is registered", async () => {
    showLogsOnFailure(sf);
    // the provider's registrar: 200 for the REGISTER (no challenge), granting 60 s
    const reg = await provider!.next(10_000, (m) => m.method === 'REGISTER');
    // sent from the listen port (a provider may latch onto the source port), by worker 0 alone
    expect(reg.topVia!.port).toBe(sf!.port);
    reply(provider!, reg, responseTo(reg, 200, 'OK', { toTag: 'prov', extra: [`Contact: ${reg.get('contact')!};expires=60`] }));
    await waitFor(
      async () => ((await (await fetch(`${sf!.apiUrl}/api/v1/trunks/prov`)).json()) as { state?: string }).state === 'registered',
      { timeoutMs: 5000, what: 'the trunk registered' },
    );

    const target = provider!.to(sf!.port);
    for (const owner of [0, 1]) {
      // worker 1 knows the trunk from worker 0's snapshot, pushed within moments of the 200: until
      // then a provider's INVITE there is a stranger's; each try is a new call
      let reached = '';
      await waitFor(
        async () => {
          let callId = '';
          let text = '';
          do {
            callId = `workers-trunk-${uniq()}`;
            text = request('INVITE', `sip:200200@127.0.0.1:${sf!.port}`, { port: provider!.port, callId })
              .replace(/^Via: SIP\/2\.0\/UDP 127\.0\.0\.1:/m, 'Via: SIP/2.0/UDP 127.0.0.7:')
              .replace(/^Contact: <sip:alice@127\.0\.0\.1:/m, 'Contact: <sip:alice@127.0.0.7:');
          } while (callIdOwner(Buffer.from(text, 'latin1'), 2) !== owner);
          target.send(text);
          const got = await backend!.next(500, (m) => m.method === 'INVITE' && m.callId === callId).then(() => true, () => false);
          if (got) reached = callId;
          return got;
        },
        { timeoutMs: 5000, intervalMs: 1, what: `the provider's INVITE owned by worker ${owner} at the backend` },
      );
      const refused = provider!.received.filter((m) => m.callId === reached && (m.status ?? 0) >= 400);
      expect(refused, `no refusal for worker ${owner}'s call`).toEqual([]);
    }
  }, 40_000);
});

describe('workers: 2 — check-config refuses what the workers cannot share', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sipfront-workers-check-'));
  });
  afterAll(async () => {
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  const udp = 'listen: [{ transport: udp, host: 127.0.0.1, port: 5060 }]';
  const redis = `store: { kind: redis, url: "${REDIS_URL}", prefix: "${BASE_PREFIX}check:" }`;
  const set1 = 'dispatcher: { sets: [ { id: 1, destinations: [ { uri: "sip:127.0.0.1:5070" } ] } ] }';

  it('accepts workers: 2 with udp listeners only and the Redis store, trunks included', async () => {
    const run = await checkConfig([udp, 'workers: 2', redis, set1].join('\n'), dir, 'ok.yaml');
    expect(run, run.stderr).toMatchObject({ code: 0, stdout: `${run.file}: ok\n` });
    const withTrunk = await checkConfig([udp, 'workers: 2', redis, set1, 'trunks: [{ id: p1, registrar: "sip:127.0.0.1:5999", user: "1", password: x }]'].join('\n'), dir, 'trunks.yaml');
    expect(withTrunk, withTrunk.stderr).toMatchObject({ code: 0, stdout: `${withTrunk.file}: ok\n` });
  });

  it.each([
    {
      name: 'the memory store',
      file: 'memory-store.yaml',
      yaml: [udp, 'workers: 2', `store: { kind: memory, path: ${JSON.stringify(join(tmpdir(), 'sipfront-unused'))} }`, set1],
      problem: /^\S+memory-store\.yaml: workers: 2 needs store\.kind redis\b.*\(line 2\)$/,
    },
    {
      name: 'a tcp listener',
      file: 'tcp-listener.yaml',
      yaml: ['listen:', '  - { transport: udp, host: 127.0.0.1, port: 5060 }', '  - { transport: tcp, host: 127.0.0.1, port: 5060 }', 'workers: 2', redis, set1],
      problem: /^\S+tcp-listener\.yaml: listen\[1\]\.transport: tcp with workers 2\b.*\(line 3\)$/,
    },
    {
      name: 'the default listen',
      file: 'default-listen.yaml',
      yaml: ['workers: 2', redis, set1],
      problem: /^\S+default-listen\.yaml: workers: 2 needs listen\b.*\(line 1\)$/,
    },
  ])('refuses workers: 2 with $name: exit 1, one problem naming its YAML path', async ({ file, yaml, problem }) => {
    const run = await checkConfig(yaml.join('\n'), dir, file);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr.trim().split('\n')).toEqual([expect.stringMatching(problem)]);
  });
});

/** The sample lines of one metric, for a failure message. */
function metricLines(text: string, name: string): string {
  return text.split('\n').filter((l) => l.startsWith(name)).join('\n');
}

/** Sends a response where RFC 3261 §18.2.2 says: the top Via's sent-by (received/rport when set). */
function reply(peer: UdpPeer, req: SipMessage, text: string): void {
  const via = req.topVia!;
  const rport = getParam(via.params, 'rport');
  const port = typeof rport === 'string' && rport !== '' ? Number(rport) : (via.port ?? 5060);
  peer.to(port, getParam(via.params, 'received') ?? via.host).send(text);
}

describe('workers: 2 — security counts add up across the workers', () => {
  let sf: Instance | undefined;
  let backend: UdpPeer | undefined;
  const peers: UdpPeer[] = [];

  beforeAll(async () => {
    backend = await udpPeer({ answerOptions: true });
    sf = await startWorkers('security', [backend.port], ['domains: [example.com]', 'registrar:', '  subscribers:', '    - { user: "1001", domain: example.com, password: secret1 }'], [
      'security:',
      '  trusted: [127.0.0.1/32]',
      '  flood: { window: 10s, max: 20, ban: 60s }',
      '  auth_failures: { max: 4, window: 60s, ban: 60s }',
    ].join('\n'));
  });
  afterAll(async () => {
    await stopWorkers(sf);
    for (const p of peers) await p.close();
    await backend?.close();
  });

  const peerOn = async (host: string): Promise<UdpPeer> => {
    const p = (await udpPeer({ host })).to(sf!.port);
    peers.push(p);
    return p;
  };
  /** `request()` as a peer on `host` sends it, with a Call-ID that belongs to `owner` */
  const fromHost = (host: string, method: string, ruri: string, port: number, owner: number, extra: Partial<Parameters<typeof request>[2]> = {}): { text: string; callId: string } => {
    for (;;) {
      const callId = `workers-sec-${uniq()}`;
      const text = request(method, ruri, { port, callId, ...extra })
        .replace(/^Via: SIP\/2\.0\/UDP 127\.0\.0\.1:/m, `Via: SIP/2.0/UDP ${host}:`)
        .replace(/^Contact: <sip:alice@127\.0\.0\.1:/m, `Contact: <sip:alice@${host}:`);
      if (callIdOwner(Buffer.from(text, 'latin1'), 2) === owner) return { text, callId };
    }
  };
  /** a Call-ID that belongs to worker `owner` */
  const callIdFor = (owner: number, name: string): string => {
    for (;;) {
      const callId = `workers-${name}-${uniq()}`;
      if (callIdOwner(Buffer.from(`X\r\nCall-ID: ${callId}\r\n\r\n`, 'latin1'), 2) === owner) return callId;
    }
  };
  /** 1001@example.com's REGISTER as a phone on `host` sends it */
  const registerFrom = (host: string, port: number, callId: string, cseq: number, auth?: string): string =>
    request('REGISTER', 'sip:example.com', { port, callId, cseq, to: '<sip:1001@example.com>', extra: [...(auth !== undefined ? [`Authorization: ${auth}`] : []), 'Expires: 600'] })
      .replace(/^Via: SIP\/2\.0\/UDP 127\.0\.0\.1:/m, `Via: SIP/2.0/UDP ${host}:`)
      .replace(/^Contact: <sip:alice@127\.0\.0\.1:/m, `Contact: <sip:1001@${host}:`)
      .replace(/^From: <sip:alice@127\.0\.0\.1>/m, 'From: <sip:1001@example.com>');
  const bans = async (): Promise<Array<{ ip: string; reason: string }>> =>
    ((await (await fetch(`${sf!.apiUrl}/api/v1/bans`, { signal: AbortSignal.timeout(5000) })).json()) as { bans: Array<{ ip: string; reason: string }> }).bans;

  it('four wrong passwords, two through each worker, make one auth-failures ban (auth_failures.max: 4)', async () => {
    showLogsOnFailure(sf);
    const host = '127.0.0.4';
    const phone = await peerOn(host);
    const register = (callId: string, cseq: number, auth?: string): string => registerFrom(host, phone.port, callId, cseq, auth);
    for (let i = 1; i <= 4; i++) {
      // a Call-ID of worker i % 2: the REGISTER and its answer to the challenge meet that worker
      const callId = callIdFor(i % 2, 'reg');
      phone.send(register(callId, 1));
      const ch = await phone.next(3000, (m) => m.status >= 200 && m.callId === callId);
      expect(ch.status).toBe(401);
      expect(await bans()).toEqual([]);
      phone.send(register(callId, 2, buildAuthorization(ch.get('www-authenticate')!, { username: '1001', password: 'wrong' }, 'REGISTER', 'sip:example.com')));
      if (i < 4) expect((await phone.next(3000, (m) => m.status >= 200 && m.callId === callId && m.cseq?.seq === 2)).status).toBe(401);
    }
    const banned = await waitFor(async () => (await bans()).find((b) => b.ip === host), { timeoutMs: 3000, what: 'an auth-failures ban' });
    expect(banned.reason).toBe('auth-failures');
    // enforced by both workers
    for (const owner of [0, 1]) {
      const probe = fromHost(host, 'OPTIONS', `sip:127.0.0.1:${sf!.port}`, phone.port, owner);
      phone.send(probe.text);
      expect(await phone.silence(400, (m) => m.callId === probe.callId), `worker ${owner}`).toBe(true);
    }
    // the banned source's datagrams are dropped where they arrive: none is relayed, each is counted once
    const relayedOut = (t: string): number => (relayed(t, '0', 'out') ?? 0) + (relayed(t, '1', 'out') ?? 0);
    const refusedBanned = (t: string): number => metricValue(t, 'sipfront_requests_refused_total', { reason: 'banned' }) ?? 0;
    const before = await fetchMetrics(sf!.apiUrl);
    const SENT = 20;
    for (let i = 0; i < SENT; i++) phone.send(fromHost(host, 'OPTIONS', `sip:127.0.0.1:${sf!.port}`, phone.port, i % 2).text);
    let after = before;
    await waitFor(
      async () => {
        after = await fetchMetrics(sf!.apiUrl);
        return refusedBanned(after) - refusedBanned(before) >= SENT;
      },
      { timeoutMs: 3000, intervalMs: 100, what: `${SENT} more banned refusals` },
    );
    expect(refusedBanned(after) - refusedBanned(before)).toBe(SENT);
    expect(relayedOut(after) - relayedOut(before)).toBe(0);
  }, 60_000);

  it('a flood spread over both workers is banned at flood.max in all (each worker stops its share)', async () => {
    showLogsOnFailure(sf);
    const host = '127.0.0.5';
    const flooder = await peerOn(host);
    let answered = 0;
    // 24 OPTIONS, half owned by each worker: past flood.max (20) in all, 12 each
    for (let i = 0; i < 24; i++) {
      const o = fromHost(host, 'OPTIONS', `sip:127.0.0.1:${sf!.port}`, flooder.port, i % 2);
      flooder.send(o.text);
      if (await flooder.next(1000, (m) => m.callId === o.callId).then(() => true, () => false)) answered++;
    }
    const banned = await waitFor(async () => (await bans()).find((b) => b.ip === host), { timeoutMs: 3000, what: 'a flood ban' });
    expect(banned.reason).toBe('flood');
    // each worker let its share of flood.max through (10 each), not flood.max each
    expect(answered).toBeLessThanOrEqual(20);
    expect(answered).toBeGreaterThanOrEqual(18);
  }, 60_000);

  it('a phone registered through one worker is called through the other, from the listen port (its NAT knows that one)', async () => {
    showLogsOnFailure(sf);
    const host = '127.0.0.6';
    const phone = await peerOn(host);
    const regId = callIdFor(1, 'reg-ok');
    const register = (cseq: number, auth?: string): string => registerFrom(host, phone.port, regId, cseq, auth);
    phone.send(register(1));
    const ch = await phone.next(3000, (m) => m.status >= 200 && m.callId === regId);
    expect(ch.status).toBe(401);
    phone.send(register(2, buildAuthorization(ch.get('www-authenticate')!, { username: '1001', password: 'secret1' }, 'REGISTER', 'sip:example.com')));
    expect((await phone.next(3000, (m) => m.status >= 200 && m.callId === regId && m.cseq?.seq === 2)).status).toBe(200);

    // Asterisk (the backend) calls 1001 with a Call-ID of worker 0: the binding is in Redis, the phone rings
    const callId = callIdFor(0, 'call');
    backend!.to(sf!.port).send(request('INVITE', 'sip:1001@example.com', { port: backend!.port, callId }));
    const atPhone = await phone.next(5000, (m) => m.method === 'INVITE' && m.callId === callId);
    // from the listen port, not worker 0's own send socket: the phone's NAT pinhole is for that one
    expect(atPhone.topVia!.port).toBe(sf!.port);
    phone.to(sf!.port).send(responseTo(atPhone, 486, 'Busy Here', { toTag: 'phone-busy' }));
    expect((await backend!.next(5000, (m) => m.status >= 200 && m.callId === callId)).status).toBe(486);
  }, 30_000);

  it('a captured REGISTER replayed with a Call-ID of the other worker is challenged again, not accepted', async () => {
    showLogsOnFailure(sf);
    const host = '127.0.0.8';
    const phone = await peerOn(host);
    const regId = callIdFor(1, 'replay');
    phone.send(registerFrom(host, phone.port, regId, 1));
    const ch = await phone.next(3000, (m) => m.status >= 200 && m.callId === regId);
    expect(ch.status).toBe(401);
    const auth = buildAuthorization(ch.get('www-authenticate')!, { username: '1001', password: 'secret1' }, 'REGISTER', 'sip:example.com');
    phone.send(registerFrom(host, phone.port, regId, 2, auth));
    expect((await phone.next(3000, (m) => m.status >= 200 && m.callId === regId && m.cseq?.seq === 2)).status).toBe(200);

    // the same credentials (nonce, nc=1) again, by someone who captured them, on worker 0's Call-ID
    const otherId = callIdFor(0, 'replay');
    phone.send(registerFrom(host, phone.port, otherId, 1, auth));
    const replayed = await phone.next(3000, (m) => m.status >= 200 && m.callId === otherId);
    expect(replayed.status).toBe(401);
    expect(replayed.get('www-authenticate')).toMatch(/stale=true/i);
    // and on the issuing worker the nonce-count stops it, as with one process
    phone.send(registerFrom(host, phone.port, regId, 3, auth));
    expect((await phone.next(3000, (m) => m.status >= 200 && m.callId === regId && m.cseq?.seq === 3)).status).toBe(401);
  }, 30_000);

  it('POST /drain drains every worker: OPTIONS owned by either gets 503, and 200 again after the drain ends', async () => {
    showLogsOnFailure(sf);
    const me = await peerOn('127.0.0.1');
    const statuses = async (): Promise<number[]> => {
      const out: number[] = [];
      for (const owner of [0, 1]) {
        const o = fromHost('127.0.0.1', 'OPTIONS', `sip:127.0.0.1:${sf!.port}`, me.port, owner);
        me.send(o.text);
        out.push((await me.next(3000, (m) => m.status >= 200 && m.callId === o.callId)).status);
      }
      return out;
    };
    expect(await statuses()).toEqual([200, 200]);
    const drain = async (on: boolean): Promise<unknown> =>
      (await fetch(`${sf!.apiUrl}/api/v1/drain`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ draining: on }), signal: AbortSignal.timeout(5000) })).json();
    expect(await drain(true)).toEqual({ draining: true });
    expect(await statuses()).toEqual([503, 503]);
    expect(await drain(false)).toEqual({ draining: false });
    expect(await statuses()).toEqual([200, 200]);
  }, 30_000);
});
