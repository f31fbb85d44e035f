// sipfront ctl against a real sipfront (startServer: SIP, dispatcher, registrar, security and the
// REST API) with two UDP backends that answer the dispatcher's OPTIONS probes.
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../config/index.js';
import { startServer, type RunningServer } from '../server.js';
import { runCtl } from './ctl.js';

const TOKEN = 'live-test-token-0123456789';

/** A UDP "Asterisk" that answers every OPTIONS with 200 and counts the OPTIONS it got. */
async function backend(): Promise<{ port: number; uri: string; socket: Socket }> {
  const socket = createSocket('udp4');
  socket.on('message', (data, rinfo) => {
    const text = data.toString('latin1');
    if (!text.startsWith('OPTIONS ')) return;
    const head = text.slice(0, text.indexOf('\r\n\r\n')).split('\r\n');
    const keep = head.filter((l) => /^(via|v|from|f|to|t|call-id|i|cseq)\s*:/i.test(l));
    socket.send(Buffer.from(['SIP/2.0 200 OK', ...keep, 'Content-Length: 0', '', ''].join('\r\n'), 'latin1'), rinfo.port, rinfo.address);
  });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  const port = socket.address().port;
  return { port, uri: `sip:127.0.0.1:${port}`, socket };
}

const dir = mkdtempSync(join(tmpdir(), 'sipfront-ctl-live-'));
let server: RunningServer;
let api = '';
let backends: Array<Awaited<ReturnType<typeof backend>>> = [];
let configFile = '';

beforeAll(async () => {
  backends = [await backend(), await backend()];
  const yaml = [
    'listen:',
    '  - { transport: udp, host: 127.0.0.1, port: 0 }',
    `store: { kind: memory, path: ${JSON.stringify(dir)} }`,
    `api: { host: 127.0.0.1, port: 0, token: ${TOKEN} }`,
    'domains: [example.com]',
    'dispatcher:',
    '  probe: { interval: 200ms, timeout: 200ms, down_after: 2, up_after: 1, accept: [200] }',
    '  sets:',
    '    - id: 1',
    '      name: asterisk',
    '      algorithm: round-robin',
    '      destinations:',
    ...backends.map((b) => `        - { uri: "${b.uri}" }`),
  ].join('\n');
  configFile = join(dir, 'sipfront.yaml');
  writeFileSync(configFile, yaml);
  const { config } = parseConfigText(yaml, { env: {}, cwd: dir, sourceName: configFile });
  server = await startServer(config, pino({ level: 'silent' }));
  api = `http://127.0.0.1:${server.apiAddress().port}`;
});

afterAll(async () => {
  await server?.close();
  for (const b of backends) b.socket.close();
  rmSync(dir, { recursive: true, force: true });
});

async function ctl(args: string[], env: Record<string, string> = { SIPFRONT_API_TOKEN: TOKEN }): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCtl(['--api', api, ...args], { env, cwd: dir, stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  return { code, stdout, stderr };
}

async function until(what: string, check: () => Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`not within ${ms} ms: ${what}`);
}

const rowOf = (out: string, uri: string): string => out.split('\n').find((l) => l.includes(`${uri} `)) ?? '';

