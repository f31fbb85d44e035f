// The dispatcher end to end (issue 4, "Proof"): a sipp caller through sipfront to two or three
// sipp backends that answer OPTIONS. Calls spread as the algorithm says (round-robin, weighted
// 3:1, hash-callid with every request of a call on one backend and only the removed backend's
// share moving), a backend killed during a run goes inactive in bounded time with no failed call
// and comes back when restarted, operator states (disabled, draining) hold, and /metrics shows it.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runSipp, startSippUas, type SippResult, type SippUas } from './helpers/sipp.js';
import { freeSipPort, startSipfront, type TestSipfront } from './helpers/sipfront.js';
import { waitFor } from './helpers/wait.js';

const PROBE = { intervalMs: 1000, timeoutMs: 500, downAfter: 2, upAfter: 1 };
/** CONTRACT/issue 4: down within down_after × (interval + timeout), plus scheduling slack. */
const DOWN_BOUND_MS = PROBE.downAfter * (PROBE.intervalMs + PROBE.timeoutMs) + 500;
/** Back up within up_after × (interval + timeout) (a probe lost to the closed port times out first). */
const UP_BOUND_MS = PROBE.upAfter * (PROBE.intervalMs + PROBE.timeoutMs) + 500;
const CALLER = '127.0.0.2';

const uriOf = (b: SippUas): string => `sip:127.0.0.1:${b.port}`;
const enc = encodeURIComponent;

interface Rig {
  sf: TestSipfront;
  port: number;
  backends: SippUas[];
}

/** Backends first (their ports go into set 1), then sipfront with the probe and failover of the proof. */
async function startRig(algorithm: string, weights: readonly number[], backendArgs: readonly string[] = []): Promise<Rig> {
  const backends: SippUas[] = [];
  for (let i = 0; i < weights.length; i++) backends.push(await startSippUas({ scenario: 'uas.xml', extraArgs: backendArgs }));
  const port = await freeSipPort();
  const sf = await startSipfront(
    [
      'listen:',
      `  - { transport: udp, host: 127.0.0.1, port: ${port} }`,
      'security: { trusted: [127.0.0.0/8], flood: { window: 1s, max: 100000 } }',
      'dispatcher:',
      `  probe: { interval: ${PROBE.intervalMs}ms, timeout: ${PROBE.timeoutMs}ms, down_after: ${PROBE.downAfter}, up_after: ${PROBE.upAfter} }`,
      '  failover: { first_answer: 500ms }',
      '  sets:',
      '    - id: 1',
      '      name: asterisk',
      `      algorithm: ${algorithm}`,
      '      destinations:',
      ...backends.map((b, i) => `        - { uri: "${uriOf(b)}", weight: ${weights[i]} }`),
    ].join('\n'),
  );
  return { sf, port, backends };
}

let rig: Rig | undefined;
const extra: SippUas[] = [];
afterEach(async () => {
  await rig?.sf.close();
  await Promise.all([...(rig?.backends ?? []), ...extra.splice(0)].map((b) => b.stop(500)));
  rig = undefined;
});

const call = (r: Rig, calls: number, rate: number, more: { callDurationMs?: number; extraArgs?: string[] } = {}): Promise<SippResult> =>
  runSipp({ scenario: 'uac.xml', remote: `127.0.0.1:${r.port}`, localHost: CALLER, calls, rate, callDurationMs: more.callDurationMs ?? 0, ...(more.extraArgs ? { extraArgs: more.extraArgs } : {}) });

/** Every call completed. (sipp's error log may still note a retransmitted BYE answer or its own overload on a busy machine: not failures.) */
const expectAllOk = (r: SippResult, calls: number): void => {
  expect({ successful: r.successful, failed: r.failed, code: r.code }, r.errors).toEqual({ successful: calls, failed: 0, code: 0 });
};

/** Distinct INVITE Call-IDs per backend once they add up to `total` (a backend's log may trail the caller's end). */
async function invitesPer(backends: readonly SippUas[], total: number): Promise<number[]> {
  let per: number[] = [];
  await waitFor(async () => {
    per = await Promise.all(backends.map((b) => b.invites()));
    return per.reduce((a, n) => a + n, 0) >= total;
  }, { timeoutMs: 5000, what: `${total} INVITEs at the backends` });
  return per;
}

/** INVITE lines a backend logged (retransmissions and repeated Call-IDs included). */
async function rawInviteLines(b: SippUas): Promise<number> {
  const name = (await readdir(b.dir)).find((n) => n.endsWith('_shortmessages.log'));
  if (name === undefined) return 0;
  const text = await readFile(join(b.dir, name), 'utf8');
  return text.split('\n').filter((l) => { const f = l.split('\t'); return f[3] === 'R' && f[6]?.startsWith('INVITE '); }).length;
}

