// Trunks against a real provider: Kamailio 5.6 plays the carrier on 127.0.0.9 (a registrar with
// digest auth, a proxy that routes its customers' numbers to their registered contacts and
// demands proxy auth for calls to the PSTN), sipfront runs in this process, and sipp plays the
// Asterisk backend (127.0.0.1), the Asterisk node that places calls out (a set 2 destination, so
// it is a dispatcher source), the PSTN behind the carrier, callers out on the internet (127.0.0.5)
// and a stranger (127.0.0.7). Kamailio's xlog lines (stderr) say what reached the provider.
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKamailio, type Kamailio } from './helpers/kamailio.js';
import { startSipfront, type TestSipfront } from './helpers/sipfront.js';
import { freePort, recvCount, runSipp, startSippUas, type SippResult, type SippUas } from './helpers/sipp.js';
import { waitFor } from './helpers/wait.js';

const PROVIDER = '127.0.0.9';
const INTERNET = '127.0.0.5';
const STRANGER = '127.0.0.7';
const PASSWORD = 'kam-secret';

/**
 * The carrier. REGISTER: digest (realm = To domain). Initial INVITE from 127.0.0.1 (its customer,
 * sipfront): 407 until the credentials verify and the From user is the authenticated user, then
 * to the PSTN. Initial INVITE from anywhere else: to the registered contact of the dialled number;
 * a call to an international number (`00…`) is delivered to customer 200200 with the dialled
 * number kept in the Request-URI (some carriers deliver DIDs that way).
 */
const carrierRoutes = (pstnPort: number) => (): readonly string[] => [
  'request_route {',
  '  xlog("L_NOTICE", "KAM-REQ $rm $ci from $si:$sp/$pr cseq $cs ruri $ru\\n");',
  '  if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }',
  '  if (is_method("REGISTER")) {',
  `    if (!pv_www_authenticate("$td", "${PASSWORD}", "0")) { www_challenge("$td", "1"); exit; }`,
  '    if (!save("location")) sl_reply_error();',
  '    exit;',
  '  }',
  '  if (has_totag()) {',
  '    if (loose_route()) { t_relay(); exit; }',
  '    if (is_method("ACK")) { if (t_check_trans()) t_relay(); exit; }',
  '    sl_send_reply("404", "Not here");',
  '    exit;',
  '  }',
  '  if (is_method("CANCEL")) { if (t_check_trans()) t_relay(); exit; }',
  '  if (is_method("ACK")) { if (t_check_trans()) t_relay(); exit; }',
  '  if (!is_method("INVITE")) { sl_send_reply("405", "Method Not Allowed"); exit; }',
  '  if ($si == "127.0.0.1") {',
  `    if (!pv_proxy_authenticate("$fd", "${PASSWORD}", "0")) {`,
  '      xlog("L_NOTICE", "KAM-407 $ci cseq $cs\\n");',
  '      proxy_challenge("$fd", "1");',
  '      exit;',
  '    }',
  '    if ($au != $fU) { sl_send_reply("403", "Not Your Number"); exit; }',
  '    xlog("L_NOTICE", "KAM-AUTH $au $ci cseq $cs/$pr from $fu ruri $ru\\n");',
  '    consume_credentials();',
  '    record_route();',
  `    $du = "sip:127.0.0.1:${pstnPort}";`,
  '    if (!t_relay()) sl_reply_error();',
  '    exit;',
  '  }',
  '  $var(dialled) = $rU;',
  '  if ($rU =~ "^00") $rU = "200200";',
  '  if (!lookup("location")) { sl_send_reply("404", "Not Found"); exit; }',
  '  $rU = $var(dialled);',
  '  record_route();',
  '  if (!t_relay()) sl_reply_error();',
  '}',
];

const startCarrier = (pstnPort: number): Promise<Kamailio> =>
  startKamailio({
    host: PROVIDER,
    modules: ['tm', 'tmx', 'sl', 'rr', 'pv', 'xlog', 'maxfwd', 'siputils', 'textops', 'usrloc', 'registrar', 'auth'],
    routes: carrierRoutes(pstnPort),
  });

/** Kamailio's xlog lines that start with `tag` and name a Call-ID starting with `callIdPrefix`. */
const kamLines = (kam: Kamailio, tag: string, callIdPrefix: string): string[] =>
  kam
    .log()
    .split('\n')
    .filter((l) => l.includes(`${tag} `) && l.includes(` ${callIdPrefix}`));

/**
 * sipp's error log less what -aa writes when it answers one of the prober's OPTIONS (the caller
 * scenarios run on a set 2 destination's port, which sipfront probes).
 */
