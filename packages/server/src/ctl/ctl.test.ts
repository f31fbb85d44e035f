import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCtl } from './ctl.js';

// A stand-in for sipfront's REST API on 127.0.0.1:0: answers from a route table (method + path
// with query) and records what it was asked.

interface Reply {
  status?: number;
  body?: unknown;
  /** text bodies (metrics, ladders) */
  text?: string;
}
interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  body: string;
}

class FakeApi {
  readonly seen: Seen[] = [];
  routes = new Map<string, Reply | ((req: Seen) => Reply)>();
  private server: Server | undefined;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req: IncomingMessage, res: ServerResponse) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const seen: Seen = { method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization, body };
        this.seen.push(seen);
        const route = this.routes.get(`${seen.method} ${seen.url}`);
        const reply: Reply = route === undefined
          ? { status: 404, body: { error: { code: 'NOT_FOUND', message: 'Not Found' } } }
          : typeof route === 'function' ? route(seen) : route;
        const status = reply.status ?? 200;
        if (reply.text !== undefined) {
          res.writeHead(status, { 'content-type': 'text/plain' }).end(reply.text);
        } else if (reply.body === undefined) {
          res.writeHead(status === 200 ? 204 : status).end();
        } else {
          res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(reply.body));
        }
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    const { port } = this.server.address() as { port: number };
    this.url = `http://127.0.0.1:${port}`;
  }

  get port(): number {
    return Number(new URL(this.url).port);
  }

  reset(): void {
    this.seen.length = 0;
    this.routes = new Map();
  }

  close(): Promise<void> {
    return new Promise((r) => this.server?.close(() => r()) ?? r());
  }
}

const NOW = Date.parse('2026-01-01T12:00:00Z');
const at = (secondsAgo: number): string => new Date(NOW - secondsAgo * 1000).toISOString();

const api = new FakeApi();
const tmp = mkdtempSync(join(tmpdir(), 'sipfront-ctl-'));
beforeAll(() => api.start());
afterAll(async () => {
  await api.close();
  rmSync(tmp, { recursive: true, force: true });
});
afterEach(() => api.reset());

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs ctl in-process against the fake API (or what `--api`/the config says). */
async function ctl(args: string[], env: Record<string, string> = {}, cwd: string = tmp): Promise<Result> {
  let stdout = '';
  let stderr = '';
  const code = await runCtl(args, {
    env: { SIPFRONT_CONFIG: '', SIPFRONT_API_TOKEN: '', ...env },
    cwd,
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    now: () => NOW,
    timeoutMs: 2000,
  });
  return { code, stdout, stderr };
}
const withApi = (...args: string[]): string[] => ['--api', api.url, ...args];

/** A port nothing listens on right now. */
async function closedPort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as { port: number };
  await new Promise((r) => s.close(r));
  return port;
}

function expectOneLineError(r: Result, code: number, pattern: RegExp): void {
  expect(r.code).toBe(code);
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(/^sipfront ctl: [^\n]+\n$/);
  expect(r.stderr).toMatch(pattern);
}

const DEST_A = {
  id: 'sip:10.0.0.11:5060', uri: 'sip:10.0.0.11:5060', weight: 1, priority: 0, state: 'active',
  lastProbe: { at: at(3), code: 200, rttMs: 1.25, timedOut: false }, probes: [], activeCalls: 2, selectedTotal: 1234,
};
const DEST_B = {
  id: 'sip:10.0.0.12:5060', uri: 'sip:10.0.0.12:5060', weight: 10, priority: 1, state: 'inactive',
  lastProbe: { at: at(65), code: null, rttMs: null, timedOut: true }, probes: [], activeCalls: 0, selectedTotal: 7,
};