/** sipp's CurrentCall from the backend's -trace_stat (rewritten every second). */
async function currentCalls(b: SippUas): Promise<number> {
  const lines = (await readFile(join(b.dir, 'stat.csv'), 'utf8')).split('\n').filter((l) => l.trim() !== '');
  const header = (lines[0] ?? '').split(';');
  const row = (lines[lines.length - 1] ?? '').split(';');
  const value = Number(row[header.indexOf('CurrentCall')]);
  return lines.length >= 2 && Number.isFinite(value) ? value : -1;
}

async function metricsText(r: Rig): Promise<string> {
  const res = await fetch(`${r.sf.apiUrl}/metrics`, { signal: AbortSignal.timeout(5000) });
  expect(res.status).toBe(200);
  return res.text();
}

/** The value of `name{set="1",destination="uri"}`; undefined when the series is absent. */
const sample = (text: string, name: string, uri: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{set="1",destination="${uri}"} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
};

async function patchState(r: Rig, uri: string, state: string): Promise<{ status: number; body: { state: string; activeCalls: number } }> {
  const res = await fetch(`${r.sf.apiUrl}/api/v1/dispatcher/sets/1/destinations/${enc(uri)}`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ state }),
    signal: AbortSignal.timeout(5000),
  });
  return { status: res.status, body: (await res.json()) as { state: string; activeCalls: number } };
}