const PROBE_EVENT =
  /\d{4}-\d\d-\d\d\t[\d:.]+\t[\d.]+: (?:Automatic response mode for an unexpected [A-Za-z, ]+ for call: probe-.*?(?=\d{4}-\d\d-\d\d\t|$)|Aborted call with Call-ID 'probe-[^']*')/gs;
const sippErrors = (r: SippResult): string => r.errors.replace('The following events occurred:', '').replace(PROBE_EVENT, '').trim();

/**
 * A counter of Kamailio's sl module (`received_ACKs`: ACKs to its own stateless replies, the 407
 * among them). The counters show up late (about a second here): wait for a value, never assert a snapshot.
 */
const slStat = async (kam: Kamailio, name: string): Promise<number> => {
  const text = await kam.kamcmd('stats.get_statistics', 'sl:');
  const m = new RegExp(`sl:${name} = (\\d+)`).exec(text);
  if (m === null) throw new Error(`no sl:${name} in ${text}`);
  return Number(m[1]);
};

const clean = (r: SippResult): void => {
  expect(sippErrors(r), r.errors + r.stdout.slice(-2000)).toBe('');
  expect(r.failed).toBe(0);
  expect(r.successful).toBe(1);
  expect(r.code).toBe(0);
  // sipp's helper keeps the directory of a run with any error event: these were only probes
  if (r.errors !== '') rmSync(r.dir, { recursive: true, force: true });
};

const sipfrontYaml = (o: { backend: number; caller: number; trunks: string[]; outTrunk: string }): string =>
  [
    'dispatcher:',
    '  sets:',
    `    - { id: 1, name: asterisk, algorithm: round-robin, destinations: [ { uri: "sip:127.0.0.1:${o.backend}" } ] }`,
    // the Asterisk node that places calls out: a destination, so its requests come from the dispatcher
    `    - { id: 2, name: asterisk-out, algorithm: round-robin, destinations: [ { uri: "sip:127.0.0.1:${o.caller}" } ] }`,
    'trunks:',
    ...o.trunks,
    'routes:',
    `  - { match: { ruri_user: "^00" }, to: { trunk: ${o.outTrunk} } }`,
  ].join('\n');

const trunkYaml = (id: string, user: string, registrar: string): string[] => [
  `  - id: ${id}`,
  `    registrar: "${registrar}"`,
  `    user: "${user}"`,
  `    password: ${PASSWORD}`,
  '    domain: provider.test',
  '    expires: 60',
  '    retry: { interval: 2s, initial_delay_max: 0s }',
];