describe('sipfront ctl dispatcher', () => {
  it('list: one row per destination, with state, last probe and calls; sets without destinations inline are fetched', async () => {
    api.routes.set('GET /api/v1/dispatcher/sets', {
      body: { sets: [{ id: 1, name: 'asterisk', algorithm: 'round-robin' }, { id: 2, name: 'pbx', algorithm: 'priority', destinations: [] }] },
    });
    api.routes.set('GET /api/v1/dispatcher/sets/1/destinations', { body: { destinations: [DEST_A, DEST_B] } });
    const r = await ctl(withApi('dispatcher', 'list'));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe([
      'SET  NAME      ALGORITHM    DESTINATION         STATE     PRIO  WEIGHT  CALLS  SELECTED  LAST PROBE',
      '1    asterisk  round-robin  sip:10.0.0.11:5060  active       0       1      2      1234  200 1.3ms 3s ago',
      '1    asterisk  round-robin  sip:10.0.0.12:5060  inactive     1      10      0         7  timeout 1m05s ago',
      '2    pbx       priority     (none)',
      '',
    ].join('\n'));
    expect(api.seen.map((s) => `${s.method} ${s.url}`)).toEqual(['GET /api/v1/dispatcher/sets', 'GET /api/v1/dispatcher/sets/1/destinations']);
  });

  it('list --json prints the sets with their destinations', async () => {
    api.routes.set('GET /api/v1/dispatcher/sets', { body: { sets: [{ id: 1, name: 'asterisk', algorithm: 'round-robin', destinations: [DEST_A] }] } });
    const r = await ctl(withApi('--json', 'dispatcher', 'list'));
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ sets: [{ id: 1, name: 'asterisk', algorithm: 'round-robin', destinations: [DEST_A] }] });
  });

  it('list with no sets says so', async () => {
    api.routes.set('GET /api/v1/dispatcher/sets', { body: { sets: [] } });
    expect(await ctl(withApi('dispatcher', 'list'))).toEqual({ code: 0, stdout: 'no dispatcher sets\n', stderr: '' });
  });

  it('set-state PATCHes the destination, its URI URL-encoded, and prints the new state', async () => {
    api.routes.set('PATCH /api/v1/dispatcher/sets/1/destinations/sip%3A10.0.0.11%3A5060', (req) => ({ body: { ...DEST_A, state: (JSON.parse(req.body) as { state: string }).state } }));
    const r = await ctl(withApi('dispatcher', 'set-state', '1', 'sip:10.0.0.11:5060', 'disabled'));
    expect(r).toEqual({ code: 0, stdout: 'set 1 destination sip:10.0.0.11:5060: disabled\n', stderr: '' });
    expect(api.seen[0]).toMatchObject({ method: 'PATCH', body: '{"state":"disabled"}' });

    const j = await ctl(withApi('--json', 'dispatcher', 'set-state', '1', 'sip:10.0.0.11:5060', 'draining'));
    expect(JSON.parse(j.stdout)).toMatchObject({ uri: 'sip:10.0.0.11:5060', state: 'draining' });
  });

  it('set-state refuses a state that is not active, disabled or draining, without asking the API', async () => {
    const r = await ctl(withApi('dispatcher', 'set-state', '1', 'sip:10.0.0.11:5060', 'inactive'));
    expectOneLineError(r, 2, /state "inactive" is not one of active, disabled, draining/);
    expect(api.seen).toEqual([]);
  });

  it('set-state on an unknown destination exits 5 naming it', async () => {
    const r = await ctl(withApi('dispatcher', 'set-state', '9', 'sip:10.9.9.9', 'active'));
    expectOneLineError(r, 5, /^sipfront ctl: not found: set 9 or its destination sip:10\.9\.9\.9\n$/);
  });

  it('reload POSTs /api/v1/dispatcher/reload', async () => {
    api.routes.set('POST /api/v1/dispatcher/reload', { body: { sets: [{ id: 1 }, { id: 2 }] } });
    expect(await ctl(withApi('dispatcher', 'reload'))).toEqual({ code: 0, stdout: 'dispatcher reloaded (2 sets)\n', stderr: '' });
    expect(api.seen[0]).toMatchObject({ method: 'POST', url: '/api/v1/dispatcher/reload' });
  });

  it('reload against a server without the endpoint says so and points at SIGHUP', async () => {
    expectOneLineError(await ctl(withApi('dispatcher', 'reload')), 5, /no reload endpoint: send it SIGHUP/);
  });
});

describe('sipfront ctl drain', () => {
  it('POSTs /api/v1/drain', async () => {
    api.routes.set('POST /api/v1/drain', {});
    const r = await ctl(withApi('drain'));
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`draining ${api.url}: OPTIONS and new dialogs get 503, in-dialog requests flow\n`);
    expect(api.seen.map((s) => `${s.method} ${s.url}`)).toEqual(['POST /api/v1/drain']);
  });
});

