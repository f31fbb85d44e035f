// Runs the built `sipfront` command as a child process, the way an operator does, for the tests of
// `workers: N`: the YAML goes to a temporary directory, stdout's pino JSON lines are parsed as they
// arrive, and every wait is bounded. A test that fails half-way still leaves no process behind.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The built command (`pnpm build` or `npx tsc -b` first). */
export const CLI = fileURLToPath(new URL('../../packages/server/dist/cli.js', import.meta.url));
const REPO = fileURLToPath(new URL('../../', import.meta.url));

/** One pino line; `worker` is present on the lines a worker wrote, absent on the primary's. */
export interface LogLine {
  level?: number;
  msg?: string;
  pid?: number;
  worker?: number;
  [key: string]: unknown;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface RunningCli {
  /** the primary's pid */
  readonly pid: number;
  readonly configPath: string;
  /** every JSON line of stdout so far, in order */
  readonly logs: readonly LogLine[];
  stdout(): string;
  stderr(): string;
  /** Resolves with the first line (already written or still to come) that `accept` takes. */
  waitForLog(accept: (line: LogLine) => boolean, timeoutMs: number, what: string): Promise<LogLine>;
  /** worker index → pid, from the workers' own log lines */
  workerPids(): Map<number, number>;
  /** Settles when the primary has exited. */
  readonly exited: Promise<Exit>;
  /** Sends `signal` to the primary, waits (at most timeoutMs) for it to exit, then briefly for the rest of its log. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<Exit & { ms: number }>;
  /** For afterAll: SIGKILLs the primary and its workers if still there; removes the temporary directory. */
  dispose(): Promise<void>;
}

/** How long stop() waits, after the exit, for the rest of stdout. */
const STDOUT_DRAIN_MS = 1000;

/** The environment the command runs in: none of the test runner's SIPFRONT_* or REDIS_URL. */
const cliEnv = (): NodeJS.ProcessEnv => ({
  ...process.env,
  SIPFRONT_CONFIG: '',
  REDIS_URL: '',
  SIPFRONT_API_TOKEN: '',
  SIPFRONT_LOG_LEVEL: '',
});

const live = new Set<() => void>();
let exitHookInstalled = false;
const onTestProcessExit = (kill: () => void): (() => void) => {
  live.add(kill);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const k of live) k();
    });
  }
  return () => live.delete(kill);
};

/** Whether a process with this pid exists (signal 0). */
export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const killQuietly = (pid: number): void => {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
};

