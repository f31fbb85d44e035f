// The registrar (RFC 3261 §10.3, RFC 3327 Path): REGISTER handling with Digest challenges,
// the location lookup the router uses, and the proxy challenge of routing step 8. The
// proxy hands it a parsed REGISTER and sends what it returns; store trouble becomes a
// 500 with Retry-After, never an exception.
import { isSipUri, parseUri, reasonFor } from '@sipfront/core';
import type { DigestAlgorithm, Endpoint, ListenerInfo, NonceService, SipMessage } from '@sipfront/core';
import { createDigestAuthenticator } from './auth.js';
import type { AuthOutcome } from './auth.js';
import { compareBindings, normalizeAor, normalizeDomain } from './bindings.js';
import { RegistrarError, isStoreFailure } from './errors.js';
import { silentLog, systemClock } from './emitter.js';
import { parseRegisterContacts, planRegister } from './register.js';
import type { ContactsPolicy, ExpiresPolicy, PlanResult } from './register.js';
import type { Binding, ContactStore, DomainStore, RegistrarClock, RegistrarLogger, SubscriberStore } from './types.js';

export interface RegistrarOptions extends ContactsPolicy {
  expires: ExpiresPolicy;
  auth: {
    /** false: labs only, REGISTER is accepted without credentials */
    required: boolean;
    /** challenge order; default [MD5] */
    algorithms: readonly DigestAlgorithm[];
    /** fixes the realm; default: the AOR's (or From's) domain */
    realm?: string | undefined;
  };
  /** Retry-After (seconds) of the 500 sent while the store is unavailable; default 30 */
  retryAfter?: number;
}

export const DEFAULT_REGISTRAR_OPTIONS: Readonly<RegistrarOptions> = Object.freeze<RegistrarOptions>({
  expires: { min: 60, max: 3600, default: 3600, belowMin: 'reject' },
  maxContacts: 0,
  maxContactsPolicy: 'refuse',
  auth: { required: true, algorithms: ['MD5'] },
  retryAfter: 30,
});

export interface RegistrarDeps {
  contacts: ContactStore;
  subscribers: SubscriberStore;
  domains: DomainStore;
  nonces: NonceService;
  clock?: RegistrarClock;
  log?: RegistrarLogger;
  /** credentials that do not verify, per source (security bans, `sipfront_auth_failures_total`); must not throw */
  onAuthFailure?(source: Endpoint, aor: string): void;
  /** this instance, written into its bindings */
  instanceId: string;
  /**
   * The served domain a host stands for when it is not a domain itself: one of sipfront's own
   * addresses (or `advertise.host`) maps to the first `domains:` entry (contract). Default: none.
   */
  localDomainFor?(host: string): string | undefined;
}

export interface RegisterContext {
  source: Endpoint;
  listener?: ListenerInfo | undefined;
  connectionId?: string | undefined;
}

export interface RegistrarReply {
  status: number;
  reason: string;
  headers: Array<[string, string]>;
}

export type ProxyAuthResult =
  | { ok: true; user: string; domain: string; realm: string }
  | {
      ok: false;
      /** 407 challenge, 403 forbidden, 400 malformed Proxy-Authorization, 500 store unavailable (with Retry-After) */
      status: 407 | 403 | 400 | 500;
      reason: string;
      headers: Array<[string, string]>;
      /** for `sipfront_proxy_auth_total{result}` */
      result: 'challenged' | 'failed' | 'forbidden' | 'error';
    };

export interface Registrar {
  handleRegister(req: SipMessage, ctx: RegisterContext): Promise<RegistrarReply>;
  /** The live bindings of an AOR (`user@domain`), best first. Rejects on store trouble. */
  lookup(aor: string): Promise<Binding[]>;
  /** Routing step 8: a caller that is not trusted must answer a proxy challenge. */
  verifyProxyAuth(req: SipMessage, source: Endpoint): Promise<ProxyAuthResult>;
  /** The AOR a SIP URI names in a served domain (`user@domain`), or undefined. */
  aorOf(uri: string): Promise<string | undefined>;
}

const SUPPORTED_EXTENSIONS = new Set(['path']);

const checkOptions = (o: RegistrarOptions): void => {
  const e = o.expires;
  const bad = (field: string, what: string): never => {
    throw new RegistrarError('invalid-options', `registrar.${field}: ${what}`, { field: `registrar.${field}` });
  };
  for (const k of ['min', 'max', 'default'] as const) {
    if (!Number.isInteger(e[k]) || e[k] < 0) bad(`expires.${k}`, 'not a whole number of seconds');
  }
  if (e.min > e.max) bad('expires.min', 'greater than max');
  if (!Number.isInteger(o.maxContacts) || o.maxContacts < 0) bad('max_contacts', 'not a whole number ≥ 0');
  if (o.auth.algorithms.length === 0) bad('auth.algorithms', 'empty');
};