const REG = {
  aor: '1001@example.com',
  contacts: [
    { uri: 'sip:1001@203.0.113.7:5060;ob', expiresIn: 3542, source: 'udp:203.0.113.7:5060', userAgent: 'Zoiper 5', q: 1, callId: 'abc@x', path: [] },
    { uri: 'sip:1001@198.51.100.2:5062', expiresIn: 45, source: 'tcp:198.51.100.2:40412', userAgent: 'baresip', q: 0.5, callId: 'def@y', path: ['<sip:10.0.0.2;lr>'] },
  ],
};

describe('sipfront ctl ul', () => {
  it('show lists every AOR and contact', async () => {
    api.routes.set('GET /api/v1/registrations', { body: { registrations: [REG, { aor: '1002@example.com', contacts: [] }] } });
    const r = await ctl(withApi('ul', 'show'));
    expect(r.code).toBe(0);
    expect(r.stdout).toBe([
      'AOR               CONTACT                       EXPIRES  Q    SOURCE                  USER AGENT',
      '1001@example.com  sip:1001@203.0.113.7:5060;ob   59m02s  1    udp:203.0.113.7:5060    Zoiper 5',
      '1001@example.com  sip:1001@198.51.100.2:5062        45s  0.5  tcp:198.51.100.2:40412  baresip',
      '1002@example.com  (none)',
      '2 AORs, 2 contacts',
      '',
    ].join('\n'));
  });

  it('show with no registrations says so; --json prints the API body', async () => {
    api.routes.set('GET /api/v1/registrations', { body: { registrations: [] } });
    expect((await ctl(withApi('ul', 'show'))).stdout).toBe('no registrations\n');
    expect(JSON.parse((await ctl(withApi('ul', 'show', '--json'))).stdout)).toEqual({ registrations: [] });
  });

  it('show AOR fetches that AOR (a sip: prefix is dropped) with Call-ID and Path', async () => {
    api.routes.set('GET /api/v1/registrations/1001%40example.com', { body: REG });
    const r = await ctl(withApi('ul', 'show', 'sip:1001@example.com'));
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe('AOR               CONTACT                       EXPIRES  Q    SOURCE                  USER AGENT  CALL-ID  PATH');
    expect(r.stdout).toContain('baresip     def@y    <sip:10.0.0.2;lr>');
    expect(JSON.parse((await ctl(withApi('--json', 'ul', 'show', '1001@example.com'))).stdout)).toEqual(REG);
  });

  it('show of an unknown AOR exits 5: no registration', async () => {
    expectOneLineError(await ctl(withApi('ul', 'show', '1009@example.com')), 5, /^sipfront ctl: not found: no registration for 1009@example\.com\n$/);
  });

  it('show of something that is not user@domain is a usage error', async () => {
    expectOneLineError(await ctl(withApi('ul', 'show', 'example.com')), 2, /example\.com: an AOR is user@domain/);
    expect(api.seen).toEqual([]);
  });

  it('rm DELETEs the registration', async () => {
    api.routes.set('DELETE /api/v1/registrations/1001%40example.com', {});
    expect(await ctl(withApi('ul', 'rm', '1001@example.com'))).toEqual({ code: 0, stdout: 'removed the registration of 1001@example.com\n', stderr: '' });
    expect(api.seen[0]?.method).toBe('DELETE');
    expectOneLineError(await ctl(withApi('ul', 'rm', '1009@example.com')), 5, /not found: no registration for 1009@example\.com/);
  });

  it('rm without an AOR prints its usage and exits 2', async () => {
    expectOneLineError(await ctl(withApi('ul', 'rm')), 2, /^sipfront ctl: usage: sipfront ctl ul rm AOR\n$/);
  });
});

