// Runs sipp for integration tests: one bounded, non-interactive process per run, each in its own
// temporary directory (sipp names its trace files after the scenario and its PID), with results
// read from sipp's own files: the final row of -trace_stat for successful/failed calls and of
// -trace_counts for per-message counts ("<index>_<message>_<Sent|Recv|Retrans|Timeout|Unexp>").

import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from './wait.js';

export type SippTransport = 'udp' | 'tcp';

/** The folder of the project's scenarios (test/sipp). */
export const SIPP_SCENARIO_DIR = fileURLToPath(new URL('../sipp/', import.meta.url));

/** The sipp binary: `SIPP` from the environment, else `sipp` on the PATH. */
const SIPP_BIN = process.env['SIPP'] ?? 'sipp';

/** sipp's exit status when it cannot bind its socket. */
const EXIT_BIND_FAILED = 254;
const STDIO_KEEP = 256 * 1024;

export interface SippOptions {
  /** A scenario file in test/sipp (`'uac.xml'`) or an absolute path. */
  scenario: string;
  /** Where requests go, `host:port` (a caller scenario; the Request-URI host too). */
  remote?: string;
  /** Default `'udp'` (sipp `-t u1`); `'tcp'` is `-t t1`. */
  transport?: SippTransport;
  /** Local port (`-p`); default: a free port, chosen again if sipp cannot bind it. */
  localPort?: number;
  /** Local address (`-i`); default 127.0.0.1 (another loopback address keeps a caller apart from backends). */
  localHost?: string;
  /** Calls to make before exiting (`-m`); default 1. */
  calls?: number;
  /** New calls per second (`-r`); default 10. */
  rate?: number;
  /** Period of `rate` in ms (`-rp`); default 1000. */
  ratePeriodMs?: number;
  /** Most calls at once (`-l`). */
  maxConcurrent?: number;
  /** The `<pause/>` of the scenarios in ms (`-d`): call length in uac.xml, ringing in uac-cancel.xml. */
  callDurationMs?: number;
  /** Request-URI user (`-s`); sipp's default is `service`. */
  service?: string;
  /** Bound on the whole run (`-timeout`, whole seconds); default from calls, rate and durations. */
  timeoutMs?: number;
  /** Bound on waiting for any one expected message (`-recv_timeout`); default 5000. */
  recvTimeoutMs?: number;
  /** `-key NAME VALUE` pairs for `[NAME]` keywords in custom scenarios. */
  keys?: Readonly<Record<string, string>>;
  /** Also write every message to `<scenario>_<pid>_messages.log` (`-trace_msg`). */
  traceMessages?: boolean;
  /** Keep the run's directory even when the run was clean (it is kept anyway after failures). */
  keepDir?: boolean;
  /** Appended as they are. */
  extraArgs?: readonly string[];
}

export interface SippResult {
  /** sipp's exit status: 0 all calls succeeded, 1 some failed, 97 stopped by timeout or command, 99 no call, 254 bind failure. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last 256 KB of each. */
  stdout: string;
  stderr: string;
  /** SuccessfulCall(C) and FailedCall(C) of the final -trace_stat row (an OPTIONS probe is a call too). */
  successful: number;
  failed: number;
  /** Final -trace_counts row, e.g. `{ '1_INVITE_Recv': 20, '4_200_Sent': 20, ... }`: see recvCount(). */
  counts: Record<string, number>;
  /** Final -trace_stat row, column name to raw value. */
  stats: Record<string, string>;
  /** Unexpected messages and other errors (-trace_err), empty when none. */
  errors: string;
  /** The run's directory (removed after a clean run unless keepDir). */
  dir: string;
  args: readonly string[];
}

/** How often the message `name` ('INVITE', '486', ...) was received, over all scenario steps. */
export function recvCount(counts: Readonly<Record<string, number>>, name: string): number {
  return countOf(counts, name, 'Recv');
}

/** How often the message `name` was sent (first sends, not retransmissions). */
export function sentCount(counts: Readonly<Record<string, number>>, name: string): number {
  return countOf(counts, name, 'Sent');
}

export function countOf(
  counts: Readonly<Record<string, number>>,
  name: string,
  kind: 'Sent' | 'Recv' | 'Retrans' | 'Timeout' | 'Unexp',
): number {
  let total = 0;
  for (const [column, value] of Object.entries(counts)) {
    const at = column.indexOf('_');
    if (at > 0 && column.slice(at + 1) === `${name}_${kind}`) total += value;
  }
  return total;
}