export const createRegistrar = (deps: RegistrarDeps, options: RegistrarOptions = DEFAULT_REGISTRAR_OPTIONS): Registrar => {
  checkOptions(options);
  const clock = deps.clock ?? systemClock;
  const log = deps.log ?? silentLog;
  const { contacts, subscribers, domains } = deps;
  const auth = createDigestAuthenticator({ subscribers, nonces: deps.nonces, algorithms: options.auth.algorithms });
  const retryAfter = String(options.retryAfter ?? 30);

  const reply = (status: number, headers: Array<[string, string]> = [], reason = reasonFor(status)): RegistrarReply => ({ status, reason, headers });
  const storeTrouble = (err: unknown, what: string): RegistrarReply => {
    if (isStoreFailure(err)) log.warn({ err: err.message, cause: String((err.cause as Error | undefined)?.message ?? '') }, `registrar: ${what}: store unavailable`);
    else log.error({ err }, `registrar: ${what} failed`);
    return reply(500, [['Retry-After', retryAfter]]);
  };
  const reportFailure = (source: Endpoint, aor: string): void => {
    try {
      deps.onAuthFailure?.(source, aor);
    } catch (err) {
      log.error({ err }, 'registrar: onAuthFailure threw');
    }
  };

  /** The served domain of a host, or undefined. */
  const servedDomain = async (host: string): Promise<string | undefined> => {
    const h = normalizeDomain(host);
    if (await domains.has(h)) return h;
    const alias = deps.localDomainFor?.(h);
    return alias !== undefined && (await domains.has(alias)) ? normalizeDomain(alias) : undefined;
  };

  const challengeHeaders = (name: string, realm: string, stale: boolean): Array<[string, string]> =>
    auth.challenges(realm, stale).map((v) => [name, v]);

  const contactLines = (bindings: readonly Binding[], now: number): Array<[string, string]> =>
    [...bindings].sort(compareBindings).map((b) => {
      const left = Math.max(1, Math.ceil((b.expiresAt - now) / 1000));
      return ['Contact', `<${b.uri}>;expires=${left}${b.q === undefined ? '' : `;q=${b.q}`}`];
    });

  const handleRegister = async (req: SipMessage, ctx: RegisterContext): Promise<RegistrarReply> => {
    try {
      return await register(req, ctx);
    } catch (err) {
      return storeTrouble(err, 'REGISTER');
    }
  };

  const register = async (req: SipMessage, ctx: RegisterContext): Promise<RegistrarReply> => {
    const to = req.to;
    const callId = req.callId;
    const cseq = req.cseq;
    if (to === undefined || callId === undefined || cseq === undefined) return reply(400, [], 'Missing To, Call-ID or CSeq');
    const toUri = to.parsedUri;
    if (!isSipUri(toUri)) return reply(404, [], 'Not Found');
    // §10.3 step 2: extensions the UA requires that the registrar does not support
    const unsupported = req.list('require').map((i) => i.value.toLowerCase()).filter((t) => t.length > 0 && !SUPPORTED_EXTENSIONS.has(t));
    if (unsupported.length > 0) return reply(420, [['Unsupported', unsupported.join(', ')]]);
    const domain = await servedDomain(toUri.host);
    if (domain === undefined || toUri.user === undefined || toUri.user.length === 0) return reply(404, [], 'Not Found');
    const user = toUri.user;
    const aor = `${user}@${domain}`;

    // §10.3 steps 3-4: authenticate, then the credentials must be those of the AOR
    if (options.auth.required) {
      const realm = options.auth.realm ?? domain;
      const outcome: AuthOutcome = await auth.verify(req, 'authorization', realm, domain);
      switch (outcome.kind) {
        case 'none':
          return reply(401, challengeHeaders('WWW-Authenticate', realm, false));
        case 'malformed':
          return reply(400, [], 'Malformed Authorization');
        case 'stale':
          return reply(401, challengeHeaders('WWW-Authenticate', realm, true));
        case 'failed':
          log.info({ aor, username: outcome.username, source: ctx.source }, 'registrar: credentials do not verify');
          reportFailure(ctx.source, aor);
          return reply(401, challengeHeaders('WWW-Authenticate', realm, false));
        case 'ok':
          if (outcome.username !== user) {
            log.info({ aor, username: outcome.username }, 'registrar: credentials of another user');
            return reply(403, [], 'Forbidden');
          }
      }
    }

    // §10.3 steps 6-8
    const parsed = parseRegisterContacts(req, options.expires);
    if (!parsed.ok) {
      return parsed.status === 423
        ? reply(423, [['Min-Expires', String(parsed.minExpires)]])
        : reply(400, [], parsed.reason);
    }
    const now = clock.now();
    const supportsPath = req.list('supported').some((i) => i.value.toLowerCase() === 'path')
      || req.list('require').some((i) => i.value.toLowerCase() === 'path');
    const path = req.list('path').map((i) => i.value);
    const listener = ctx.listener === undefined
      ? undefined
      : { id: ctx.listener.id, transport: ctx.listener.transport, host: ctx.listener.host, port: ctx.listener.port };
    const result: PlanResult = await contacts.update(aor, (current) =>
      planRegister(current, {
        aor,
        callId,
        cseq: cseq.seq,
        star: parsed.star,
        contacts: parsed.contacts,
        template: {
          source: { transport: ctx.source.transport, address: ctx.source.address, port: ctx.source.port },
          connectionId: ctx.connectionId,
          instanceId: deps.instanceId,
          listener,
          userAgent: req.text('user-agent'),
          path,
        },
        now,
      }, options), parsed.star || parsed.contacts.every((c) => c.expires === 0) ? 'removed' : 'register');
    switch (result.kind) {
      case 'out-of-order':
        // §10.3 steps 6-7: the update is aborted and the request fails
        log.info({ aor, callId, cseq: cseq.seq, contact: result.uri }, 'registrar: CSeq not higher than the binding\'s');
        return reply(400, [], 'CSeq Out of Order');
      case 'too-many':
        return reply(503, [], 'Too Many Registered Contacts');
      case 'ok': {
        if (parsed.contacts.length > 0 || parsed.star) log.debug({ aor, contacts: result.bindings.length, source: ctx.source }, 'registrar: bindings updated');
        const headers = contactLines(result.bindings, now);
        if (supportsPath && path.length > 0) for (const p of path) headers.push(['Path', p]);
        headers.push(['Date', new Date(now).toUTCString()]);
        return reply(200, headers);
      }
    }
  };

  const verifyProxyAuth = async (req: SipMessage, source: Endpoint): Promise<ProxyAuthResult> => {
    const forbidden = (reason = 'Forbidden'): ProxyAuthResult => ({ ok: false, status: 403, reason, headers: [], result: 'forbidden' });
    try {
      const from = req.from?.parsedUri;
      if (!isSipUri(from)) return forbidden();
      const domain = await servedDomain(from.host);
      if (domain === undefined || !(await subscribers.hasDomain(domain))) return forbidden();
      const realm = options.auth.realm ?? domain;
      const challenge = (stale: boolean, result: 'challenged' | 'failed'): ProxyAuthResult => ({
        ok: false, status: 407, reason: reasonFor(407), headers: challengeHeaders('Proxy-Authenticate', realm, stale), result,
      });
      const aor = `${from.user ?? ''}@${domain}`;
      const outcome = await auth.verify(req, 'proxy-authorization', realm, domain);
      switch (outcome.kind) {
        case 'none':
          return challenge(false, 'challenged');
        case 'malformed':
          return { ok: false, status: 400, reason: 'Malformed Proxy-Authorization', headers: [], result: 'failed' };
        case 'stale':
          return challenge(true, 'challenged');
        case 'failed':
          log.info({ aor, username: outcome.username, source }, 'registrar: proxy credentials do not verify');
          reportFailure(source, `${outcome.username}@${domain}`);
          return challenge(false, 'failed');
        case 'ok':
          // the From user must be the authenticated user (contract, routing step 8)
          if (from.user !== outcome.username) return forbidden();
          return { ok: true, user: outcome.username, domain, realm };
      }
    } catch (err) {
      const r = storeTrouble(err, 'proxy authentication');
      return { ok: false, status: 500, reason: r.reason, headers: r.headers, result: 'error' };
    }
  };

  return {
    handleRegister,
    lookup: (aor) => contacts.lookup(normalizeAor(aor)),
    verifyProxyAuth,
    async aorOf(uri) {
      const u = parseUri(uri);
      if (!isSipUri(u) || u.user === undefined) return undefined;
      const d = await servedDomain(u.host);
      return d === undefined ? undefined : `${u.user}@${d}`;
    },
  };
};
