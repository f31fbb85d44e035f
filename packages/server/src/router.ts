// The routing steps of the contract that need more than SIP (steps 5–8): the registrar, the
// configured `routes:`, calls from the Asterisk set to registered users, and the caller trust
// that keeps strangers away from Asterisk. Built once from the config; the proxy core calls
// `route()` for every initial request.
import type { Endpoint, ListenerInfo, RequestContext, RouteDecision, Router, RouteTarget, SipMessage } from '@sipfront/core';
import { createCidrMatcher, isSipUri } from '@sipfront/core';
import type { Config, RouteConfig } from './config/index.js';

/** What the router needs from the dispatcher. */
export interface SetSelector {
  /** destinations to try in order (first = chosen); empty when none is up */
  select(setId: number, req: SipMessage): Array<{ uri: string }>;
  /** the set ids that exist */
  hasSet(setId: number): boolean;
  /** is this source one of the destinations (address, transport, and port for UDP) */
  isDestination(source: Endpoint): boolean;
  /** a destination is about to be tried */
  attempt?(setId: number, uri: string): void;
  /** told how a call attempt to a destination ended (failover bookkeeping, least-calls) */
  result?(setId: number, uri: string, status: number, req: SipMessage | undefined): void;
}

/** What the router needs from the registrar (steps 5, 7 and 8). */
export interface RegistrarPort {
  /** `listener`: the socket it arrived on, recorded in the binding (another instance relays through it) */
  handleRegister(req: SipMessage, ctx: { source: Endpoint; listener: ListenerInfo; connectionId?: string }): Promise<{ status: number; reason?: string; headers: Array<[string, string]> }>;
  lookup(aor: string): Promise<Array<{ uri: string; source: { transport: string; address: string; port: number }; path: readonly string[] }>>;
  verifyProxyAuth(req: SipMessage, source: Endpoint): Promise<
    | { ok: true; user: string; domain: string; realm: string }
    | { ok: false; status: number; reason: string; headers: Array<[string, string]>; result: string }
  >;
  isServed(domain: string): Promise<boolean>;
  hasSubscriber(user: string, domain: string): Promise<boolean>;
  toTarget(binding: { uri: string; source: { transport: string; address: string; port: number }; path: readonly string[] }): RouteTarget;
}

/** What the router needs from the trunks (steps 6 and 7). */
export interface TrunkPort {
  /** the trunk whose provider sends this request (registered trunks only) */
  matchInbound(source: Endpoint, ruriUser: string): { id: string; routeTo: number } | undefined;
  /** the forward decision of a call out through a trunk, or undefined when it cannot take calls */
  outbound(trunkId: string, req: SipMessage): Extract<RouteDecision, { action: 'forward' }> | undefined;
}

interface CompiledRoute {
  ruriUser: RegExp | null;
  ruriDomain: RegExp | null;
  fromUser: RegExp | null;
  fromDomain: RegExp | null;
  method: RegExp | null;
  from: ReadonlySet<string>;
  to: RouteConfig['to'];
}

export interface RouterDeps {
  config: Config;
  sets: SetSelector;
  registrar?: RegistrarPort;
  /** the security layer's trust test (trusted networks and destinations) */
  isTrusted?(source: Endpoint): boolean;
  /** counts proxy authentication outcomes (challenged | ok | failed) */
  onProxyAuth?(result: 'challenged' | 'ok' | 'failed'): void;
  trunks?: TrunkPort;
}

const IDENTITY_HEADERS = ['p-asserted-identity', 'p-preferred-identity'];
const RETRY = [['Retry-After', '30']] as Array<[string, string]>;

