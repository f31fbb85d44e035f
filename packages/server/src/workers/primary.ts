// `workers: N`: N worker processes (node:cluster) share each UDP listen socket: the kernel hands a
// datagram to whichever worker is reading, and that worker passes it on to the one that owns it
// (core's transport/affinity.ts: a response to the worker in its branch, a request to its
// Call-ID's) over a loopback relay socket. The primary holds no SIP state: it starts the workers,
// tells each the others' relay ports, forwards signals (SIGTERM/SIGINT stop, SIGHUP reloads),
// aggregates their metrics for worker 0's /metrics (prom-client's AggregatorRegistry), and stops
// them all when one dies unexpectedly (the supervisor restarts the whole service).
// Worker 0 serves the API and the console, registers the trunks and runs the registrar's
// keep-alives; every worker probes the dispatcher's destinations itself (its probes' answers come
// back to it).
import cluster, { type Worker } from 'node:cluster';
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { AggregatorRegistry } from 'prom-client';
import { ASK_TIMEOUT_MS, ENV_COUNT, ENV_INDEX, ENV_INSTANCE, ENV_SECRET, isSf, type ToPrimary, type ToWorker } from './messages.js';

/** How many workers `workers:` means here. */
export const workerCount = (workers: number | 'auto'): number => (workers === 'auto' ? Math.max(1, os.availableParallelism()) : workers);

/**
 * Starts `count` workers (this same command, in worker mode) and runs until they have all
 * stopped; resolves the exit code.
 */
export function runPrimary(count: number, log: Logger): Promise<number> {
  const instanceId = randomBytes(6).toString('hex');
  // the nonce / dialog-token secret of every worker when the config sets none
  const secret = randomBytes(32).toString('hex');
  const aggregator = new AggregatorRegistry();
  const workers: Worker[] = [];
  const relayPorts: Array<number | undefined> = new Array(count).fill(undefined);
  const startedWorkers = new Set<number>();
  let peersSent = false;
  let stopping = false;
  let failed = false;
  let exited = 0;
  // asks in flight: the asking worker's id, the answers so far, how many are missing
  let nextAsk = 0;
  const asks = new Map<number, { from: Worker; id: number; values: unknown[]; missing: number; timer: NodeJS.Timeout }>();
  const answerAsk = (g: number): void => {
    const a = asks.get(g);
    if (a === undefined) return;
    asks.delete(g);
    clearTimeout(a.timer);
    if (a.from.isConnected()) a.from.send({ sf: 'answers', id: a.id, values: a.values } satisfies ToWorker);
  };

  return new Promise<number>((resolveExit) => {
    const send = (w: Worker, m: ToWorker): void => {
      if (w.isConnected()) w.send(m);
    };
    const stopAll = (): void => {
      for (const w of workers) send(w, { sf: 'stop' });
    };
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        log.warn({ signal }, 'second signal while stopping: the workers are killed');
        for (const w of workers) w.process.kill('SIGKILL');
        failed = true;
        return;
      }
      stopping = true;
      log.info({ signal }, 'stopping the workers');
      stopAll();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    process.on('SIGHUP', () => {
      if (!stopping) for (const w of workers) send(w, { sf: 'reload' });
    });

    // The relay table goes out as soon as every worker has its relay socket, before their servers
    // are up: what a worker still starting is handed is dropped (as a lone process drops what
    // comes before it is up; the sender retransmits), but no datagram is ever handled by a worker
    // that does not own it, so no transaction is split.
    const sendPeers = (): void => {
      if (peersSent || !relayPorts.every((p) => p !== undefined)) return;
      peersSent = true;
      for (const x of workers) send(x, { sf: 'peers', ports: relayPorts as number[] });
    };
    for (let i = 0; i < count; i++) {
      const w = cluster.fork({ [ENV_INDEX]: String(i), [ENV_COUNT]: String(count), [ENV_INSTANCE]: instanceId, [ENV_SECRET]: secret });
      workers.push(w);
      w.on('message', (m: unknown) => {
        if (!isSf(m)) return;
        const msg = m as ToPrimary;
        if (msg.sf === 'relay') {
          relayPorts[i] = msg.port;
          sendPeers();
        } else if (msg.sf === 'metrics') {
          aggregator.clusterMetrics().then(
            (text) => send(w, { sf: 'metrics', id: msg.id, text }),
            (err: unknown) => send(w, { sf: 'metrics', id: msg.id, error: err instanceof Error ? err.message : String(err) }),
          );
        } else if (msg.sf === 'ask') {
          const others = workers.filter((x) => x !== w && x.isConnected());
          const g = nextAsk++;
          asks.set(g, { from: w, id: msg.id, values: [], missing: others.length, timer: setTimeout(() => answerAsk(g), ASK_TIMEOUT_MS) });
          for (const x of others) send(x, { sf: 'ask', g, op: msg.op, args: msg.args });
          if (others.length === 0) answerAsk(g);
        } else if (msg.sf === 'tell') {
          // g -1: its answer matches no ask and is dropped
          const to = workers[msg.to];
          if (to !== undefined && to !== w) send(to, { sf: 'ask', g: -1, op: msg.op, args: msg.args });
        } else if (msg.sf === 'answer') {
          const a = asks.get(msg.g);
          if (a !== undefined) {
            a.values.push(msg.value);
            if (--a.missing === 0) answerAsk(msg.g);
          }
        } else if (msg.sf === 'started') {
          startedWorkers.add(i);
          if (startedWorkers.size === count) log.info({ workers: count }, 'all workers started');
          sendPeers();
        }
      });
      w.on('exit', (code, signal) => {
        exited += 1;
        // the others stop sending it what it owned
        for (const x of workers) if (x !== w) send(x, { sf: 'gone', index: i });
        if (!stopping) {
          // one worker gone means a share of the calls gone: stop the rest, let the supervisor restart
          log.error({ worker: i, code, signal }, 'a worker stopped unexpectedly: stopping the others');
          stopping = true;
          failed = true;
          stopAll();
        } else if (code !== 0) failed = true;
        if (exited === count) {
          log.info({ workers: count }, 'all workers stopped');
          resolveExit(failed ? 1 : 0);
        }
      });
    }
  });
}
