// Kamailio 5.6 (Debian `kamailio`) as a real peer in integration tests: run in the foreground
// (`-DD -E`, SIPP-NOTES) with its pid file, config and ctl socket in a temporary directory, on
// a free port of a loopback address, its stderr (and so every xlog line) kept for assertions.
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './sipp.js';
import { waitFor } from './wait.js';

const run = promisify(execFile);

const KAMAILIO_BIN = process.env['KAMAILIO'] ?? '/usr/sbin/kamailio';
const KAMCMD_BIN = process.env['KAMCMD'] ?? 'kamcmd';
const MODULE_DIR = '/usr/lib/x86_64-linux-gnu/kamailio/modules/';
const LOG_KEEP = 512 * 1024;

export interface KamailioOptions {
  /** Listening address; default 127.0.0.1 (another loopback address keeps it apart from sipfront's peers). */
  host?: string;
  /** Also listen on TCP (same port); default true. */
  tcp?: boolean;
  /** Modules besides kex and ctl, which are always loaded. */
  modules: readonly string[];
  /** Lines of the config between the module list and the routes (`modparam(...)`). */
  params?: readonly string[];
  /** The routing blocks (`request_route { ... }` and the rest), given the port chosen. */
  routes: (port: number) => readonly string[];
}

export interface Kamailio {
  readonly host: string;
  readonly port: number;
  /** `kamcmd -s <ctl> ...args`, bounded by 3 s. */
  kamcmd(...args: string[]): Promise<string>;
  /** The location table as `kamcmd ul.dump` prints it. */
  dump(): Promise<string>;
  /** Kamailio's stderr so far (the last 512 KB): xlog lines land here. */
  log(): string;
  stop(): Promise<void>;
}

/** Starts Kamailio and resolves once its ctl socket answers (a port taken meanwhile: tries another). */
export async function startKamailio(options: KamailioOptions): Promise<Kamailio> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options);
    } catch (error) {
      if (attempt >= 3) throw error;
    }
  }
}

async function startOnce(options: KamailioOptions): Promise<Kamailio> {
  const host = options.host ?? '127.0.0.1';
  const dir = await mkdtemp(join(tmpdir(), 'sipfront-kamailio-'));
  const port = await freePort('both');
  const ctl = `unix:${join(dir, 'ctl')}`;
  const modules = ['kex', 'ctl', ...options.modules.filter((m) => m !== 'kex' && m !== 'ctl')];
  const cfg = [
    '#!KAMAILIO',
    'debug=2',
    'log_stderror=yes',
    'children=2',
    'tcp_children=2',
    'auto_aliases=no',
    `listen=udp:${host}:${port}`,
    ...(options.tcp === false ? [] : [`listen=tcp:${host}:${port}`]),
    `mpath="${MODULE_DIR}"`,
    ...modules.map((m) => `loadmodule "${m}.so"`),
    `modparam("ctl", "binrpc", "${ctl}")`,
    ...(options.params ?? []),
    ...options.routes(port),
  ].join('\n');
  await writeFile(join(dir, 'kamailio.cfg'), `${cfg}\n`);
  const child = spawn(
    KAMAILIO_BIN,
    ['-f', join(dir, 'kamailio.cfg'), '-DD', '-E', '-Y', dir, '-P', join(dir, 'kamailio.pid'), '-m', '64', '-M', '8'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr += chunk;
    if (stderr.length > 2 * LOG_KEEP) stderr = stderr.slice(-LOG_KEEP);
  });
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      resolve();
    });
    child.once('error', () => {
      exited = true;
      resolve();
    });
  });
  // a test that fails before stop() must not leave a Kamailio behind
  const onExit = (): void => void child.kill('SIGKILL');
  process.once('exit', onExit);
  const kamcmd = async (...args: string[]): Promise<string> =>
    (await run(KAMCMD_BIN, ['-s', ctl, ...args], { timeout: 3000 })).stdout;
  const stop = async (): Promise<void> => {
    process.removeListener('exit', onExit);
    if (!exited) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exit;
      clearTimeout(killer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(async () => !exited && (await kamcmd('core.version')).includes('kamailio'), {
      timeoutMs: 8000,
      intervalMs: 100,
      what: `kamailio on ${host}:${port}`,
    });
  } catch (error) {
    const log = stderr.slice(-3000);
    await stop();
    throw new Error(`kamailio did not start: ${log}`, { cause: error });
  }
  return { host, port, kamcmd, dump: () => kamcmd('ul.dump'), log: () => stderr, stop };
}