export const createRouter = ({ config, sets, registrar, isTrusted: trustTest, onProxyAuth, trunks }: RouterDeps): Router => {
  const trusted = createCidrMatcher(config.security.trusted, 'security.trusted');
  const routes: CompiledRoute[] = config.routes.map((r) => ({
    ruriUser: r.match.ruriUser === null ? null : new RegExp(r.match.ruriUser),
    ruriDomain: r.match.ruriDomain === null ? null : new RegExp(r.match.ruriDomain, 'i'),
    fromUser: r.match.fromUser === null ? null : new RegExp(r.match.fromUser),
    fromDomain: r.match.fromDomain === null ? null : new RegExp(r.match.fromDomain, 'i'),
    method: r.match.method === null ? null : new RegExp(r.match.method),
    from: new Set(r.from),
    to: r.to,
  }));
  const firstDomain = config.domains[0]?.toLowerCase();

  const setTargets = (setId: number, req: SipMessage, extra?: Partial<Extract<RouteDecision, { action: 'forward' }>>): RouteDecision => {
    if (!sets.hasSet(setId)) return { action: 'reply', status: 503, headers: RETRY };
    const picked = sets.select(setId, req);
    if (picked.length === 0) return { action: 'reply', status: 503, headers: RETRY };
    const targets: RouteTarget[] = picked.map((d) => ({
      destination: d.uri,
      onAttempt: () => sets.attempt?.(setId, d.uri),
      onResult: (status: number) => sets.result?.(setId, d.uri, status, req),
    }));
    return { action: 'forward', targets, fork: 'serial', exhaustedStatus: 503, ...extra };
  };

  /** step 7: to the registered contacts of the Request-URI (parallel fork) */
  const toContacts = async (req: SipMessage, user: string, domain: string): Promise<RouteDecision> => {
    if (registrar === undefined) return { action: 'reply', status: 404 };
    const bindings = await registrar.lookup(`${user}@${domain}`);
    if (bindings.length === 0) return { action: 'reply', status: (await registrar.hasSubscriber(user, domain)) ? 480 : 404 };
    return { action: 'forward', targets: bindings.map((b) => registrar.toTarget(b)), fork: 'parallel' };
  };

  const routeAsync = async (
    req: SipMessage,
    ctx: RequestContext,
    fromDispatcher: boolean,
    isTrusted: boolean,
    ruriUser: string,
    ruriHost: string,
    fromTrunk: { id: string; routeTo: number } | undefined,
  ): Promise<RouteDecision> => {
    const served = registrar !== undefined && ruriHost !== '' && (await registrar.isServed(ruriHost));
    // step 5: REGISTER for a served domain belongs to the registrar
    if (req.method === 'REGISTER' && served) {
      const r = await registrar!.handleRegister(req, { source: ctx.source, listener: ctx.listener, ...(ctx.connectionId !== undefined ? { connectionId: ctx.connectionId } : {}) });
      return { action: 'reply', status: r.status, ...(r.reason !== undefined ? { reason: r.reason } : {}), headers: r.headers };
    }
    // step 6: configured routes, each for the callers its `from:` admits
    const from = req.from?.parsedUri;
    const fromUser = isSipUri(from) ? from.user ?? '' : '';
    const fromHost = isSipUri(from) ? from.host : '';
    let authenticated: { user: string; domain: string } | undefined;
    let authAnswer: RouteDecision | undefined;
    const authenticate = async (): Promise<void> => {
      if (authenticated !== undefined || authAnswer !== undefined || registrar === undefined) return;
      const a = await registrar.verifyProxyAuth(req, ctx.source);
      if (a.ok) {
        authenticated = { user: a.user, domain: a.domain };
        onProxyAuth?.('ok');
      } else {
        onProxyAuth?.(a.result === 'challenged' ? 'challenged' : 'failed');
        authAnswer = { action: 'reply', status: a.status, reason: a.reason, headers: a.headers };
      }
    };
    const identity = (): Partial<Extract<RouteDecision, { action: 'forward' }>> => {
      if (authenticated !== undefined) {
        return {
          removeHeaders: [...IDENTITY_HEADERS, 'proxy-authorization'],
          addHeaders: [['P-Asserted-Identity', `<sip:${authenticated.user}@${authenticated.domain}>`]],
        };
      }
      return isTrusted ? {} : { removeHeaders: IDENTITY_HEADERS };
    };
    for (const r of routes) {
      if (r.method !== null && !r.method.test(req.method)) continue;
      if (r.ruriUser !== null && !r.ruriUser.test(ruriUser)) continue;
      if (r.ruriDomain !== null && !r.ruriDomain.test(ruriHost)) continue;
      if (r.fromUser !== null && !r.fromUser.test(fromUser)) continue;
      if (r.fromDomain !== null && !r.fromDomain.test(fromHost)) continue;
      // a call from a provider never goes back out through a trunk
      if (r.to.kind === 'trunk' && fromTrunk !== undefined) continue;
      let admitted =
        r.from.has('any') ||
        (fromDispatcher && r.from.has('dispatcher')) ||
        (fromTrunk !== undefined && r.from.has('trunk')) ||
        (isTrusted && !fromDispatcher && fromTrunk === undefined && r.from.has('trusted'));
      if (!admitted && r.from.has('authenticated') && !isTrusted) {
        await authenticate();
        admitted = authenticated !== undefined;
      }
      if (!admitted) continue;
      if (r.to.kind === 'uri') return { action: 'forward', targets: [{ destination: r.to.uri }], ...identity() };
      if (r.to.kind === 'set') return setTargets(r.to.set, req, identity());
      // out through a trunk: its identity only, never a local user's
      const out = trunks?.outbound(r.to.trunk, req);
      if (out === undefined) return { action: 'reply', status: 503, reason: 'Trunk Not Available', headers: [['Retry-After', '60']] };
      return out;
    }
    // step 7: a provider's call goes to its trunk's set
    if (fromTrunk !== undefined) return setTargets(fromTrunk.routeTo, req, { removeHeaders: ['proxy-authorization'] });
    // step 7: a call from the Asterisk set goes to the registered user, never back into a set
    if (fromDispatcher) {
      if (!served) return { action: 'reply', status: 404 };
      return toContacts(req, ruriUser, ruriHost);
    }
    // step 8: a caller sipfront can vouch for goes to set 1; nobody else passes
    if (!isTrusted) {
      if (registrar === undefined) return { action: 'reply', status: 403 };
      await authenticate();
      if (authenticated === undefined) return authAnswer ?? { action: 'reply', status: 403 };
      if (config.registrar.localCalls === 'direct' && served && (await registrar.hasSubscriber(ruriUser, ruriHost))) {
        const d = await toContacts(req, ruriUser, ruriHost);
        return d.action === 'forward' ? { ...d, ...identity() } : d;
      }
    }
    return setTargets(1, req, identity());
  };

  return {
    route(req: SipMessage, ctx: RequestContext): RouteDecision | Promise<RouteDecision> {
      const fromDispatcher = sets.isDestination(ctx.source);
      const ruri = req.requestUri;
      const ruriUser = isSipUri(ruri) ? ruri.user ?? '' : '';
      const fromTrunk = fromDispatcher ? undefined : trunks?.matchInbound(ctx.source, ruriUser);
      // a provider's address is vouched for by its trunk (step 7), not as a trusted network
      const isTrusted = fromDispatcher || (fromTrunk === undefined && (trustTest !== undefined ? trustTest(ctx.source) : trusted(ctx.source.address)));
      // a Request-URI naming sipfront itself is looked up in the first served domain
      const ruriHost = isSipUri(ruri) ? (ctx.ruriIsLocal && firstDomain !== undefined ? firstDomain : ruri.host.toLowerCase()) : '';
      // the common case stays synchronous: a trusted caller, no REGISTER, no routes
      if (isTrusted && !fromDispatcher && fromTrunk === undefined && routes.length === 0 && req.method !== 'REGISTER' && config.registrar.localCalls !== 'direct') {
        return setTargets(1, req);
      }
      return routeAsync(req, ctx, fromDispatcher, isTrusted, ruriUser, ruriHost, fromTrunk).catch((err: unknown) => {
        // the store is down: answer what needs it with 5xx, never crash
        const code = (err as { code?: string }).code;
        return { action: 'reply', status: code === 'store-unavailable' ? 503 : 500, headers: RETRY } as RouteDecision;
      });
    },
  };
};