const assertBuilt = (): void => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (pnpm build, or npx tsc -b)`);
};

/**
 * Writes `yaml` to a temporary file and runs `sipfront --config FILE`; resolves once the log says
 * `readyMsg` (default: the primary's "all workers started"), rejects if the command exits first.
 */
export async function startCli(yaml: string, opts: { readyMsg?: string; readyTimeoutMs?: number } = {}): Promise<RunningCli> {
  assertBuilt();
  const dir = await mkdtemp(join(tmpdir(), 'sipfront-workers-'));
  const configPath = join(dir, 'sipfront.yaml');
  await writeFile(configPath, yaml);
  const child: ChildProcess = spawn(process.execPath, [CLI, '--config', configPath], { cwd: REPO, env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: LogLine[] = [];
  let stdout = '';
  let stderr = '';
  let partial = '';
  let waiters: Array<{ accept: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = [];
  const workers = new Map<number, number>();

  const forget = onTestProcessExit(() => {
    killQuietly(child.pid ?? -1);
    for (const pid of workers.values()) killQuietly(pid);
  });

  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    stdout += chunk;
    partial += chunk;
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const text = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        continue; // not a log line
      }
      logs.push(line);
      if (typeof line.worker === 'number' && typeof line.pid === 'number') workers.set(line.worker, line.pid);
      const hit = waiters.filter((w) => w.accept(line));
      waiters = waiters.filter((w) => !hit.includes(w));
      for (const w of hit) w.resolve(line);
    }
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => (stderr += chunk));

  let exitedNow: Exit | undefined;
  const exited = new Promise<Exit>((resolve) => {
    child.once('error', () => resolve({ code: null, signal: null }));
    child.once('exit', (code, signal) => resolve({ code, signal }));
  }).then((exit) => {
    exitedNow = exit;
    return exit;
  });
  // The workers write to the same stdout pipe: it closes when the last of them is gone.
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));

  const tail = (): string => `\n--- stdout (tail) ---\n${stdout.slice(-4000)}\n--- stderr ---\n${stderr.slice(-2000)}`;

  const waitForLog = (accept: (l: LogLine) => boolean, timeoutMs: number, what: string): Promise<LogLine> => {
    const seen = logs.find(accept);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise<LogLine>((resolve, reject) => {
      const w = {
        accept,
        resolve: (l: LogLine) => {
          clearTimeout(timer);
          resolve(l);
        },
      };
      const timer = setTimeout(() => {
        waiters = waiters.filter((x) => x !== w);
        reject(new Error(`sipfront: no log line "${what}" within ${timeoutMs} ms${tail()}`));
      }, timeoutMs);
      waiters.push(w);
      void exited.then((exit) => {
        if (!waiters.includes(w)) return;
        // the last lines may still be in the pipe: let them arrive before giving up
        setTimeout(() => {
          if (!waiters.includes(w)) return;
          waiters = waiters.filter((x) => x !== w);
          clearTimeout(timer);
          reject(new Error(`sipfront exited (code ${exit.code}, signal ${exit.signal}) before "${what}"${tail()}`));
        }, 100);
      });
    });
  };

  const stop = async (signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<Exit & { ms: number }> => {
    const started = Date.now();
    if (exitedNow === undefined) child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const outcome = await Promise.race([exited, timeout]);
    clearTimeout(timer);
    if (outcome === 'timeout') throw new Error(`sipfront did not exit within ${timeoutMs} ms of ${signal}${tail()}`);
    const ms = Date.now() - started;
    // Let the last lines out of the pipe; bounded, since a worker left behind keeps it open
    // (and must still be found alive by whoever checks).
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, STDOUT_DRAIN_MS))]);
    return { ...outcome, ms };
  };

  const dispose = async (): Promise<void> => {
    if (exitedNow === undefined) {
      killQuietly(child.pid ?? -1);
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    }
    for (const pid of workers.values()) if (isAlive(pid)) killQuietly(pid);
    forget();
    await rm(dir, { recursive: true, force: true });
  };

  const running: RunningCli = {
    pid: child.pid ?? -1,
    configPath,
    logs,
    stdout: () => stdout,
    stderr: () => stderr,
    waitForLog,
    workerPids: () => new Map(workers),
    exited,
    stop,
    dispose,
  };
  const readyMsg = opts.readyMsg ?? 'all workers started';
  try {
    await waitForLog((l) => l.msg === readyMsg && l.worker === undefined, opts.readyTimeoutMs ?? 20_000, readyMsg);
  } catch (error) {
    await dispose();
    throw error;
  }
  return running;
}

export interface CheckConfigRun extends Exit {
  stdout: string;
  stderr: string;
}

/** `sipfront check-config FILE` on `yaml` written to `dir/name`; bounded at 15 s. */
export async function checkConfig(yaml: string, dir: string, name: string): Promise<CheckConfigRun & { file: string }> {
  assertBuilt();
  const file = join(dir, name);
  await writeFile(file, yaml);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'check-config', file], { cwd: REPO, env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`check-config ${file} did not exit within 15 s\n${stdout}\n${stderr}`));
    }, 15_000);
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, file });
    });
  });
}

/** GET /metrics, bounded; throws on a status other than 200. */
export async function fetchMetrics(apiUrl: string, timeoutMs = 10_000): Promise<string> {
  const res = await fetch(`${apiUrl}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET /metrics: ${res.status} ${text.slice(0, 500)}`);
  return text;
}

/**
 * The sum of the samples of `name` whose labels include every one of `labels` (Prometheus text
 * format); undefined when there is none.
 */
export function metricValue(text: string, name: string, labels: Readonly<Record<string, string>> = {}): number | undefined {
  let total: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (m === null || m[1] !== name) continue;
    const have = new Map<string, string>();
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) have.set(l[1]!, l[2]!);
    if (!Object.entries(labels).every(([k, v]) => have.get(k) === v)) continue;
    total = (total ?? 0) + Number(m[3]);
  }
  return total;
}
