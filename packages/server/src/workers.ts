// `workers: N`: N worker processes (node:cluster) share each UDP listen socket: the kernel hands a
// datagram to whichever worker is reading, and that worker passes it on to the one that owns it
// (core's transport/affinity.ts: a response to the worker in its branch, a request to its
// Call-ID's) over a loopback relay socket. The primary holds no SIP state: it starts the workers,
// tells each the others' relay ports, forwards signals (SIGTERM/SIGINT stop, SIGHUP reloads),
// aggregates their metrics for worker 0's /metrics (prom-client's AggregatorRegistry), and stops
// them all when one dies unexpectedly (the supervisor restarts the whole service).
// Worker 0 serves the API and the console and runs the registrar's keep-alives; every worker
// probes the dispatcher's destinations itself (its probes' answers come back to it).
import cluster, { type Worker } from 'node:cluster';
import dgram from 'node:dgram';
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { AggregatorRegistry, Counter, type Registry } from 'prom-client';
import type { Endpoint, TransportLayer, UdpAffinity } from '@sipfront/core';
import { datagramOwner } from '@sipfront/core';

export interface WorkerRole {
  /** 0 … count-1 */
  readonly index: number;
  readonly count: number;
  /** the relay the UDP listeners hand datagrams to */
  readonly relay: WorkerRelay;
  /** the same in every worker: registrations made through any worker belong to "this instance" */
  readonly instanceId: string;
  /** the primary's aggregate of every worker's metrics (the text of a scrape) */
  clusterMetrics(): Promise<string>;
  /** questions to the other workers */
  readonly rpc: WorkerRpc;
}

/** How many workers `workers:` means here. */
export const workerCount = (workers: number | 'auto'): number => (workers === 'auto' ? Math.max(1, os.availableParallelism()) : workers);

const ENV_INDEX = 'SIPFRONT_WORKER';
const ENV_COUNT = 'SIPFRONT_WORKERS';
const ENV_INSTANCE = 'SIPFRONT_INSTANCE';
/** a shared secret for nonces and dialog tokens when the config sets no registrar.auth.nonce_secret */
export const ENV_SECRET = 'SIPFRONT_WORKER_SECRET';

type ToPrimary =
  | { sf: 'relay'; port: number }
  | { sf: 'metrics'; id: number }
  | { sf: 'started' }
  /** ask the other workers (op, args); answered with 'answers' */
  | { sf: 'ask'; id: number; op: string; args: unknown }
  /** a worker's answer to the primary's 'ask' number g */
  | { sf: 'answer'; g: number; value: unknown };
type ToWorker =
  | { sf: 'peers'; ports: number[] }
  /** a worker has stopped: what it owned is handled where it arrives */
  | { sf: 'gone'; index: number }
  | { sf: 'metrics'; id: number; text?: string; error?: string }
  | { sf: 'stop' }
  | { sf: 'reload' }
  | { sf: 'ask'; g: number; op: string; args: unknown }
  | { sf: 'answers'; id: number; values: unknown[] };

/** How long an ask waits for the other workers' answers. */
const ASK_TIMEOUT_MS = 3000;

const isSf = (m: unknown): m is { sf: string } => typeof m === 'object' && m !== null && typeof (m as { sf?: unknown }).sf === 'string';

// ---- the primary -------------------------------------------------------------------------

/**
 * Starts `count` workers (this same command, in worker mode) and runs until they have all
 * stopped; resolves the exit code.
 */
