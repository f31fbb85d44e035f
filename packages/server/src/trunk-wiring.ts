// Trunks in the running server: the registration manager sending through the proxy, the
// router's view (calls in from providers, calls out with the provider's credentials) and the
// REST service. Trunk changes made through the API live as long as the process; the YAML's
// trunks are put again at start and on reload.
import type { Endpoint, Proxy, RouteDecision, SipMessage, ListenerInfo, DestinationResolver } from '@sipfront/core';
import type { TrunkInput, TrunkService, TrunkView as ApiTrunkView } from '@sipfront/api';
import type { TrunkManager, TrunkSpec } from '@sipfront/trunks';
import { contactHostPort, createTrunkManager, normalizeTrunk, outboundDecision } from '@sipfront/trunks';
import type { Logger } from 'pino';
import type { Config } from './config/index.js';
import type { TrunkPort } from './router.js';

export interface TrunkWiring {
  manager: TrunkManager;
  port: TrunkPort;
  service: TrunkService;
  /** the source is a registered trunk's provider (flood exemption) */
  isTrunkSource(source: Endpoint): boolean;
  start(): void;
  reload(config: Config): void;
  close(): Promise<void>;
}

export interface TrunkWiringDeps {
  config: Config;
  proxy: () => Promise<Proxy>;
  listeners: () => readonly ListenerInfo[];
  resolver: DestinationResolver;
  log: Logger;
  onState(trunk: ApiTrunkView, registered: boolean): void;
  onResponse(trunk: string, code: number | null): void;
  /** `workers: N`, workers but 0: the trunks and their state come from worker 0 (`manager.follow`) */
  follower?: boolean;
}

const toSpec = (input: TrunkInput): TrunkSpec => {
  const r = input.retry;
  return normalizeTrunk({
    ...input,
    ...(r !== undefined
      ? {
          retry: {
            ...(r.interval !== undefined ? { interval: r.interval * 1000 } : {}),
            ...(r.forbiddenInterval !== undefined ? { forbiddenInterval: r.forbiddenInterval * 1000 } : {}),
            ...(r.maxAttempts !== undefined ? { maxAttempts: r.maxAttempts } : {}),
            ...(r.initialDelayMax !== undefined ? { initialDelayMax: r.initialDelayMax * 1000 } : {}),
          },
        }
      : {}),
  } as Parameters<typeof normalizeTrunk>[0]);
};

export const wireTrunks = (d: TrunkWiringDeps): TrunkWiring => {
  const manager = createTrunkManager(
    {
      send: async (req, destination, timeoutMs) => (await d.proxy()).originate(req, destination, timeoutMs),
      localContact: (t) => contactHostPort(t, d.listeners(), d.config.advertise?.host ?? null),
      resolver: d.resolver,
      log: d.log,
      requestTimeoutMs: 64 * d.config.sip.t1,
      onState: (e) => d.onState(e.trunk as unknown as ApiTrunkView, e.registered),
      onResponse: (e) => d.onResponse(e.trunk, e.code),
      ...(d.follower === true ? { follower: true } : {}),
    },
    d.config.trunks as unknown as TrunkSpec[],
  );

  const port: TrunkPort = {
    matchInbound: (source, ruriUser) => {
      const m = manager.matchInbound(source, ruriUser);
      return m === undefined ? undefined : { id: m.id, routeTo: m.routeTo };
    },
    outbound(trunkId, req: SipMessage): Extract<RouteDecision, { action: 'forward' }> | undefined {
      const plan = manager.outboundRequestFor(trunkId, req);
      if (plan === undefined) return undefined;
      const decision = outboundDecision(plan);
      decision.targets = decision.targets.map((t) => ({
        ...t,
        onChallenge: (res: SipMessage, sent: SipMessage) => {
          const a = manager.answerChallenge(plan.trunk, sent, res);
          return a === undefined ? undefined : [a.authorization];
        },
      }));
      return decision;
    },
  };

  const view = (id: string): ApiTrunkView | undefined => manager.get(id) as unknown as ApiTrunkView | undefined;
  const service: TrunkService = {
    list: () => manager.list() as unknown as ApiTrunkView[],
    get: view,
    create: async (input) => manager.put(toSpec(input)) as unknown as ApiTrunkView,
    replace: async (id, input) => {
      const old = manager.spec(id);
      const keep = input.password === undefined && input.ha1 === undefined && old !== undefined;
      const spec = toSpec(keep ? { ...input, ...(old.password !== null ? { password: old.password } : {}), ...(old.ha1 !== null ? { ha1: old.ha1 } : {}) } : input);
      return manager.put(spec) as unknown as ApiTrunkView;
    },
    remove: (id) => manager.remove(id),
    register: (id) => manager.register(id) as unknown as ApiTrunkView,
  };

  return {
    manager,
    port,
    service,
    isTrunkSource: (s) => manager.isTrunkSource(s),
    start: () => manager.start(),
    reload: (config) => {
      for (const t of config.trunks) manager.put(t as unknown as TrunkSpec);
    },
    close: () => manager.close({ unregister: true, timeoutMs: 3000 }),
  };
};