describe('sipfront ctl against a running sipfront', () => {
  it('dispatcher list shows both backends active; set-state disabled sticks; active brings it back', async () => {
    await until('both destinations active', async () => {
      const r = await ctl(['dispatcher', 'list']);
      return backends.every((b) => / active /.test(rowOf(r.stdout, b.uri)));
    });
    const [a] = backends;
    const set = await ctl(['dispatcher', 'set-state', '1', a!.uri, 'disabled']);
    expect(set).toEqual({ code: 0, stdout: `set 1 destination ${a!.uri}: disabled\n`, stderr: '' });
    await new Promise((r) => setTimeout(r, 500)); // probes go on answering 200: an operator's disable stays
    expect(rowOf((await ctl(['dispatcher', 'list'])).stdout, a!.uri)).toMatch(/ disabled /);
    const json = JSON.parse((await ctl(['--json', 'dispatcher', 'list'])).stdout) as { sets: Array<{ id: number; destinations: Array<{ uri: string; state: string }> }> };
    expect(json.sets[0]!.destinations.find((d) => d.uri === a!.uri)?.state).toBe('disabled');
    expect((await ctl(['dispatcher', 'set-state', '1', a!.uri, 'active'])).code).toBe(0);
    await until('back to active', async () => / active /.test(rowOf((await ctl(['dispatcher', 'list'])).stdout, a!.uri)));
    const missing = await ctl(['dispatcher', 'set-state', '1', 'sip:192.0.2.99:5060', 'disabled']);
    expect(missing.code).toBe(5);
    expect(missing.stderr).toMatch(/^sipfront ctl: not found: set 1 or its destination sip:192\.0\.2\.99:5060/);
  });

  it('dispatcher reload re-reads the YAML', async () => {
    const r = await ctl(['dispatcher', 'reload']);
    expect(r.stderr).toBe('');
    expect(r).toMatchObject({ code: 0, stdout: 'dispatcher reloaded (1 set)\n' });
  });

  it('bans list / rm: a manual ban is listed and lifted; lifting it again is not found', async () => {
    expect((await ctl(['bans', 'list'])).stdout).toBe('no bans\n');
    const res = await fetch(`${api}/api/v1/bans`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ip: '192.0.2.7', seconds: 600, reason: 'manual' }),
    });
    expect(res.status).toBeLessThan(300);
    const list = await ctl(['bans', 'list']);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^IP +REASON +EXPIRES IN +BANNED\n192\.0\.2\.7 +\S+ +(9|10)m\d\ds +\d+s ago\n$/);
    expect(await ctl(['bans', 'rm', '192.0.2.7'])).toEqual({ code: 0, stdout: 'lifted the ban on 192.0.2.7\n', stderr: '' });
    expect((await ctl(['bans', 'list'])).stdout).toBe('no bans\n');
    const again = await ctl(['bans', 'rm', '192.0.2.7']);
    expect(again.code).toBe(5);
    expect(again.stderr).toMatch(/^sipfront ctl: not found: no ban for 192\.0\.2\.7/);
  });

  it('ul show: no registrations; an unknown AOR is not found', async () => {
    expect(await ctl(['ul', 'show'])).toEqual({ code: 0, stdout: 'no registrations\n', stderr: '' });
    const one = await ctl(['ul', 'show', '1001@example.com']);
    expect(one.code).toBe(5);
    expect(one.stderr).toMatch(/^sipfront ctl: not found: no registration for 1001@example\.com/);
  });

  it('stats summarizes the live /metrics', async () => {
    const r = await ctl(['stats']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^destinations +2\/2 up \(set 1 2\/2\)$/m);
    expect(r.stdout).toMatch(/^transactions +\d+ active$/m);
  });

  it('a wrong token exits 4, no token exits 4, each with one line', async () => {
    const wrong = await ctl(['bans', 'list'], { SIPFRONT_API_TOKEN: 'not-the-token' });
    expect(wrong).toMatchObject({ code: 4, stdout: '' });
    expect(wrong.stderr).toMatch(/^sipfront ctl: 401 unauthorized: the API token from SIPFRONT_API_TOKEN was refused [^\n]*\n$/);
    const none = await ctl(['bans', 'list'], {});
    expect(none.code).toBe(4);
    expect(none.stderr).toMatch(/^sipfront ctl: 401 unauthorized: no API token given[^\n]*\n$/);
  });

  it('the token and address can come from the config file alone', async () => {
    const file = join(dir, 'ctl.yaml');
    writeFileSync(file, `api: { host: 0.0.0.0, port: ${server.apiAddress().port}, token: ${TOKEN} }\n`);
    let stdout = '';
    const code = await runCtl(['--config', file, 'bans', 'list'], { env: {}, cwd: dir, stdout: (t) => (stdout += t), stderr: () => {} });
    expect({ code, stdout }).toEqual({ code: 0, stdout: 'no bans\n' });
  });

  it('drain: /ready turns 503 (runs last: the instance stays draining)', async () => {
    expect((await fetch(`${api}/ready`)).status).toBe(200);
    const r = await ctl(['drain']);
    expect(r).toEqual({ code: 0, stdout: `draining ${api}: OPTIONS and new dialogs get 503, in-dialog requests flow\n`, stderr: '' });
    expect((await fetch(`${api}/ready`)).status).toBe(503);
  });
});