describe('trunks against Kamailio 5.6 as the provider', () => {
  let kam: Kamailio;
  let sf: TestSipfront;
  let backend: SippUas;
  let pstn: SippUas;
  /** the UDP port of the Asterisk node that calls out (a set 2 destination) */
  let callerPort: number;

  beforeAll(async () => {
    backend = await startSippUas({ scenario: 'uas.xml', timeoutMs: 120_000 });
    pstn = await startSippUas({ scenario: 'uas.xml', timeoutMs: 120_000 });
    callerPort = await freePort('udp');
    kam = await startCarrier(pstn.port);
    sf = await startSipfront(
      sipfrontYaml({
        backend: backend.port,
        caller: callerPort,
        trunks: trunkYaml('prov', '200200', `sip:${PROVIDER}:${kam.port}`),
        outTrunk: 'prov',
      }),
    );
    await waitFor(() => sf.server.trunks.manager.get('prov')?.state === 'registered', {
      timeoutMs: 8000,
      what: 'trunk prov registered with Kamailio',
    });
  });

  afterAll(async () => {
    await sf?.close();
    // SIGTERM's path: the binding is gone at the provider
    const left = kam !== undefined ? await kam.dump() : '';
    await kam?.stop();
    await backend?.stop(1000);
    await pstn?.stop(1000);
    // the helpers keep these for a post-mortem; a finished run needs none of them
    for (const dir of [sf?.dataDir, backend?.dir, pstn?.dir]) if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    // every sipfront of this file is closed: the location table holds no contact at all
    expect(left).not.toContain('sip:');
  });

  it("registers with digest auth: Kamailio's location table holds the binding", async () => {
    const dump = await kam.dump();
    expect(dump).toContain(`sip:200200@127.0.0.1:${sf.udpPort}`);
    expect(kamLines(kam, 'KAM-REQ', '').filter((l) => l.includes('KAM-REQ REGISTER')).length).toBeGreaterThanOrEqual(2);
    const api = (await fetch(`${sf.apiUrl}/api/v1/trunks`).then((r) => r.json())) as { trunks: Array<Record<string, unknown>> };
    expect(api.trunks[0]).toMatchObject({ id: 'prov', state: 'registered', lastCode: 200 });
  });

  it("a call Kamailio sends to the registered number reaches the backend of set 1 and completes", async () => {
    const r = await runSipp({
      scenario: 'uac.xml',
      remote: `${PROVIDER}:${kam.port}`,
      localHost: INTERNET,
      service: '200200',
      extraArgs: ['-cid_str', 'in-%u-%p@%s'],
      timeoutMs: 15_000,
    });
    clean(r);
    expect((await backend.received('INVITE')).filter((id) => id.startsWith('in-'))).toHaveLength(1);
    // in through the carrier: it looked the number up and relayed to sipfront; the BYE too (record-routed)
    expect(kamLines(kam, 'KAM-REQ', 'in-').filter((l) => l.includes('KAM-REQ INVITE') && l.includes(`from ${INTERNET}:`))).toHaveLength(1);
    expect(kamLines(kam, 'KAM-REQ', 'in-').some((l) => l.includes('KAM-REQ BYE'))).toBe(true);
    expect((await backend.received('BYE')).filter((id) => id.startsWith('in-'))).toHaveLength(1);
  });

  it('a call from the backend to a routed number leaves through the trunk, answers the 407, and completes; the caller never sees the 407', async () => {
    const acks = await slStat(kam, 'received_ACKs');
    const sent407 = await slStat(kam, '407_replies');
    const r = await runSipp({
      scenario: 'uac.xml',
      remote: `127.0.0.1:${sf.udpPort}`,
      localPort: callerPort,
      service: '0049301234',
      // -aa: the prober's OPTIONS to this destination are answered, not taken for calls
      extraArgs: ['-aa', '-cid_str', 'out-%u-%p@%s'],
      timeoutMs: 15_000,
    });
    clean(r);
    expect(recvCount(r.counts, '407')).toBe(0);
    expect(recvCount(r.counts, '200')).toBe(2); // the INVITE's and the BYE's
    // one 407, and sipfront's transaction acknowledged it (hop by hop, never the caller's business)
    await waitFor(async () => (await slStat(kam, '407_replies')) === sent407 + 1, { timeoutMs: 5000, what: "Kamailio's count of 407s sent +1" });
    await waitFor(async () => (await slStat(kam, 'received_ACKs')) === acks + 1, { timeoutMs: 5000, what: 'the ACK for the 407 at Kamailio' });
    // the provider challenged CSeq 1 and let CSeq 2 through with the trunk's identity
    const challenged = kamLines(kam, 'KAM-407', 'out-');
    expect(challenged).toHaveLength(1);
    expect(challenged[0]).toContain('cseq 1');
    const authed = kamLines(kam, 'KAM-AUTH', 'out-');
    expect(authed).toHaveLength(1);
    expect(authed[0]).toMatch(/KAM-AUTH 200200 out-\S+ cseq 2\/udp from sip:200200@provider\.test ruri sip:0049301234@provider\.test/);
    // the dialog's later requests reach the PSTN through the provider, CSeq raised by one
    expect(kamLines(kam, 'KAM-REQ', 'out-').some((l) => /KAM-REQ BYE .* cseq 3 /.test(l))).toBe(true);
    expect((await pstn.received('INVITE')).filter((id) => id.startsWith('out-'))).toHaveLength(1);
    expect((await pstn.received('BYE')).filter((id) => id.startsWith('out-'))).toHaveLength(1);
  });

  it('a stranger who dials a trunk route gets 403 and the provider sees no INVITE', async () => {
    const before = kamLines(kam, 'KAM-REQ', '').filter((l) => l.includes('KAM-REQ INVITE')).length;
    const r = await runSipp({
      scenario: 'uac-fail.xml',
      remote: `127.0.0.1:${sf.udpPort}`,
      localHost: STRANGER,
      service: '0049301234',
      extraArgs: ['-cid_str', 'stranger-%u-%p@%s'],
      timeoutMs: 15_000,
    });
    expect(r.successful).toBe(1);
    expect(recvCount(r.counts, '403')).toBe(1);
    // give a forwarded INVITE time to show up at the provider
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(kamLines(kam, 'KAM-REQ', 'stranger-')).toEqual([]);
    expect(kamLines(kam, 'KAM-REQ', '').filter((l) => l.includes('KAM-REQ INVITE')).length).toBe(before);
    expect((await pstn.received('INVITE')).filter((id) => id.startsWith('stranger-'))).toEqual([]);
  });

  it('a call from the provider to a trunk-route number goes to set 1, never back out', async () => {
    const r = await runSipp({
      scenario: 'uac.xml',
      remote: `${PROVIDER}:${kam.port}`,
      localHost: INTERNET,
      service: '0049301234',
      extraArgs: ['-cid_str', 'loop-%u-%p@%s'],
      timeoutMs: 15_000,
    });
    clean(r);
    expect((await backend.received('INVITE')).filter((id) => id.startsWith('loop-'))).toHaveLength(1);
    const invites = kamLines(kam, 'KAM-REQ', 'loop-').filter((l) => l.includes('KAM-REQ INVITE'));
    expect(invites).toHaveLength(1);
    expect(invites[0]).toContain(`from ${INTERNET}:`);
    expect(kamLines(kam, 'KAM-407', 'loop-')).toEqual([]);
    expect((await pstn.received('INVITE')).filter((id) => id.startsWith('loop-'))).toEqual([]);
  });

  it('trunks over TCP and UDP to one provider: both register, the TCP one takes a call in and one out, and close leaves no binding', async () => {
    const sf2 = await startSipfront(
      sipfrontYaml({
        backend: backend.port,
        caller: callerPort,
        trunks: [
          ...trunkYaml('prov-tcp', '300300', `sip:${PROVIDER}:${kam.port};transport=tcp`),
          ...trunkYaml('prov-udp', '400400', `sip:${PROVIDER}:${kam.port}`),
        ],
        outTrunk: 'prov-tcp',
      }),
    );
    let closed = false;
    try {
      await waitFor(
        () =>
          sf2.server.trunks.manager.get('prov-tcp')?.state === 'registered' &&
          sf2.server.trunks.manager.get('prov-udp')?.state === 'registered',
        { timeoutMs: 8000, what: 'prov-tcp and prov-udp registered with Kamailio' },
      );
      const dump = await kam.dump();
      expect(dump).toMatch(new RegExp(`sip:300300@127\\.0\\.0\\.1:${sf2.tcpPort};transport=tcp`, 'i'));
      expect(dump).toContain(`sip:400400@127.0.0.1:${sf2.udpPort}`);
      expect(kam.log()).toMatch(/KAM-REQ REGISTER .*\/tcp /);

      // in: the carrier reaches the TCP contact; the Request-URI user picks prov-tcp of the two trunks
      const inbound = await runSipp({
        scenario: 'uac.xml',
        remote: `${PROVIDER}:${kam.port}`,
        localHost: INTERNET,
        service: '300300',
        extraArgs: ['-cid_str', 'tcpin-%u-%p@%s'],
        timeoutMs: 15_000,
      });
      clean(inbound);
      expect((await backend.received('INVITE')).filter((id) => id.startsWith('tcpin-'))).toHaveLength(1);

      // out: through the TCP trunk, challenged and answered over TCP
      const acks = await slStat(kam, 'received_ACKs');
      const outbound = await runSipp({
        scenario: 'uac.xml',
        remote: `127.0.0.1:${sf2.udpPort}`,
        localPort: callerPort,
        service: '0044201234',
        extraArgs: ['-aa', '-cid_str', 'tcpout-%u-%p@%s'],
        timeoutMs: 15_000,
      });
      clean(outbound);
      expect(recvCount(outbound.counts, '407')).toBe(0);
      expect(kamLines(kam, 'KAM-407', 'tcpout-')).toHaveLength(1);
      await waitFor(async () => (await slStat(kam, 'received_ACKs')) === acks + 1, { timeoutMs: 5000, what: 'the ACK for the 407 at Kamailio (TCP)' });
      const authed = kamLines(kam, 'KAM-AUTH', 'tcpout-');
      expect(authed).toHaveLength(1);
      expect(authed[0]).toContain('KAM-AUTH 300300');
      expect(authed[0]).toContain('cseq 2/tcp');
      expect((await pstn.received('BYE')).filter((id) => id.startsWith('tcpout-'))).toHaveLength(1);

      // close (what SIGTERM runs): Expires: 0 for both, nothing of this sipfront left at the provider
      await sf2.close();
      closed = true;
      const after = await kam.dump();
      expect(after).not.toContain('300300');
      expect(after).not.toContain('400400');
      expect(after).toContain('200200'); // the other sipfront's binding stays
    } finally {
      if (!closed) await sf2.close();
      rmSync(sf2.dataDir, { recursive: true, force: true });
    }
  });
});