export function runPrimary(count: number, log: Logger, opts: { secret?: string } = {}): Promise<number> {
  const instanceId = randomBytes(6).toString('hex');
  const secret = opts.secret ?? randomBytes(32).toString('hex');
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

    // The relay table goes out once every worker has started: until then each handles what it
    // reads (a worker still starting has no proxy to hand a relayed datagram to).
    const sendPeers = (): void => {
      if (peersSent || startedWorkers.size < count || !relayPorts.every((p) => p !== undefined)) return;
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

// ---- a worker ----------------------------------------------------------------------------

/** This process's place when the primary started it as a worker; undefined otherwise. */
export const workerFromEnv = (env: NodeJS.ProcessEnv = process.env): { index: number; count: number; instanceId: string; secret: string | undefined } | undefined => {
  if (!cluster.isWorker) return undefined;
  const index = Number(env[ENV_INDEX]);
  const count = Number(env[ENV_COUNT]);
  const instanceId = env[ENV_INSTANCE];
  if (!Number.isInteger(index) || !Number.isInteger(count) || count < 1 || index < 0 || index >= count || instanceId === undefined) return undefined;
  return { index, count, instanceId, secret: env[ENV_SECRET] };
};

/** Messages from the primary to this worker (stop, reload), for the command's loop. */
export const onPrimaryCommand = (handler: (cmd: 'stop' | 'reload') => void): void => {
  process.on('message', (m: unknown) => {
    if (isSf(m) && (m.sf === 'stop' || m.sf === 'reload')) handler(m.sf);
  });
  // the primary is gone (killed): nothing will stop us any more, so stop now
  process.on('disconnect', () => handler('stop'));
};

export interface WorkerRelay extends UdpAffinity {
  /** the transport relayed datagrams are delivered into */
  attach(transport: Pick<TransportLayer, 'receive'>): void;
  /** datagrams sent on to other workers, and received from them */
  readonly stats: { relayedOut: number; relayedIn: number };
  close(): Promise<void>;
}

/** The relay header: listener id, source address, source port, each ended by a LF. */
const header = (listenerId: string, source: { address: string; port: number }): Buffer => Buffer.from(`${listenerId}\n${source.address}\n${source.port}\n`, 'latin1');

const MAX_DATAGRAM = 65_507;

/** Opens this worker's relay socket (127.0.0.1, a port of its own) and tells the primary its port. */
export const openWorkerRelay = async (index: number, count: number, log: Logger): Promise<WorkerRelay> => {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    // exclusive: a socket of this worker's own, not one shared through the primary
    socket.bind({ address: '127.0.0.1', port: 0, exclusive: true }, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  try {
    socket.setRecvBufferSize(4 * 1024 * 1024);
    socket.setSendBufferSize(4 * 1024 * 1024);
  } catch {
    // the kernel's caps: defaults still work
  }
  socket.on('error', (err) => log.warn({ err: err.message }, 'worker relay socket error'));
  let peers: number[] | undefined;
  const known = new Set<number>();
  /** workers that have stopped: what they owned stays where it arrives */
  const gone = new Set<number>();
  let transport: Pick<TransportLayer, 'receive'> | undefined;
  const stats = { relayedOut: 0, relayedIn: 0 };
  process.on('message', (m: unknown) => {
    if (isSf(m) && m.sf === 'peers') {
      const ports = (m as unknown as { ports: number[] }).ports;
      if (Array.isArray(ports) && ports.length === count) {
        peers = ports;
        known.clear();
        for (const p of ports) known.add(p);
      }
    } else if (isSf(m) && m.sf === 'gone') {
      const i = (m as unknown as { index: number }).index;
      if (Number.isInteger(i)) gone.add(i);
    }
  });
  socket.on('message', (data, rinfo) => {
    // only the other workers' relay sockets may speak here
    if (rinfo.address !== '127.0.0.1' || !known.has(rinfo.port) || transport === undefined) return;
    const a = data.indexOf(0x0a);
    const b = a < 0 ? -1 : data.indexOf(0x0a, a + 1);
    const c = b < 0 ? -1 : data.indexOf(0x0a, b + 1);
    if (c < 0) return;
    const listenerId = data.toString('latin1', 0, a);
    const address = data.toString('latin1', a + 1, b);
    const port = Number(data.toString('latin1', b + 1, c));
    if (!Number.isInteger(port)) return;
    stats.relayedIn++;
    const source: Endpoint = { transport: 'udp', address, port };
    transport.receive(listenerId, source, data.subarray(c + 1));
  });
  process.send?.({ sf: 'relay', port: socket.address().port } satisfies ToPrimary);
  return {
    stats,
    attach(t) {
      transport = t;
    },
    route(data, source, listenerId) {
      if (peers === undefined) return false;
      const owner = datagramOwner(data, count);
      if (owner < 0 || owner === index || gone.has(owner)) return false;
      const h = header(listenerId, source);
      if (h.length + data.length > MAX_DATAGRAM) return false;
      stats.relayedOut++;
      socket.send([h, data], peers[owner]!, '127.0.0.1');
      return true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        try {
          socket.close(() => resolve());
        } catch {
          resolve();
        }
      }),
  };
};

/** The metrics of every worker, aggregated by the primary (asked over IPC). */
export const askClusterMetrics = (() => {
  let next = 0;
  const waiting = new Map<number, { resolve: (t: string) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  let listening = false;
  return (timeoutMs = 5000): Promise<string> => {
    if (!listening) {
      listening = true;
      process.on('message', (m: unknown) => {
        if (!isSf(m) || m.sf !== 'metrics') return;
        const r = m as Extract<ToWorker, { sf: 'metrics' }>;
        const w = waiting.get(r.id);
        if (w === undefined) return;
        waiting.delete(r.id);
        clearTimeout(w.timer);
        if (r.text !== undefined) w.resolve(r.text);
        else w.reject(new Error(r.error ?? 'no metrics'));
      });
    }
    const id = next++;
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error('the primary did not answer with the metrics'));
      }, timeoutMs);
      timer.unref();
      waiting.set(id, { resolve, reject, timer });
      process.send?.({ sf: 'metrics', id } satisfies ToPrimary);
    });
  };
})();