describe('dispatcher end to end: sipp caller → sipfront → sipp backends', () => {
  it('round-robin: 200 calls over 2 backends, half each (±1)', async () => {
    const r = (rig = await startRig('round-robin', [1, 1]));
    const res = await call(r, 200, 200);
    expectAllOk(res, 200);
    const per = await invitesPer(r.backends, 200);
    expect(per[0]! + per[1]!).toBe(200);
    for (const n of per) expect(Math.abs(n - 100)).toBeLessThanOrEqual(1);
  }, 30_000);

  it('weighted 3:1: 400 calls split 75/25 within 2 %', async () => {
    const r = (rig = await startRig('weighted', [3, 1]));
    const res = await call(r, 400, 250);
    expectAllOk(res, 400);
    const per = await invitesPer(r.backends, 400);
    expect(per[0]! + per[1]!).toBe(400);
    expect(Math.abs(per[0]! / 400 - 0.75)).toBeLessThanOrEqual(0.02);
    expect(Math.abs(per[1]! / 400 - 0.25)).toBeLessThanOrEqual(0.02);
  }, 30_000);

  it('hash-callid: a call stays on one backend; removing a backend moves only its share, spread over the others', async () => {
    // sipp keeps a finished call's Call-ID for 33 s by default and swallows a new INVITE with it
    const r = (rig = await startRig('hash-callid', [1, 1, 1], ['-deadcall_wait', '0']));
    const [a, b, c] = r.backends as [SippUas, SippUas, SippUas];
    const d = r.sf.server.dispatch.dispatcher;
    const CALLS = 150;
    // fixed Call-IDs, so the second run repeats the first one's calls
    const cid = ['-cid_str', `dsp-%u@${CALLER}`];
    expectAllOk(await call(r, CALLS, 150, { extraArgs: cid }), CALLS);
    await invitesPer(r.backends, CALLS);
    const first = await Promise.all(r.backends.map(async (x) => ({
      invite: new Set(await x.received('INVITE')),
      ack: new Set(await x.received('ACK')),
      bye: new Set(await x.received('BYE')),
    })));
    const all = new Set<string>();
    for (const f of first) {
      // INVITE, ACK and BYE of each call at the same backend, none of them elsewhere
      expect([...f.ack].sort()).toEqual([...f.invite].sort());
      expect([...f.bye].sort()).toEqual([...f.invite].sort());
      expect(f.invite.size).toBeGreaterThan(CALLS / 6); // each backend has a real share
      for (const id of f.invite) all.add(id);
    }
    expect(all.size).toBe(CALLS); // disjoint: no Call-ID on two backends

    // 1000 synthetic calls: the choice before and after removing c
    const keys = Array.from({ length: 1000 }, (_, i) => ({ callId: `synthetic-${i}-${i * 7919}@10.0.0.1`, fromUri: 'sip:alice@example.com', toUri: 'sip:bob@example.com', ruri: 'sip:bob@example.com' }));
    const before = keys.map((k) => d.select(1, k)[0]?.uri);
    const res = await fetch(`${r.sf.apiUrl}/api/v1/dispatcher/sets/1/destinations/${enc(uriOf(c))}`, { method: 'DELETE', signal: AbortSignal.timeout(5000) });
    expect(res.status).toBe(204);
    expect(d.getSet(1)?.destinations.map((x) => x.uri)).toEqual([uriOf(a), uriOf(b)]);
    const after = keys.map((k) => d.select(1, k)[0]?.uri);
    const moved = { [uriOf(a)]: 0, [uriOf(b)]: 0 };
    let onC = 0;
    for (let i = 0; i < keys.length; i++) {
      if (before[i] === uriOf(c)) {
        onC++;
        moved[after[i]!] = (moved[after[i]!] ?? 0) + 1;
      } else {
        expect(after[i], keys[i]!.callId).toBe(before[i]); // the others' calls stay put
      }
    }
    expect(onC).toBeGreaterThan(250);
    expect(onC).toBeLessThan(420);
    // c's share spreads over both remaining backends, not onto one neighbour
    expect(moved[uriOf(a)]).toBeGreaterThan(onC * 0.3);
    expect(moved[uriOf(b)]).toBeGreaterThan(onC * 0.3);

    // the same sipp calls again, once no backend holds a finished call any more (uas.xml lingers 1 s)
    await waitFor(async () => (await Promise.all(r.backends.map(currentCalls))).every((n) => n === 0), { timeoutMs: 5000, what: 'backends idle' });
    const cLines = await rawInviteLines(c);
    expectAllOk(await call(r, CALLS, 150, { extraArgs: cid }), CALLS);
    const grown = async (x: SippUas, i: number): Promise<string[]> => (await x.received('INVITE')).filter((id) => !first[i]!.invite.has(id));
    // the calls that were on c, and only those, are new at a or b
    let newA: string[] = [];
    let newB: string[] = [];
    await waitFor(async () => {
      [newA, newB] = [await grown(a, 0), await grown(b, 1)];
      return newA.length + newB.length >= first[2]!.invite.size;
    }, { timeoutMs: 5000, what: "c's calls at a and b" });
    expect([...newA, ...newB].sort()).toEqual([...first[2]!.invite].sort());
    expect(newA.length).toBeGreaterThan(0);
    expect(newB.length).toBeGreaterThan(0);
    expect(await rawInviteLines(c)).toBe(cLines); // nothing more for the removed backend
    // and each repeated call is again whole on its backend
    for (const [x, i] of [[a, 0], [b, 1]] as const) {
      const inv = (await x.received('INVITE')).sort();
      expect((await x.received('BYE')).sort()).toEqual(inv);
      expect(inv.length).toBe(first[i]!.invite.size + (i === 0 ? newA.length : newB.length));
    }
  }, 40_000);

  it('a backend killed mid-run is inactive within down_after × (interval + timeout), no call fails; restarted, it is active again and takes calls', async () => {
    const r = (rig = await startRig('round-robin', [1, 1, 1]));
    const d = r.sf.server.dispatch.dispatcher;
    const victim = r.backends[1]!;
    const uri = uriOf(victim);
    const CALLS = 160; // ~8 s at 20 calls/s
    const run = call(r, CALLS, 20, { callDurationMs: 100 });
    // ~2 s into the run: about a third of 40 calls reached it
    await waitFor(() => (d.getDestination(1, uri)?.selectedTotal ?? 0) >= 13, { timeoutMs: 5000, what: 'victim has calls' });
    const killedAt = Date.now();
    const stopped = victim.stop(); // deaf to new calls and probes at once; its calls in progress end normally
    await waitFor(() => d.getDestination(1, uri)?.state === 'inactive', { timeoutMs: DOWN_BOUND_MS + 3000, intervalMs: 10, what: 'victim inactive' });
    const downMs = Date.now() - killedAt;
    console.log(`dispatcher-e2e: killed backend inactive after ${downMs} ms (bound ${DOWN_BOUND_MS} ms)`);
    expect(downMs).toBeLessThanOrEqual(DOWN_BOUND_MS);
    const view = d.getDestination(1, uri)!;
    expect(view.probes.slice(0, PROBE.downAfter).every((p) => p.code === null && p.timedOut)).toBe(true);

    // metrics while it is down
    const m = await metricsText(r);
    expect(sample(m, 'sipfront_dispatcher_destination_up', uri)).toBe(0);
    for (const b of r.backends) {
      if (b !== victim) expect(sample(m, 'sipfront_dispatcher_destination_up', uriOf(b))).toBe(1);
      expect(sample(m, 'sipfront_dispatcher_selected_total', uriOf(b))).toBeGreaterThan(0);
      expect(m.split('\n').filter((l) => l.startsWith('sipfront_dispatcher_probe_rtt_seconds_bucket{') && l.includes(`set="1"`) && l.includes(`destination="${uriOf(b)}"`)).length).toBeGreaterThan(1);
    }
    // first_answer gave up on it at least once and the call went on to the next backend
    const failovers = sample(m, 'sipfront_dispatcher_failover_total', uri);
    console.log(`dispatcher-e2e: ${failovers} calls failed over from the killed backend`);
    expect(failovers).toBeGreaterThan(0);

    // restart on the same port
    await stopped;
    const revived = await startSippUas({ scenario: 'uas.xml', port: victim.port });
    extra.push(revived);
    const restartedAt = Date.now();
    await waitFor(() => d.getDestination(1, uri)?.state === 'active', { timeoutMs: UP_BOUND_MS + 3000, intervalMs: 10, what: 'victim active again' });
    const upMs = Date.now() - restartedAt;
    console.log(`dispatcher-e2e: restarted backend active after ${upMs} ms (bound ${UP_BOUND_MS} ms)`);
    expect(upMs).toBeLessThanOrEqual(UP_BOUND_MS);

    const res = await run;
    expectAllOk(res, CALLS); // no call failed, the ones that hit the dead backend included
    const tookInRun = await revived.invites();
    console.log(`dispatcher-e2e: restarted backend took ${tookInRun} calls before the run ended`);
    // it takes its full share again: 30 more calls, a third for it
    expectAllOk(await call(r, 30, 30), 30);
    await invitesPer([revived], tookInRun + 10);
    expect(await revived.invites()).toBe(tookInRun + 10);
    expect(sample(await metricsText(r), 'sipfront_dispatcher_destination_up', uri)).toBe(1);
  }, 45_000);

  it('disabled: no new calls while its probes keep succeeding, and it stays disabled', async () => {
    const r = (rig = await startRig('round-robin', [1, 1, 1]));
    const d = r.sf.server.dispatch.dispatcher;
    const off = r.backends[2]!;
    const uri = uriOf(off);
    expectAllOk(await call(r, 30, 60), 30);
    const base = await invitesPer(r.backends, 30);
    expect(base).toEqual([10, 10, 10]);
    const patched = await patchState(r, uri, 'disabled');
    expect(patched).toMatchObject({ status: 200, body: { state: 'disabled' } });
    const disabledAt = Date.now();
    expectAllOk(await call(r, 60, 60), 60);
    const per = await invitesPer(r.backends, 90);
    expect(per).toEqual([40, 40, 10]);
    // two more probes answered 200 since then, and still disabled
    await waitFor(() => (d.getDestination(1, uri)?.probes ?? []).filter((p) => Date.parse(p.at) > disabledAt && p.code === 200).length >= 2, {
      timeoutMs: 2 * (PROBE.intervalMs + PROBE.timeoutMs) + 2000,
      what: 'two accepted probes of the disabled backend',
    });
    expect(d.getDestination(1, uri)?.state).toBe('disabled');
    expect(await off.invites()).toBe(10);
  }, 30_000);

  it('draining: no new calls, BYEs of its calls still reach it, and it ends disabled at 0 calls', async () => {
    const r = (rig = await startRig('round-robin', [1, 1, 1]));
    const d = r.sf.server.dispatch.dispatcher;
    const drained = r.backends[0]!;
    const uri = uriOf(drained);
    const CALLS = 30;
    const run = call(r, CALLS, 15, { callDurationMs: 2500 });
    await waitFor(() => (d.getDestination(1, uri)?.activeCalls ?? 0) >= 2, { timeoutMs: 5000, what: 'calls up on the backend' });
    const patched = await patchState(r, uri, 'draining');
    expect(patched.status).toBe(200);
    expect(patched.body.state).toBe('draining');
    expect(patched.body.activeCalls).toBeGreaterThanOrEqual(2);
    const selectedAtDrain = d.getDestination(1, uri)!.selectedTotal;
    await waitFor(() => d.getDestination(1, uri)?.state === 'disabled', { timeoutMs: 10_000, what: 'drained backend disabled' });
    // disabled only once its last call ended with a BYE that reached it
    expect(d.getDestination(1, uri)?.activeCalls).toBe(0);
    const invites = (await drained.received('INVITE')).sort();
    expect(invites.length).toBe(selectedAtDrain);
    // the BYE that ended each of its calls reached it (its log may trail sipfront's bookkeeping a little)
    await waitFor(async () => (await drained.received('BYE')).length >= invites.length, { timeoutMs: 3000, what: 'BYEs at the drained backend' });
    expect((await drained.received('BYE')).sort()).toEqual(invites);
    expectAllOk(await run, CALLS);
    // nothing new after the drain began: the others took the rest
    expect(d.getDestination(1, uri)?.selectedTotal).toBe(selectedAtDrain);
    expect(invites.length).toBeLessThan(CALLS / 3);
    const per = await invitesPer(r.backends, CALLS);
    expect(per[0]).toBe(selectedAtDrain);
    expect(d.getDestination(1, uri)?.state).toBe('disabled');
  }, 30_000);
});