describe('sipfront ctl bans', () => {
  it('list shows address, reason, time left and age', async () => {
    api.routes.set('GET /api/v1/bans', {
      body: { bans: [
        { ip: '203.0.113.66', reason: 'flood', createdAt: NOW - 20_000, expiresAt: NOW + 280_000 },
        { ip: '2001:db8::1', reason: 'auth_failures', createdAt: at(600), expiresAt: new Date(NOW + 3_000_000).toISOString() },
      ] },
    });
    const r = await ctl(withApi('bans', 'list'));
    expect(r.code).toBe(0);
    expect(r.stdout).toBe([
      'IP            REASON         EXPIRES IN  BANNED',
      '203.0.113.66  flood               4m40s  20s ago',
      '2001:db8::1   auth_failures      50m00s  10m00s ago',
      '',
    ].join('\n'));
  });

  it('list with no bans says so', async () => {
    api.routes.set('GET /api/v1/bans', { body: { bans: [] } });
    expect((await ctl(withApi('bans', 'list'))).stdout).toBe('no bans\n');
  });

  it('rm DELETEs /bans/:ip; an unknown address exits 5', async () => {
    api.routes.set('DELETE /api/v1/bans/2001%3Adb8%3A%3A1', {});
    expect(await ctl(withApi('bans', 'rm', '2001:db8::1'))).toEqual({ code: 0, stdout: 'lifted the ban on 2001:db8::1\n', stderr: '' });
    expectOneLineError(await ctl(withApi('bans', 'rm', '192.0.2.1')), 5, /^sipfront ctl: not found: no ban for 192\.0\.2\.1\n$/);
  });
});

describe('sipfront ctl trunks', () => {
  it('list shows state, registrar, expiry and the last answer', async () => {
    api.routes.set('GET /api/v1/trunks', {
      body: { trunks: [
        { id: 'provider1', registrar: 'sip:sip.provider.example', user: '200200', state: 'registered', registeredUntil: new Date(NOW + 3000_000).toISOString(), lastCode: 200, lastReason: 'OK', nextAttemptAt: null },
        { id: 'backup', registrar: 'sip:sip.backup.example', user: '300', state: 'retrying', registeredUntil: null, lastCode: 403, lastReason: 'Forbidden', nextAttemptAt: new Date(NOW + 20_000).toISOString() },
      ] },
    });
    const r = await ctl(withApi('trunks', 'list'));
    expect(r.code).toBe(0);
    expect(r.stdout).toBe([
      'ID         STATE       REGISTRAR                 USER    EXPIRES IN  LAST ANSWER    NEXT ATTEMPT',
      'provider1  registered  sip:sip.provider.example  200200  50m00s      200 OK         -',
      'backup     retrying    sip:sip.backup.example    300     -           403 Forbidden  in 20s',
      '',
    ].join('\n'));
  });
});

describe('sipfront ctl calls', () => {
  it('lists calls', async () => {
    api.routes.set('GET /api/v1/calls', {
      body: { calls: [{ callId: 'a84b4c76e66710', from: 'sip:1001@example.com', to: 'sip:1002@example.com', state: 'confirmed', startedAt: at(90), endedAt: null, messageCount: 7 }] },
    });
    const r = await ctl(withApi('calls'));
    expect(r.code).toBe(0);
    expect(r.stdout).toBe([
      'CALL-ID         FROM                  TO                    STATE      STARTED    ENDED  MESSAGES',
      'a84b4c76e66710  sip:1001@example.com  sip:1002@example.com  confirmed  1m30s ago  -             7',
      '',
    ].join('\n'));
  });

  it('prints one call\'s ladder as text from ?format=text; --json gets the JSON ladder', async () => {
    const ladder = '12:00:00.000 203.0.113.7:5060 -> sipfront  INVITE sip:1002@example.com\n12:00:00.010 sipfront -> 203.0.113.7:5060  100 Trying\n';
    api.routes.set('GET /api/v1/calls/a84b%40host?format=text', { text: ladder });
    api.routes.set('GET /api/v1/calls/a84b%40host', { body: { callId: 'a84b@host', messages: [] } });
    expect(await ctl(withApi('calls', 'a84b@host'))).toEqual({ code: 0, stdout: ladder, stderr: '' });
    expect(JSON.parse((await ctl(withApi('calls', 'a84b@host', '--json'))).stdout)).toEqual({ callId: 'a84b@host', messages: [] });
  });

  it('an unknown Call-ID exits 5', async () => {
    expectOneLineError(await ctl(withApi('calls', 'nope')), 5, /^sipfront ctl: not found: no call with Call-ID nope\n$/);
  });
});