/**
 * `sipfront_worker_relayed_total{worker, direction}`: datagrams this worker passed on to their
 * owner (`out`) and took from the others (`in`); kept apart per worker in the aggregate.
 */
export const countRelays = (registry: Registry, index: number, relay: WorkerRelay): void => {
  let out = 0;
  let inn = 0;
  const c: Counter<'worker' | 'direction'> = new Counter({
    name: 'sipfront_worker_relayed_total',
    help: 'Datagrams a worker passed on to the worker that owns them (out) or took from another (in)',
    labelNames: ['worker', 'direction'],
    registers: [registry],
    collect() {
      const w = String(index);
      c.labels(w, 'out').inc(relay.stats.relayedOut - out);
      c.labels(w, 'in').inc(relay.stats.relayedIn - inn);
      out = relay.stats.relayedOut;
      inn = relay.stats.relayedIn;
    },
  });
};

/**
 * Questions between workers, through the primary: `ask` sends (op, args) to every other worker
 * and resolves their answers (those that came within 3 s); `handle` answers one op here.
 * Values cross as JSON (a Buffer must travel as base64).
 */
export interface WorkerRpc {
  ask(op: string, args?: unknown): Promise<unknown[]>;
  handle(op: string, answer: (args: unknown) => unknown): void;
}

export const createWorkerRpc = (): WorkerRpc => {
  const handlers = new Map<string, (args: unknown) => unknown>();
  const waiting = new Map<number, (values: unknown[]) => void>();
  let next = 0;
  process.on('message', (m: unknown) => {
    if (!isSf(m)) return;
    const msg = m as ToWorker;
    if (msg.sf === 'answers') {
      const w = waiting.get(msg.id);
      waiting.delete(msg.id);
      w?.(Array.isArray(msg.values) ? msg.values : []);
    } else if (msg.sf === 'ask') {
      const h = handlers.get(msg.op);
      const reply = (value: unknown): void => void process.send?.({ sf: 'answer', g: msg.g, value: value ?? null } satisfies ToPrimary);
      if (h === undefined) return reply(null);
      Promise.resolve()
        .then(() => h(msg.args))
        .then(reply, () => reply(null));
    }
  });
  return {
    ask(op, args = null) {
      const id = next++;
      return new Promise<unknown[]>((resolve) => {
        // the primary answers within ASK_TIMEOUT_MS; this bound covers a primary that is gone
        const timer = setTimeout(() => {
          waiting.delete(id);
          resolve([]);
        }, ASK_TIMEOUT_MS + 1000);
        timer.unref();
        waiting.set(id, (values) => {
          clearTimeout(timer);
          resolve(values);
        });
        process.send?.({ sf: 'ask', id, op, args } satisfies ToPrimary);
      });
    },
    handle(op, answer) {
      handlers.set(op, answer);
    },
  };
};

/** Lets the primary's AggregatorRegistry read this worker's registry. */
export const shareWorkerRegistry = (registry: Registry): void => {
  AggregatorRegistry.setRegistries([registry]);
  // constructing one adds the worker's answering listener (prom-client's cluster module)
  void new AggregatorRegistry();
};

export const tellPrimaryStarted = (): void => {
  process.send?.({ sf: 'started' } satisfies ToPrimary);
};