/** Runs a scenario to its end (a caller, usually) and reports what sipp counted. */
export async function runSipp(options: SippOptions): Promise<SippResult> {
  const calls = options.calls ?? 1;
  const rate = options.rate ?? 10;
  const recvTimeoutMs = options.recvTimeoutMs ?? 5000;
  const periodMs = options.ratePeriodMs ?? 1000;
  const timeoutMs =
    options.timeoutMs ??
    Math.ceil((calls / rate) * periodMs) + (options.callDurationMs ?? 0) + recvTimeoutMs + 5000;
  for (let attempt = 1; ; attempt++) {
    const localPort = options.localPort ?? (await freePort(options.transport ?? 'udp'));
    const args = [
      ...commonArgs(options, localPort, recvTimeoutMs, timeoutMs),
      '-m', String(calls),
      '-r', String(rate),
      '-rp', String(periodMs),
      '-timeout_error',
    ];
    if (options.maxConcurrent !== undefined) args.push('-l', String(options.maxConcurrent));
    if (options.remote !== undefined) args.unshift(options.remote);
    args.push(...(options.extraArgs ?? []));
    const run = await launch(args, timeoutMs, options.keepDir ?? false);
    const result = await run.result;
    if (result.code === EXIT_BIND_FAILED && options.localPort === undefined && attempt < 3) continue;
    return result;
  }
}

export interface SippUasOptions {
  /** Default `'uas.xml'`. */
  scenario?: string;
  /** Default: a free port on 127.0.0.1. */
  port?: number;
  transport?: SippTransport;
  /** Bound on the backend's life (`-timeout`, whole seconds); default 120 000. */
  timeoutMs?: number;
  /** Bound on waiting within one call (`-recv_timeout`); default 10 000. */
  recvTimeoutMs?: number;
  /** Exit after this many calls, OPTIONS probes included (`-m`); default: no limit but the timeout. */
  maxCalls?: number;
  /** Log one line per message (`-trace_shortmsg`), which invites() reads; default true. */
  traceShortMessages?: boolean;
  traceMessages?: boolean;
  keys?: Readonly<Record<string, string>>;
  keepDir?: boolean;
  extraArgs?: readonly string[];
}

export interface SippUas {
  readonly port: number;
  readonly transport: SippTransport;
  /** `127.0.0.1:<port>`, for a destination URI. */
  readonly address: string;
  readonly dir: string;
  readonly pid: number;
  /** Settles when sipp exits, by stop() or by its timeout. */
  readonly result: Promise<SippResult>;
  /** Distinct INVITEs received so far (by Call-ID: retransmissions and OPTIONS do not count). */
  invites(): Promise<number>;
  /** Call-IDs of the distinct requests of `method` received so far (default 'INVITE'). */
  received(method?: string): Promise<string[]>;
  /** The latest -trace_counts row (written once a second while it runs). */
  counts(): Promise<Record<string, number>>;
  /** Lets calls in progress finish (SIGUSR1), then ends it after graceMs (default 3000). */
  stop(graceMs?: number): Promise<SippResult>;
}

