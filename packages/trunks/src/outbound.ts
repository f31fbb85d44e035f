// Calls out through a trunk: what the proxy changes on the initial request (Request-URI and
// From in the provider's domain, the trunk's identity only), and the credentials for the
// provider's 401/407 (Kamailio's uac_auth). Pure functions of the trunk and the request.
import type { RouteDecision, SipMessage } from '@sipfront/core';
import { isSipUri } from '@sipfront/core';
import { authorizationFor, pickChallenge, realmsAnswered } from './credentials.js';
import { nextHop, outboundRoute } from './register-request.js';
import type { ChallengeAnswer, OutboundOptions, OutboundPlan, TrunkLogger, TrunkSpec } from './types.js';

/** Identity and credential headers of the caller that never reach a provider. */
export const OUTBOUND_REMOVED_HEADERS = ['p-asserted-identity', 'p-preferred-identity', 'remote-party-id', 'authorization', 'proxy-authorization'];

/** The dialled user: the Request-URI's user part (a tel: URI's number), or ''. */
export const dialledUser = (req: SipMessage): string => {
  const u = req.requestUri;
  if (isSipUri(u)) return u.user ?? '';
  if (u !== undefined && u.scheme === 'tel') return (u as { number: string }).number;
  return '';
};

export const planOutbound = (t: TrunkSpec, req: SipMessage, opts: OutboundOptions = {}): OutboundPlan => {
  const user = opts.user ?? dialledUser(req);
  const identity = `<sip:${t.fromUser}@${t.domain}>`;
  const tag = req.fromTag;
  return {
    trunk: t.id,
    destination: nextHop(t),
    requestUri: user === '' ? `sip:${t.domain}` : `sip:${user}@${t.domain}`,
    from: tag === undefined ? identity : `${identity};tag=${tag}`,
    route: outboundRoute(t),
    removeHeaders: [...OUTBOUND_REMOVED_HEADERS],
    addHeaders: [['P-Asserted-Identity', identity]],
  };
};

/**
 * The plan as the proxy's forward decision: one target (no failover to another provider), From
 * replaced by removing it and adding the trunk's (the tag is the caller's, so the dialog stays).
 */
export const outboundDecision = (plan: OutboundPlan): Extract<RouteDecision, { action: 'forward' }> => ({
  action: 'forward',
  targets: [{ destination: plan.destination, requestUri: plan.requestUri, ...(plan.route.length > 0 ? { route: [...plan.route] } : {}) }],
  fork: 'serial',
  removeHeaders: [...plan.removeHeaders, 'from'],
  addHeaders: [['From', plan.from], ...plan.addHeaders],
});

/**
 * Credentials for the provider's 401/407 to `req` (the request as it was sent: its Request-URI
 * and method are hashed). Undefined — the caller gets the failure — when the challenge has
 * another realm than the configured one, offers nothing usable, or the request already carried
 * our credentials for that realm and the challenge is not `stale` (the provider refused them).
 */
export const answerTrunkChallenge = (t: TrunkSpec, req: SipMessage, res: SipMessage, log: TrunkLogger): ChallengeAnswer | undefined => {
  if (res.status !== 401 && res.status !== 407) return undefined;
  const pick = pickChallenge(t, res);
  const callId = req.callId;
  if (!pick.ok) {
    if (pick.reason === 'realm-mismatch') {
      log.warn(
        { trunk: t.id, callId, challengeRealm: pick.challengeRealm, configuredRealm: pick.configuredRealm },
        `trunk ${t.id}: ${res.status} challenge realm "${pick.challengeRealm}" is not the configured realm "${pick.configuredRealm}"`,
      );
    } else log.warn({ trunk: t.id, callId, code: res.status }, `trunk ${t.id}: no usable digest challenge in the ${res.status}`);
    return undefined;
  }
  const ch = pick.challenge;
  if (!ch.stale && realmsAnswered(req, pick.header).includes(ch.realm)) {
    log.warn({ trunk: t.id, callId, realm: ch.realm, code: res.status }, `trunk ${t.id}: the provider refused the trunk's credentials for ${req.method}`);
    return undefined;
  }
  try {
    return { authorization: [pick.header, authorizationFor(t, ch, req.method, req.uri)], realm: ch.realm };
  } catch (err) {
    log.warn({ trunk: t.id, callId, err: err instanceof Error ? err.message : String(err) }, `trunk ${t.id}: cannot answer the challenge`);
    return undefined;
  }
};
