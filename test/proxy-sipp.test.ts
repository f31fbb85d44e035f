// sipp through sipfront: real SIP peers on both sides, UDP and TCP, stateful and stateless.
// The callers honour Record-Route; the backends copy it (see test/sipp and SIPP-NOTES).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recvCount, runSipp, startSippUas, type SippUas } from './helpers/sipp.js';
import { freeSipPort, startSipfront, type TestSipfront } from './helpers/sipfront.js';

const CALLS = 1000;

for (const mode of ['stateful', 'stateless'] as const) {
  for (const transport of ['udp', 'tcp'] as const) {
    describe(`sipp → sipfront (${mode}, ${transport}) → two sipp backends`, () => {
      let sf: TestSipfront;
      let port: number;
      const backends: SippUas[] = [];

      beforeAll(async () => {
        for (let i = 0; i < 2; i++) backends.push(await startSippUas({ scenario: 'uas.xml', transport }));
        port = await freeSipPort();
        const t = transport === 'tcp' ? ';transport=tcp' : '';
        sf = await startSipfront(
          [
            'listen:',
            `  - { transport: udp, host: 127.0.0.1, port: ${port} }`,
            `  - { transport: tcp, host: 127.0.0.1, port: ${port} }`,
            `mode: ${mode}`,
            'security: { trusted: [127.0.0.0/8], flood: { window: 1s, max: 100000 } }',
            'dispatcher:',
            '  sets:',
            '    - id: 1',
            '      name: asterisk',
            '      algorithm: round-robin',
            '      destinations:',
            ...backends.map((b) => `        - { uri: "sip:127.0.0.1:${b.port}${t}" }`),
          ].join('\n'),
        );
      });
      afterAll(async () => {
        await sf?.close();
        for (const b of backends) await b.stop();
      });

      it(`completes ${CALLS} calls with 0 failed, spread evenly, no duplicate INVITEs`, async () => {
        // the caller on 127.0.0.2: over TCP any port of a destination's address counts as that destination
        const r = await runSipp({ scenario: 'uac.xml', remote: `127.0.0.1:${port}`, localHost: '127.0.0.2', transport, calls: CALLS, rate: 250, callDurationMs: 20, timeoutMs: 60_000 });
        expect({ successful: r.successful, failed: r.failed }).toEqual({ successful: CALLS, failed: 0 });
        const results = await Promise.all(backends.map((b) => b.stop()));
        const invites = results.map((x) => recvCount(x.counts, 'INVITE'));
        expect(invites[0]! + invites[1]!).toBe(CALLS);
        // stateful round-robin takes turns; stateless takes its turn from a hash of the Call-ID
        // (a retransmission must go where its first copy went): even within 6 % (binomial σ ≈ 1.6 %: 3.8 σ)
        if (mode === 'stateful') expect(invites[0]).toBe(CALLS / 2);
        else expect(Math.abs(invites[0]! - CALLS / 2)).toBeLessThanOrEqual(CALLS * 0.06);
      }, 120_000);
    });
  }
}

describe('sipp failure scenarios through sipfront (stateful, udp)', () => {
  let sf: TestSipfront;
  let port: number;
  let b486: SippUas;
  let bSilent: SippUas;
  let bRing: SippUas;

  beforeAll(async () => {
    b486 = await startSippUas({ scenario: 'uas-486.xml' });
    bSilent = await startSippUas({ scenario: 'uas-noanswer.xml' });
    bRing = await startSippUas({ scenario: 'uas-noanswer.xml' });
    port = await freeSipPort();
    sf = await startSipfront(
      [
        'listen:',
        `  - { transport: udp, host: 127.0.0.1, port: ${port} }`,
        'security: { trusted: [127.0.0.1/32] }',
        'sip: { t1: 100ms, timer_c: 2s }',
        'dispatcher: { probe: { interval: 1h } }',
        'routes:',
        `  - { match: { ruri_user: "^busy$" }, to: { uri: "sip:127.0.0.1:${b486.port}" } }`,
        `  - { match: { ruri_user: "^silent$" }, to: { uri: "sip:127.0.0.1:${bSilent.port}" } }`,
        `  - { match: { ruri_user: "^ring$" }, to: { uri: "sip:127.0.0.1:${bRing.port}" } }`,
      ].join('\n'),
    );
  });
  afterAll(async () => {
    await sf?.close();
    for (const b of [b486, bSilent, bRing]) await b?.stop();
  });

  it('a backend answering 486 gives the caller 486', async () => {
    const r = await runSipp({ scenario: 'uac-fail.xml', remote: `127.0.0.1:${port}`, service: 'busy', calls: 5, rate: 5 });
    expect(r.failed).toBe(0);
    expect(recvCount(r.counts, '486')).toBe(5);
  });

  it('a caller that cancels while ringing gets 487 and the backend sees the CANCEL', async () => {
    const r = await runSipp({ scenario: 'uac-cancel.xml', remote: `127.0.0.1:${port}`, service: 'ring', calls: 3, rate: 3, callDurationMs: 300 });
    expect(r.failed).toBe(0);
    expect(recvCount(r.counts, '487')).toBe(3);
    expect(await bRing.received('CANCEL')).toHaveLength(3);
  });

  it('a backend that rings for ever is cancelled at Timer C and the caller gets 408', async () => {
    const started = Date.now();
    const r = await runSipp({ scenario: 'uac-fail.xml', remote: `127.0.0.1:${port}`, service: 'silent', calls: 1, rate: 1, recvTimeoutMs: 15_000 });
    expect(recvCount(r.counts, '408')).toBe(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
  });
});