/** Starts a backend scenario in the background and resolves once its socket is bound. */
export async function startSippUas(options: SippUasOptions = {}): Promise<SippUas> {
  const transport = options.transport ?? 'udp';
  const timeoutMs = options.timeoutMs ?? 120_000;
  const recvTimeoutMs = options.recvTimeoutMs ?? 10_000;
  const shortMessages = options.traceShortMessages ?? true;
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await freePort(transport));
    const args = commonArgs(
      { ...options, scenario: options.scenario ?? 'uas.xml', transport },
      port,
      recvTimeoutMs,
      timeoutMs,
    );
    if (options.maxCalls !== undefined) args.push('-m', String(options.maxCalls));
    if (shortMessages) args.push('-trace_shortmsg');
    args.push(...(options.extraArgs ?? []));
    const run = await launch(args, timeoutMs, options.keepDir ?? false);
    let exited = false;
    void run.result.then(() => {
      exited = true;
    });
    try {
      await waitFor(() => exited || isBound(transport, port), {
        timeoutMs: 5000,
        intervalMs: 20,
        what: `sipp ${options.scenario ?? 'uas.xml'} listening on ${transport} ${port}`,
      });
    } catch (error) {
      run.child.kill('SIGKILL');
      throw error;
    }
    if (exited) {
      const result = await run.result;
      if (result.code === EXIT_BIND_FAILED && options.port === undefined && attempt < 3) continue;
      throw new Error(`sipp backend exited at start (code ${result.code}): ${tail(result.stderr || result.stdout)}`);
    }
    const received = async (method = 'INVITE'): Promise<string[]> => {
      if (!shortMessages) throw new Error('received() needs traceShortMessages');
      const text = await readTraceFile(run.dir, '_shortmessages.log');
      const ids = new Set<string>();
      for (const line of text.split('\n')) {
        // date, time, epoch, R|S, Call-ID, "CSeq:N METHOD", first line
        const fields = line.split('\t');
        if (fields[3] === 'R' && fields[6]?.startsWith(`${method} `) && fields[4]) ids.add(fields[4]);
      }
      return [...ids];
    };
    const counts = async (): Promise<Record<string, number>> =>
      parseCounts(await readTraceFile(run.dir, '_counts.csv'));
    return {
      port,
      transport,
      address: `127.0.0.1:${port}`,
      dir: run.dir,
      pid: run.child.pid ?? -1,
      result: run.result,
      received,
      counts,
      invites: async () =>
        shortMessages ? (await received('INVITE')).length : recvCount(await counts(), 'INVITE'),
      stop: (graceMs = 3000) => stopProcess(run.child, run.result, graceMs),
    };
  }
}

/** A port on 127.0.0.1 that nothing is bound to right now ('both': free for UDP and TCP). */
export async function freePort(transport: SippTransport | 'both' = 'udp'): Promise<number> {
  if (transport === 'udp') return bindAndRelease('udp', 0);
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await bindAndRelease('tcp', 0);
    if (transport === 'tcp') return port;
    try {
      await bindAndRelease('udp', port);
      return port;
    } catch {
      // taken for UDP: try another
    }
  }
  throw new Error('freePort: no port free for both UDP and TCP');
}

function bindAndRelease(transport: SippTransport, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    if (transport === 'udp') {
      const socket = createSocket('udp4');
      socket.once('error', reject);
      socket.bind(port, '127.0.0.1', () => {
        const bound = socket.address().port;
        socket.close(() => resolve(bound));
      });
    } else {
      const server = createServer();
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        const address = server.address();
        const bound = typeof address === 'object' && address ? address.port : 0;
        server.close(() => resolve(bound));
      });
    }
  });
}

// --- process handling -------------------------------------------------------------------------

interface Launched {
  child: ChildProcess;
  dir: string;
  result: Promise<SippResult>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function commonArgs(
  options: Pick<SippOptions, 'scenario' | 'transport' | 'service' | 'callDurationMs' | 'keys' | 'traceMessages' | 'localHost'>,
  localPort: number,
  recvTimeoutMs: number,
  timeoutMs: number,
): string[] {
  const scenario = options.scenario.startsWith('/') ? options.scenario : join(SIPP_SCENARIO_DIR, options.scenario);
  const args = [
    '-sf', scenario,
    '-i', options.localHost ?? '127.0.0.1',
    '-p', String(localPort),
    '-t', options.transport === 'tcp' ? 't1' : 'u1',
    '-nostdin',
    '-buff_size', '2097152',
    '-timeout', `${Math.max(1, Math.ceil(timeoutMs / 1000))}s`,
    '-recv_timeout', String(recvTimeoutMs),
    '-trace_stat', '-stf', 'stat.csv',
    '-trace_counts',
    '-trace_err',
    '-fd', '1',
  ];
  if (options.service !== undefined) args.push('-s', options.service);
  if (options.callDurationMs !== undefined) args.push('-d', String(options.callDurationMs));
  if (options.traceMessages) args.push('-trace_msg');
  for (const [name, value] of Object.entries(options.keys ?? {})) args.push('-key', name, value);
  return args;
}

async function launch(args: string[], timeoutMs: number, keepDir: boolean): Promise<Launched> {
  const dir = await mkdtemp(join(tmpdir(), 'sipfront-sipp-'));
  const child = spawn(SIPP_BIN, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // A test that fails before stop() must not leave a sipp behind for the next one.
    process.once('exit', () => {
      for (const running of live) running.kill('SIGKILL');
    });
  }
  const stdout = keepTail(child.stdout);
  const stderr = keepTail(child.stderr);
  // -timeout bounds sipp itself; this bounds a sipp that does not honour it.
  const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs + 15_000);
  killer.unref();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; spawnError?: Error }>(
    (resolve) => {
      child.once('error', (error) => resolve({ code: null, signal: null, spawnError: error }));
      child.once('close', (code, signal) => resolve({ code, signal }));
    },
  );
  const result = exited.then(async ({ code, signal, spawnError }) => {
    clearTimeout(killer);
    live.delete(child);
    if (spawnError) {
      throw new Error(`cannot run ${SIPP_BIN} (install the Debian package sip-tester): ${spawnError.message}`);
    }
    const stats = parseStat(await readTraceFile(dir, 'stat.csv'));
    const sippResult: SippResult = {
      code,
      signal,
      stdout: stdout(),
      stderr: stderr(),
      successful: Number(stats['SuccessfulCall(C)'] ?? 0),
      failed: Number(stats['FailedCall(C)'] ?? 0),
      counts: parseCounts(await readTraceFile(dir, '_counts.csv')),
      stats,
      errors: await readTraceFile(dir, '_errors.log'),
      dir,
      args,
    };
    // sipp's own overload warnings (a loaded machine) say nothing about the run
    const realErrors = sippResult.errors
      .split('\n')
      .filter((l) => l.trim() !== '' && !/Overload warning|watchdog timer/i.test(l) && !/^The following events occurred:?$/.test(l.trim()));
    const clean = (code === 0 || code === 97 || code === 99) && sippResult.failed === 0 && realErrors.length === 0;
    if (clean && !keepDir) await rm(dir, { recursive: true, force: true });
    return sippResult;
  });
  // Nobody may await result (a backend that is never stopped): do not let it reject unhandled.
  result.catch(() => undefined);
  return { child, dir, result };
}