const METRICS = `# HELP sipfront_sip_requests_total SIP requests received
# TYPE sipfront_sip_requests_total counter
sipfront_sip_requests_total{method="INVITE"} 120
sipfront_sip_requests_total{method="REGISTER"} 30
sipfront_sip_responses_total{code="200"} 140
sipfront_sip_responses_total{code="180"} 100
sipfront_sip_responses_total{code="486"} 3
sipfront_sip_responses_total{code="401"} 2
sipfront_transactions_active 4
sipfront_dispatcher_destination_up{set="1",destination="sip:10.0.0.11:5060"} 1
sipfront_dispatcher_destination_up{set="1",destination="sip:10.0.0.12:5060"} 0
sipfront_dispatcher_probe_rtt_seconds_bucket{set="1",destination="sip:10.0.0.11:5060",le="0.005"} 3
sipfront_registrar_contacts 12
sipfront_auth_failures_total 3
sipfront_proxy_auth_total{result="challenged"} 10
sipfront_proxy_auth_total{result="ok"} 8
sipfront_security_bans_active 1
sipfront_requests_refused_total{reason="banned"} 5
sipfront_requests_refused_total{reason="scanner"} 2
sipfront_parse_errors_total 0
sipfront_trunk_registered{trunk="provider1"} 1
sipfront_trunk_registered{trunk="backup"} 0
process_start_time_seconds ${NOW / 1000 - 3725}
process_cpu_seconds_total 12.34
process_resident_memory_bytes 89128960
`;

describe('sipfront ctl stats', () => {
  it('summarizes /metrics', async () => {
    api.routes.set('GET /metrics', { text: METRICS });
    const r = await ctl(withApi('stats'));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe([
      'requests       INVITE 120, REGISTER 30 (total 150)',
      'responses      1xx 100, 2xx 140, 4xx 5 (total 245)',
      'transactions   4 active',
      'destinations   1/2 up (set 1 1/2); down: sip:10.0.0.12:5060',
      'contacts       12',
      'auth failures  3',
      'proxy auth     challenged 10, ok 8 (total 18)',
      'bans active    1',
      'refused        banned 5, scanner 2 (total 7)',
      'parse errors   0',
      'trunks         provider1 registered, backup NOT registered',
      'uptime         1h02m',
      'cpu            12.3 s',
      'memory         85.0 MB resident',
      '',
    ].join('\n'));
    const j = JSON.parse((await ctl(withApi('--json', 'stats'))).stdout) as { requests: unknown; bansActive: unknown };
    expect(j).toMatchObject({ requests: { INVITE: 120, REGISTER: 30 }, bansActive: 1 });
  });

  it('an answer without sipfront metrics is an error', async () => {
    api.routes.set('GET /metrics', { text: 'go_goroutines 7\n' });
    expectOneLineError(await ctl(withApi('stats')), 1, /no sipfront_ metrics/);
  });
});

