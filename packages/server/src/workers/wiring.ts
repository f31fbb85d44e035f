// What `workers: N` changes in one worker's server, kept here so that server.ts wires a worker as
// it wires a lone process plus one call: worker 0 (the lead) answers for everyone — API, trunk
// registration, auth-failure counting — and tells the others; the others follow.
import type { ApiServices, CallService, SipfrontMetrics } from '@sipfront/api';
import { isIP } from 'node:net';
import type { Endpoint, ListenerInfo, ListenSpec, TransportLayer } from '@sipfront/core';
import { normaliseAddress } from '@sipfront/core';
import type { Security } from '@sipfront/security';
import type { TrunkManager, TrunkMirror } from '@sipfront/trunks';
import type { Config } from '../config/index.js';
import { answerCalls, clusterCalls } from '../call-wiring.js';
import type { WorkerRole } from './worker.js';

/** Each worker's flood counter sees about 1/N of a source's requests (they spread by Call-ID): its share of flood.max. */
export const workerSecurityConfig = (security: Config['security'], worker: WorkerRole | undefined): Config['security'] =>
  worker === undefined ? security : { ...security, flood: { ...security.flood, max: Math.max(1, Math.ceil(security.flood.max / worker.count)) } };

/**
 * Security across the workers: a banned source's datagrams for another worker are dropped where
 * they arrive (not relayed), and auth failures are counted by worker 0 alone, so
 * `auth_failures.max` means what it says. Returns what the registrar calls on an auth failure.
 */
export const wireWorkerSecurity = (
  worker: WorkerRole,
  security: Pick<Security, 'checkSource' | 'authFailure'>,
  metrics: Pick<SipfrontMetrics, 'refused'>,
  enabled: boolean,
): ((source: Endpoint, aor: string | undefined) => void) => {
  if (enabled) {
    worker.relay.setScreen((s) => {
      if (security.checkSource({ transport: 'udp', address: s.address, port: s.port }).action !== 'drop') return false;
      metrics.refused('banned');
      return true;
    });
  }
  if (worker.index === 0) {
    worker.rpc.handle('security.authFailure', (args) => {
      const a = args as { source?: Endpoint; aor?: string } | null;
      if (a?.source !== undefined && typeof a.source.address === 'string') security.authFailure(a.source, typeof a.aor === 'string' ? a.aor : undefined);
      return true;
    });
    return (source, aor) => void security.authFailure(source, aor);
  }
  return (source, aor) => void worker.rpc.ask('security.authFailure', { source, aor });
};

/**
 * Trunks across the workers: worker 0 registers and pushes its trunks and their state to the
 * others (changes within 200 ms go as one snapshot: a start registers every trunk at once); the
 * others' managers are followers, fed by the pushes and by asking every 30 s in case one was lost.
 * `push` is what worker 0 calls on every change.
 */
export const syncWorkerTrunks = (worker: WorkerRole, manager: TrunkManager): { push(): void; close(): void } => {
  if (worker.index === 0) {
    let queued = false;
    worker.rpc.handle('trunks.snapshot', () => manager.snapshot());
    return {
      push() {
        if (queued) return;
        queued = true;
        setTimeout(() => {
          queued = false;
          void worker.rpc.ask('trunks.follow', manager.snapshot());
        }, 200).unref();
      },
      close: () => undefined,
    };
  }
  const follow = (m: unknown): void => {
    if (Array.isArray(m)) manager.follow(m as TrunkMirror[]);
  };
  worker.rpc.handle('trunks.follow', (m) => void follow(m));
  const ask = (): void => {
    void worker.rpc.ask('trunks.snapshot').then((answers) => {
      const a = answers.find((x) => Array.isArray(x));
      if (a !== undefined) follow(a);
    });
  };
  ask();
  const timer = setInterval(ask, 30_000);
  timer.unref();
  return { push: () => undefined, close: () => clearInterval(timer) };
};

/**
 * The API's services with workers (worker 0 serves them): trunk changes are pushed at once, a
 * drain reaches every worker before it is answered, calls and the trace setting span them all.
 * The other workers answer worker 0's questions instead.
 */
export const wireWorkerServices = (
  worker: WorkerRole,
  services: ApiServices,
  d: { calls: CallService; maxCalls: number; pushTrunks(): void; setDraining(on: boolean): void },
): void => {
  if (worker.index !== 0) {
    worker.rpc.handle('instance.drain', (on) => void d.setDraining(on === true));
    answerCalls(d.calls, worker.rpc);
    return;
  }
  const t = services.trunks;
  if (t !== undefined) {
    const pushed = <A extends unknown[], R>(f: (...a: A) => Promise<R>) => async (...a: A): Promise<R> => {
      const v = await f(...a);
      d.pushTrunks();
      return v;
    };
    services.trunks = { ...t, create: pushed(t.create), replace: pushed(t.replace), remove: pushed(t.remove) };
  }
  const instance = services.instance;
  const drainHere = instance.drain.bind(instance);
  services.instance = {
    ...instance,
    drain: async (on) => {
      await drainHere(on);
      await worker.rpc.ask('instance.drain', on);
    },
  };
  services.calls = clusterCalls(d.calls, worker.rpc, d.maxCalls);
};

/**
 * Each worker's own UDP socket per UDP listen socket (same address, a kernel-chosen port), by the
 * listen socket's id: requests to the dispatcher's backends leave from it, its port in our Via, so
 * the answers come straight back to this worker (Record-Route keeps the shared one). A socket
 * takes its listen entry's allow/deny; one whose entry is not found gets no own socket (it would
 * have none). Not for stateless mode (a response reaching the shared socket would not be placed)
 * nor behind `advertise` (the NAT in front forwards the listen port only): the caller decides.
 */
export const openOwnSockets = async (transport: Pick<TransportLayer, 'listen'>, bound: readonly ListenerInfo[], specs: readonly ListenSpec[]): Promise<Map<string, ListenerInfo>> => {
  const own = new Map<string, ListenerInfo>();
  for (const l of bound) {
    if (l.transport !== 'udp') continue;
    const spec = specFor(specs, l);
    if (spec === undefined) continue;
    const [socket] = await transport.listen([{ transport: 'udp', host: l.host, port: 0, exclusive: true, ...(spec.allow !== undefined ? { allow: spec.allow } : {}), ...(spec.deny !== undefined ? { deny: spec.deny } : {}) }]);
    if (socket !== undefined) own.set(l.id, socket);
  }
  return own;
};

/** The listen entry a bound socket came from: its own address, else the wildcard of its family, else a host name. */
const specFor = (specs: readonly ListenSpec[], l: ListenerInfo): ListenSpec | undefined => {
  const same = (s: ListenSpec): boolean => s.transport === l.transport && (s.port === l.port || s.port === 0);
  const host = (s: ListenSpec): string => normaliseAddress(s.host.trim().replace(/^\[|\]$/g, ''));
  const mine = normaliseAddress(l.host);
  return (
    specs.find((s) => same(s) && host(s) === mine) ??
    specs.find((s) => same(s) && host(s) === (l.family === 6 ? '::' : '0.0.0.0')) ??
    specs.find((s) => same(s) && isIP(host(s)) === 0)
  );
};
