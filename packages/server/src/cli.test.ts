import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Runs the built CLI (`tsc -b` first, as `pnpm install` does), the way operators and scripts do.
const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function sipfront(args: string[], opts: { env?: NodeJS.ProcessEnv; onStdout?: (text: string, kill: (s: NodeJS.Signals) => void) => void } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, SIPFRONT_CONFIG: '', REDIS_URL: '', SIPFRONT_API_TOKEN: '', SIPFRONT_LOG_LEVEL: '', ...opts.env };
    const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`sipfront ${args.join(' ')} did not exit within 15 s\n${stdout}\n${stderr}`));
    }, 15_000);
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      opts.onStdout?.(stdout, (s) => child.kill(s));
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

const tmp = mkdtempSync(join(tmpdir(), 'sipfront-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('sipfront CLI', () => {
  beforeAll(() => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (pnpm build, or npx tsc -b)`);
  });

  it('--version prints the version and exits 0', async () => {
    const run = await sipfront(['--version']);
    expect(run).toMatchObject({ code: 0, stdout: `sipfront ${VERSION}\n` });
  });

  it('check-config on a bad file prints every problem with its YAML path and exits 1', async () => {
    const bad = join(tmp, 'bad.yaml');
    writeFileSync(bad, [
      'mode: stateless',
      'dispatcher:',
      '  sets:',
      '    - { id: 1, destinations: [{ uri: "sip:10.0.0.11" }] }',
      '    - { id: 2, destinations: [{ uri: "not-a-uri" }] }',
      'trunks: [{ id: p1, registrar: "sip:p.example", user: "1", password: x }]',
      'api: { token: change-me }',
    ].join('\n'));
    const run = await sipfront(['check-config', bad]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    const lines = run.stderr.trim().split('\n');
    expect(lines).toEqual([
      expect.stringMatching(/^\S*bad\.yaml: dispatcher\.sets\[1\]\.destinations\[0\]\.uri: not a SIP URI .*\(line 5\)$/),
      expect.stringMatching(/^\S*bad\.yaml: trunks: not allowed with mode: stateless: .*\(line 6\)$/),
      expect.stringMatching(/^\S*bad\.yaml: api\.token: .*change-me.*\(line 7\)$/),
    ]);
  });

  it('check-config on the embedded default says ok and exits 0', async () => {
    const run = await sipfront(['check-config', 'config/sipfront.yaml']);
    expect(run).toMatchObject({ code: 0, stdout: 'config/sipfront.yaml: ok\n', stderr: '' });
  });

  it('check-config prints warnings but still passes', async () => {
    const lab = join(tmp, 'lab.yaml');
    writeFileSync(lab, 'registrar: { auth: { required: false } }\n');
    const run = await sipfront(['check-config', lab]);
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/lab\.yaml: warning: registrar\.auth\.required: false: .*\(line 1\)/);
    expect(run.stdout).toBe(`${lab}: ok\n`);
  });

  it('refuses to start on a bad config, naming the file, and exits 1', async () => {
    const bad = join(tmp, 'run-bad.yaml');
    writeFileSync(bad, 'listen: [{ transport: udp, port: 99999 }]\n');
    const run = await sipfront(['--config', bad]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`${bad}: listen[0].port: not a port (0-65535) (line 1)\n`);
  });

  /** sipfront on a UDP port of its own with `env`, stopped with SIGTERM once it says it started */
  const startThenStop = async (name: string, env: NodeJS.ProcessEnv): Promise<Run> => {
    const config = join(tmp, `${name}.yaml`);
    writeFileSync(config, [
      'listen: [{ transport: udp, host: 127.0.0.1, port: 0 }]',
      'api: { host: 127.0.0.1, port: 0 }',
      `store: { kind: memory, path: ${join(tmp, `data-${name}`)} }`,
    ].join('\n'));
    let sent = false;
    return sipfront([], {
      env: { SIPFRONT_CONFIG: config, SIPFRONT_LOG_LEVEL: 'info', ...env },
      onStdout: (out, kill) => {
        if (!sent && out.includes('"msg":"started"')) {
          sent = true;
          kill('SIGTERM');
        }
      },
    });
  };

  it('runs until SIGTERM, then closes and exits 0', async () => {
    const run = await startThenStop('run', {});
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('"msg":"stopped"');
    // UDP in batches (the native module pnpm build compiles): nothing to say at info
    expect(run.stdout).not.toContain('UDP batching off');
  });

  it('says at start, with the reason, when UDP goes through node:dgram one datagram at a time', async () => {
    const run = await startThenStop('nobatch', { SIPFRONT_UDP_BATCH: '0' });
    expect(run.code, run.stderr).toBe(0);
    const line = run.stdout.split('\n').find((l) => l.includes('UDP batching off'));
    expect(line, run.stdout).toBeDefined();
    expect(JSON.parse(line!)).toMatchObject({ level: 30, reason: 'SIPFRONT_UDP_BATCH=0' });
  });

  it('ctl without a command is a usage error (exit 2); unknown options are usage errors (exit 2)', async () => {
    expect(await sipfront(['ctl'])).toMatchObject({ code: 2, stderr: 'sipfront ctl: no command given (see sipfront ctl --help)\n' });
    const bad = await sipfront(['--nope']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('usage:');
  });
});