describe('sipfront ctl errors and where it finds the API', () => {
  it('connection refused names the URL and exits 3', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    expectOneLineError(await ctl(['--api', url, 'bans', 'list']), 3, new RegExp(`^sipfront ctl: cannot reach ${url.replace(/\./g, '\\.')}: connection refused`));
  });

  it('a server that never answers times out with a message, exit 3', async () => {
    const hang = createNetServer((sock) => sock.on('error', () => {}));
    await new Promise<void>((r) => hang.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(hang.address() as { port: number }).port}`;
    try {
      let stderr = '';
      const code = await runCtl(['--api', url, 'bans', 'list'], { env: {}, cwd: tmp, stdout: () => {}, stderr: (t) => (stderr += t), timeoutMs: 300 });
      expect(code).toBe(3);
      expect(stderr).toBe(`sipfront ctl: ${url}: no answer within 0.3 s\n`);
    } finally {
      hang.close();
    }
  });

  it('401 without a token says how to give one, exit 4', async () => {
    api.routes.set('GET /api/v1/bans', { status: 401, body: { error: { code: 'UNAUTHORIZED', message: 'missing token' } } });
    expectOneLineError(await ctl(withApi('bans', 'list')), 4, /401 unauthorized: no API token given: set SIPFRONT_API_TOKEN, or api\.token in the config/);
  });

  it('401 with a token says the token from SIPFRONT_API_TOKEN was refused, and the Bearer header was sent', async () => {
    api.routes.set('GET /api/v1/bans', { status: 401, body: { error: { code: 'UNAUTHORIZED', message: 'bad token' } } });
    const r = await ctl(withApi('bans', 'list'), { SIPFRONT_API_TOKEN: 'wrong-token' });
    expectOneLineError(r, 4, /401 unauthorized: the API token from SIPFRONT_API_TOKEN was refused/);
    expect(api.seen[0]?.authorization).toBe('Bearer wrong-token');
  });

  it('another API error prints the status and the API\'s message, exit 1', async () => {
    api.routes.set('PATCH /api/v1/dispatcher/sets/1/destinations/sip%3Ax', { status: 400, body: { error: { code: 'BAD_REQUEST', message: 'must be one of active, disabled, draining', field: 'state' } } });
    expectOneLineError(await ctl(withApi('dispatcher', 'set-state', '1', 'sip:x', 'active')), 1,
      /PATCH http:\/\/127\.0\.0\.1:\d+\/api\/v1\/dispatcher\/sets\/1\/destinations\/sip%3Ax: 400 state: must be one of active, disabled, draining\n$/);
    api.routes.set('GET /api/v1/trunks', { status: 500, text: 'boom' });
    expectOneLineError(await ctl(withApi('trunks', 'list')), 1, /: 500 boom\n$/);
  });

  it('an answer that is not JSON, or not the contract\'s shape, is an error', async () => {
    api.routes.set('GET /api/v1/trunks', { text: '<html>hello</html>' });
    expectOneLineError(await ctl(withApi('trunks', 'list')), 1, /the answer is not JSON/);
    api.routes.set('GET /api/v1/trunks', { body: [{ id: 'x' }] });
    expectOneLineError(await ctl(withApi('trunks', 'list')), 1, /expected \{ "trunks": \[\.\.\.\] \}/);
  });

  it('usage errors exit 2 with one line; --help prints every command', async () => {
    expectOneLineError(await ctl(withApi()), 2, /no command given/);
    expectOneLineError(await ctl(withApi('dispatcher', 'frobnicate')), 2, /unknown command "dispatcher frobnicate"/);
    expectOneLineError(await ctl(withApi('bans', 'list', 'extra')), 2, /usage: sipfront ctl bans list\n$/);
    expectOneLineError(await ctl(['--bogus', 'stats']), 2, /Unknown option '--bogus'/);
    expectOneLineError(await ctl(['--api', 'ftp://x', 'stats']), 2, /must be an http:\/\/ or https:\/\/ URL/);
    const help = await ctl(['--help']);
    expect(help.code).toBe(0);
    for (const c of ['dispatcher list', 'dispatcher set-state SET DEST active|disabled|draining', 'dispatcher reload', 'drain', 'ul show [AOR]', 'ul rm AOR', 'bans list', 'bans rm IP', 'trunks list', 'calls [CALL-ID]', 'stats']) {
      expect(help.stdout).toContain(`  ${c} `);
    }
    expect(api.seen).toEqual([]);
  });

  it('--api accepts host:port and a trailing /api/v1', async () => {
    api.routes.set('GET /api/v1/bans', { body: { bans: [] } });
    expect((await ctl(['--api', `127.0.0.1:${api.port}`, 'bans', 'list'])).code).toBe(0);
    expect((await ctl(['--api', `${api.url}/api/v1/`, 'bans', 'list'])).code).toBe(0);
    expect(api.seen.map((s) => s.url)).toEqual(['/api/v1/bans', '/api/v1/bans']);
  });

  function writeConfig(name: string, api: string): string {
    const file = join(tmp, name);
    writeFileSync(file, `api: ${api}\n`);
    return file;
  }

  it('without --api: the config\'s api host and port (0.0.0.0 dialled as 127.0.0.1) and its token', async () => {
    api.routes.set('GET /api/v1/bans', { body: { bans: [] } });
    const file = writeConfig('a.yaml', `{ host: 0.0.0.0, port: ${api.port}, token: file-token }`);
    expect((await ctl(['--config', file, 'bans', 'list'])).code).toBe(0);
    expect(api.seen[0]?.authorization).toBe('Bearer file-token');
    // SIPFRONT_API_TOKEN wins over the file's token
    expect((await ctl(['--config', file, 'bans', 'list'], { SIPFRONT_API_TOKEN: 'env-token' })).code).toBe(0);
    expect(api.seen[1]?.authorization).toBe('Bearer env-token');
    // the config named by SIPFRONT_CONFIG
    expect((await ctl(['bans', 'list'], { SIPFRONT_CONFIG: file })).code).toBe(0);
    expect(api.seen[2]?.authorization).toBe('Bearer file-token');
  });

  it('without --api or SIPFRONT_CONFIG: config/sipfront.yaml under the working directory', async () => {
    api.routes.set('GET /api/v1/bans', { body: { bans: [] } });
    const dir = mkdtempSync(join(tmp, 'cwd-'));
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(dir, 'config'));
    writeFileSync(join(dir, 'config', 'sipfront.yaml'), `api: { host: 127.0.0.1, port: ${api.port} }\n`);
    expect((await ctl(['bans', 'list'], {}, dir)).code).toBe(0);
    expect(api.seen[0]?.authorization).toBeUndefined();
  });

  it('--api with a config: the address from --api, the token from the config', async () => {
    api.routes.set('GET /api/v1/bans', { body: { bans: [] } });
    const file = writeConfig('b.yaml', '{ host: 192.0.2.1, port: 1, token: file-token }');
    expect((await ctl(['--config', file, ...withApi('bans', 'list')])).code).toBe(0);
    expect(api.seen[0]?.authorization).toBe('Bearer file-token');
  });

  it('a config that cannot be used exits 1 with one line naming the file and the problem', async () => {
    expectOneLineError(await ctl(['--config', join(tmp, 'missing.yaml'), 'stats']), 1, /missing\.yaml: file not found/);
    const bad = writeConfig('bad.yaml', '{ port: "eighty" }');
    expectOneLineError(await ctl(['--config', bad, 'stats']), 1, /bad\.yaml: api\.port/);
  });
});

// The built command, as operators and scripts run it (build first: npx tsc -b).
const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

function spawnCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: tmp,
      env: { ...process.env, SIPFRONT_CONFIG: '', SIPFRONT_API_TOKEN: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`sipfront ${args.join(' ')} did not exit within 15 s`));
    }, 15_000);
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('the built sipfront ctl', () => {
  beforeAll(() => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npx tsc -b)`);
  });

  it('dispatcher list prints the table and exits 0', async () => {
    api.routes.set('GET /api/v1/dispatcher/sets', { body: { sets: [{ id: 1, name: 'asterisk', algorithm: 'round-robin', destinations: [DEST_A] }] } });
    const r = await spawnCli(['ctl', '--api', api.url, 'dispatcher', 'list'], { SIPFRONT_API_TOKEN: 't0ken' });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^SET {2}NAME {6}ALGORITHM {4}DESTINATION {9}STATE {3}PRIO {2}WEIGHT {2}CALLS {2}SELECTED {2}LAST PROBE\n1 {4}asterisk {2}round-robin {2}sip:10\.0\.0\.11:5060 {2}active /);
    expect(api.seen[0]?.authorization).toBe('Bearer t0ken');
  });

  it('a wrong token exits 4 with one line; an API that is down exits 3 naming its URL', async () => {
    api.routes.set('GET /api/v1/registrations', { status: 401, body: { error: { code: 'UNAUTHORIZED', message: 'bad token' } } });
    const bad = await spawnCli(['ctl', '--api', api.url, 'ul', 'show'], { SIPFRONT_API_TOKEN: 'wrong' });
    expect(bad).toMatchObject({ code: 4, stdout: '' });
    expect(bad.stderr).toMatch(/^sipfront ctl: 401 unauthorized: the API token from SIPFRONT_API_TOKEN was refused [^\n]*\n$/);
    const url = `http://127.0.0.1:${await closedPort()}`;
    const down = await spawnCli(['ctl', '--api', url, 'stats']);
    expect(down.code).toBe(3);
    expect(down.stderr).toMatch(new RegExp(`^sipfront ctl: cannot reach ${url.replace(/\./g, '\\.')}: connection refused[^\n]*\n$`));
  });
});