async function stopProcess(child: ChildProcess, result: Promise<SippResult>, graceMs: number): Promise<SippResult> {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGUSR1'); // sipp's soft quit: no new calls, finish those in progress
    const escalate = setTimeout(() => child.kill('SIGTERM'), graceMs);
    const last = setTimeout(() => child.kill('SIGKILL'), graceMs + 2000);
    try {
      return await result;
    } finally {
      clearTimeout(escalate);
      clearTimeout(last);
    }
  }
  return result;
}

function keepTail(stream: NodeJS.ReadableStream | null): () => string {
  let text = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (chunk: string) => {
    text += chunk;
    if (text.length > 2 * STDIO_KEEP) text = text.slice(-STDIO_KEEP);
  });
  return () => text.slice(-STDIO_KEEP);
}

// --- sipp's files -----------------------------------------------------------------------------

/** The text of the file in dir whose name ends with suffix ('' when there is none yet). */
async function readTraceFile(dir: string, suffix: string): Promise<string> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return '';
  }
  const name = names.find((entry) => entry.endsWith(suffix));
  if (!name) return '';
  try {
    return await readFile(join(dir, name), 'utf8');
  } catch {
    return '';
  }
}

/** Header and last complete row of a sipp CSV (';'-separated, with a trailing ';'). */
function lastRow(text: string): Array<[string, string]> {
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  if (lines.length < 2) return [];
  const header = (lines[0] ?? '').split(';');
  const row = (lines[lines.length - 1] ?? '').split(';');
  if (row.length < header.length - 1) return [];
  return header.map((name, index) => [name.trim(), (row[index] ?? '').trim()] as [string, string]).filter(([name]) => name);
}

function parseStat(text: string): Record<string, string> {
  return Object.fromEntries(lastRow(text));
}

function parseCounts(text: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const [name, value] of lastRow(text)) {
    if (name === 'CurrentTime' || name === 'ElapsedTime') continue;
    counts[name] = Number(value);
  }
  return counts;
}

function tail(text: string): string {
  return text.trim().split('\n').slice(-5).join(' | ');
}

// --- sockets ------------------------------------------------------------------------------------

/** Whether something is bound to 127.0.0.1:port or *:port (Linux /proc/net). */
async function isBound(transport: SippTransport, port: number): Promise<boolean> {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const text = await readFile(`/proc/net/${transport}`, 'utf8').catch(() => '');
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const local = fields[1] ?? '';
    const state = fields[3];
    if (!local.endsWith(`:${hexPort}`)) continue;
    const host = local.slice(0, -5);
    if (host !== '0100007F' && host !== '00000000') continue;
    if (transport === 'udp' || state === '0A') return true; // 0A: LISTEN
  }
  return false;
}
