// The routing steps of the contract that need more than SIP: who the caller is, which
// `routes:` entry applies, and which dispatcher set receives the request. Built once from the
// config; the proxy core calls `route()` for every initial request.
import type { Endpoint, RequestContext, RouteDecision, Router, RouteTarget, SipMessage } from '@sipfront/core';
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

export type Caller = 'dispatcher' | 'trusted' | 'any';

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
}

export const createRouter = ({ config, sets }: RouterDeps): Router => {
  const trusted = createCidrMatcher(config.security.trusted, 'security.trusted');
  const domains = new Set(config.domains.map((d) => d.toLowerCase()));
  const routes: CompiledRoute[] = config.routes.map((r) => ({
    ruriUser: r.match.ruriUser === null ? null : new RegExp(r.match.ruriUser),
    ruriDomain: r.match.ruriDomain === null ? null : new RegExp(r.match.ruriDomain, 'i'),
    fromUser: r.match.fromUser === null ? null : new RegExp(r.match.fromUser),
    fromDomain: r.match.fromDomain === null ? null : new RegExp(r.match.fromDomain, 'i'),
    method: r.match.method === null ? null : new RegExp(r.match.method),
    from: new Set(r.from),
    to: r.to,
  }));
  const firstDomain = config.domains[0];

  const setTargets = (setId: number, req: SipMessage): RouteDecision => {
    if (!sets.hasSet(setId)) return { action: 'reply', status: 503, headers: [['Retry-After', '30']] };
    const picked = sets.select(setId, req);
    if (picked.length === 0) return { action: 'reply', status: 503, headers: [['Retry-After', '30']] };
    const targets: RouteTarget[] = picked.map((d) => ({
      destination: d.uri,
      onAttempt: () => sets.attempt?.(setId, d.uri),
      onResult: (status: number) => sets.result?.(setId, d.uri, status, req),
    }));
    return { action: 'forward', targets, fork: 'serial', exhaustedStatus: 503 };
  };

  return {
    route(req: SipMessage, ctx: RequestContext): RouteDecision {
      const fromDispatcher = sets.isDestination(ctx.source);
      const isTrusted = fromDispatcher || trusted(ctx.source.address);
      const ruri = req.requestUri;
      const ruriUser = isSipUri(ruri) ? ruri.user ?? '' : '';
      const ruriHost = isSipUri(ruri) ? (ctx.ruriIsLocal && firstDomain !== undefined ? firstDomain : ruri.host.toLowerCase()) : '';

      // step 5: REGISTER for a served domain belongs to the registrar
      if (req.method === 'REGISTER' && domains.has(ruriHost)) {
        return { action: 'reply', status: 501, reason: 'Registrar Not Available' };
      }
      // step 6: configured routes, each for the callers its `from:` admits
      const from = req.from?.parsedUri;
      const fromUser = isSipUri(from) ? from.user ?? '' : '';
      const fromHost = isSipUri(from) ? from.host : '';
      for (const r of routes) {
        if (r.method !== null && !r.method.test(req.method)) continue;
        if (r.ruriUser !== null && !r.ruriUser.test(ruriUser)) continue;
        if (r.ruriDomain !== null && !r.ruriDomain.test(ruriHost)) continue;
        if (r.fromUser !== null && !r.fromUser.test(fromUser)) continue;
        if (r.fromDomain !== null && !r.fromDomain.test(fromHost)) continue;
        const admitted = r.from.has('any') || (fromDispatcher && r.from.has('dispatcher')) || (isTrusted && r.from.has('trusted'));
        if (!admitted) continue;
        if (r.to.kind === 'uri') return { action: 'forward', targets: [{ destination: r.to.uri }] };
        if (r.to.kind === 'set') return setTargets(r.to.set, req);
        return { action: 'reply', status: 503, reason: 'Trunk Not Available', headers: [['Retry-After', '60']] };
      }
      // step 7: a call from a backend goes to the registered user (no registrar yet)
      if (fromDispatcher) return { action: 'reply', status: 404 };
      // step 8: a caller sipfront can vouch for goes to set 1; nobody else passes
      if (!isTrusted) return { action: 'reply', status: 403 };
      return setTargets(1, req);
    },
  };
};
