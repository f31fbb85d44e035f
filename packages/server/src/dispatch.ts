// Connects the dispatcher to SIP: OPTIONS probes through the proxy's transaction layer, the
// router's SetSelector (selection, failover feedback, "is this source a destination"), and
// least-calls bookkeeping from INVITE 2xx to BYE.
import { randomBytes } from 'node:crypto';
import type { Endpoint, Proxy, SipMessage } from '@sipfront/core';
import { SipMessage as Msg, createResolver, isSipUri, parseUri, uriTransport } from '@sipfront/core';
import { isIP } from 'node:net';
import type { Dispatcher, ProbeEvent, SetConfig, StateChange } from '@sipfront/dispatcher';
import { createDispatcher } from '@sipfront/dispatcher';
import type { Logger } from 'pino';
import type { Config } from './config/index.js';
import type { SetSelector } from './router.js';

export interface DispatchWiring {
  dispatcher: Dispatcher;
  selector: SetSelector;
  /** observe every request (BYE ends a counted call) */
  onRequest(req: SipMessage): void;
  /** rebuild the "is a destination" index after sets change */
  refresh(): void;
  close(): void;
}

export const setsFromConfig = (config: Config): SetConfig[] =>
  config.dispatcher.sets.map((s) => ({
    id: s.id,
    name: s.name,
    algorithm: s.algorithm,
    destinations: s.destinations.map((d) => ({ uri: d.uri, weight: d.weight, priority: d.priority })),
  }));

const DIALOG_TTL_MS = 12 * 3600_000;

/** Listeners for metrics and the API's event stream; called after the dispatcher's own logging. */
export interface DispatchHooks {
  onStateChange?(change: StateChange): void;
  onProbe?(event: ProbeEvent): void;
}

export const wireDispatcher = (config: Config, proxy: () => Pick<Proxy, 'originate'>, log: Logger, hooks: DispatchHooks = {}, sets: readonly SetConfig[] = setsFromConfig(config)): DispatchWiring => {
  const fromUri = `sip:sipfront@${config.advertise?.host ?? 'sipfront.invalid'}`;
  const buildOptions = (uri: string): SipMessage => {
    const m = Msg.request('OPTIONS', uri);
    const id = randomBytes(8).toString('hex');
    m.append('From', `<${fromUri}>;tag=${id.slice(0, 8)}`);
    m.append('To', `<${uri}>`);
    m.append('Call-ID', `probe-${id}`);
    m.append('CSeq', '1 OPTIONS');
    m.append('User-Agent', 'sipfront');
    m.append('Content-Length', '0');
    return m;
  };
  const dlog = log.child({ component: 'dispatcher' });
  const dispatcher = createDispatcher(
    {
      prober: async (uri, timeoutMs) => {
        const r = await proxy().originate(buildOptions(uri), uri, timeoutMs);
        return { code: r.code, rttMs: r.rttMs };
      },
      log: dlog,
      onStateChange: (c) => {
        dlog.info({ set: c.setId, destination: c.uri, from: c.from, to: c.to, cause: c.cause }, 'destination state');
        hooks.onStateChange?.(c);
      },
      ...(hooks.onProbe !== undefined ? { onProbe: hooks.onProbe } : {}),
    },
    {
      probe: config.dispatcher.probe,
      sets,
      // stateless: a retransmission, a CANCEL and a non-2xx ACK must find the INVITE's destination
      sticky: config.mode === 'stateless',
    },
  );

  // "is this source a destination": literal addresses at once, host names once resolved
  // (compose service names, DNS), refreshed every minute
  const resolver = createResolver({ servers: config.sip.dnsServers });
  let index = new Set<string>();
  const keyOf = (t: string, address: string, port: number): string => (t === 'udp' ? `udp|${address}|${port}` : `${t}|${address}`);
  let generation = 0;
  const refresh = (): void => {
    const next = new Set<string>();
    const names: string[] = [];
    for (const s of dispatcher.getSets()) {
      for (const d of s.destinations) {
        const u = parseUri(d.uri);
        if (!isSipUri(u)) continue;
        if (isIP(u.host) !== 0) next.add(keyOf(uriTransport(u), u.host, u.port ?? (uriTransport(u) === 'tls' ? 5061 : 5060)));
        else names.push(d.uri);
      }
    }
    index = next;
    if (names.length === 0) return;
    const gen = ++generation;
    void Promise.allSettled(names.map(async (uri) => resolver.resolve(uri))).then((results) => {
      if (gen !== generation) return;
      const withNames = new Set(next);
      for (const r of results) if (r.status === 'fulfilled') for (const e of r.value) withNames.add(keyOf(e.transport, e.address, e.port));
      index = withNames;
    });
  };
  refresh();
  const reresolve = setInterval(refresh, 60_000);
  reresolve.unref();

  // least-calls: a call counts from its INVITE 2xx to its BYE (or a day's silence)
  const calls = new Map<string, { setId: number; uri: string; at: number }>();
  const sweep = setInterval(() => {
    const limit = Date.now() - DIALOG_TTL_MS;
    for (const [k, v] of calls) {
      if (v.at < limit) {
        calls.delete(k);
        dispatcher.callEnded(v.setId, v.uri);
      }
    }
  }, 60_000);
  sweep.unref();

  const failover = new Set(config.dispatcher.failover.codes);
  const maxTries = config.dispatcher.failover.maxTries;

  const selector: SetSelector = {
    hasSet: (id) => dispatcher.hasSet(id),
    select(setId, req) {
      const key = {
        callId: req.callId ?? '',
        fromUri: req.from?.uri ?? '',
        toUri: req.to?.uri ?? '',
        ruri: req.uri,
      };
      return dispatcher.select(setId, key).slice(0, Math.max(1, maxTries));
    },
    attempt(setId, uri) {
      dispatcher.markSelected(setId, uri);
    },
    result(setId, uri, status, req) {
      if (status >= 200 && status < 300 && req?.method === 'INVITE' && req.callId !== undefined) {
        if (!calls.has(req.callId)) {
          calls.set(req.callId, { setId, uri, at: Date.now() });
          dispatcher.callStarted(setId, uri);
        }
      } else if (failover.has(status)) dispatcher.reportFailure(setId, uri);
    },
    isDestination(source: Endpoint) {
      return source.transport === 'udp'
        ? index.has(`udp|${source.address}|${source.port}`)
        : index.has(`${source.transport}|${source.address}`);
    },
  };

  return {
    dispatcher,
    selector,
    refresh,
    onRequest(req) {
      if (req.method !== 'BYE' || req.callId === undefined) return;
      const c = calls.get(req.callId);
      if (c === undefined) return;
      calls.delete(req.callId);
      dispatcher.callEnded(c.setId, c.uri);
    },
    close() {
      clearInterval(sweep);
      clearInterval(reresolve);
      dispatcher.close();
    },
  };
};
