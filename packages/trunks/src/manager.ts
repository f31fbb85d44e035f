// The trunk manager: one outbound registration per trunk (Kamailio's uac, Asterisk's outbound
// registration), the provider addresses its calls come from, and the credentials for calls
// out. Socket-free: REGISTERs leave through the injected `send` (the proxy's originate()).
//
// Per trunk, one loop: an attempt (up to MAX_ROUNDS REGISTERs answering 401/407, a stale nonce
// and 423) ends in success — refresh at 85% of the granted expiry — or in a failure, retried
// after `retry.interval` (temporary) or `retry.forbidden_interval` (permanent), counted against
// `retry.max_attempts`. The next attempt is armed only after the last one ended, so attempts
// never overlap and the spacing holds however fast the provider answers.
import { randomBytes } from 'node:crypto';
import type { DigestChallenge, Endpoint, SipMessage } from '@sipfront/core';
import { isSipUri, unescapeUri } from '@sipfront/core';
import { addressKey, inboundMatcher, resolveProvider } from './addresses.js';
import { realTrunkClock, silentTrunkLog } from './clock.js';
import { authorizationFor, pickChallenge } from './credentials.js';
import { TrunkError } from './errors.js';
import { answerTrunkChallenge, planOutbound } from './outbound.js';
import type { FailureClass } from './register-request.js';
import { buildRegister, classifyFailure, contactUri, grantedExpires, minExpires, nextHop, registerUri, retryAfter } from './register-request.js';
import { redactTrunk, sameRegistration, validateTrunk } from './spec.js';
import type {
  ChallengeAnswer, OutboundOptions, OutboundPlan, TrunkManagerDeps, TrunkMatch, TrunkMirror, TrunkSendResult, TrunkSpec, TrunkStateName, TrunkView,
} from './types.js';

/** REGISTERs in one attempt: the first, a challenge answered, a stale nonce, a 423, and spare. */
const MAX_ROUNDS = 5;
/** Refresh at this share of the granted expiry (Asterisk refreshes a few seconds before; this leaves room for retries). */
const REFRESH_SHARE = 0.85;
const RESOLVE_TIMEOUT_MS = 3000;

export interface TrunkManager {
  /** Arms the first REGISTER of every trunk, each after a random delay up to its `initial_delay_max`. */
  start(): void;
  /** Adds or replaces a trunk (API, reload). A changed registration starts anew; throws TrunkError('invalid-trunk'). */
  put(trunk: TrunkSpec): TrunkView;
  /** The trunks and their registrations, for followers (`workers: N`). */
  snapshot(): TrunkMirror[];
  /** A follower takes the registering manager's trunks and state; trunks it does not name go. */
  follow(mirrors: readonly TrunkMirror[]): void;
  /** Removes a trunk, unregistering it first (bounded); false when unknown. */
  remove(id: string): Promise<boolean>;
  /** Registers now (`POST /trunks/:id/register`), unless an attempt is in flight; resets the attempt count. */
  register(id: string): TrunkView;
  get(id: string): TrunkView | undefined;
  list(): TrunkView[];
  /** The trunk as configured, secrets included (for the API's PUT that keeps an omitted password). */
  spec(id: string): TrunkSpec | undefined;
  /** Contract step 7: the registered trunk an initial request from `source` belongs to. */
  matchInbound(source: Pick<Endpoint, 'address'> & Partial<Endpoint>, ruriUser: string): TrunkMatch | undefined;
  /** Is `source` an address of a registered trunk (trust for the security rules)? */
  isTrunkSource(source: Pick<Endpoint, 'address'>): boolean;
  /** What the proxy changes on an initial request sent out through the trunk; undefined for an unknown trunk. */
  outboundRequestFor(trunkId: string, req: SipMessage, opts?: OutboundOptions): OutboundPlan | undefined;
  /** Credentials for the provider's 401/407 to `req` (as sent); undefined = give the failure to the caller. */
  answerChallenge(trunkId: string, req: SipMessage, challengeResponse: SipMessage): ChallengeAnswer | undefined;
  /** Stops every loop and sends Expires: 0 for each binding, waiting at most timeoutMs. */
  unregisterAll(timeoutMs?: number): Promise<void>;
  /** unregisterAll() (unless `unregister: false`), then nothing runs any more. */
  close(opts?: { unregister?: boolean; timeoutMs?: number }): Promise<void>;
}

interface CachedChallenge {
  ch: DigestChallenge;
  header: 'Authorization' | 'Proxy-Authorization';
  nc: number;
}

interface Registration {
  spec: TrunkSpec;
  inbound: (address: string) => boolean;
  /** address keys by provider URI (registrar, outbound proxy) */
  addresses: Map<string, Set<string>>;
  readonly callId: string;
  readonly fromTag: string;
  cseq: number;
  state: TrunkStateName;
  /** epoch ms the provider's binding runs out; null = none */
  registeredUntil: number | null;
  lastCode: number | null;
  lastReason: string | null;
  nextAttemptAt: number | null;
  timer: unknown;
  inFlight: boolean;
  /** the REGISTER transaction in flight, if any: the next REGISTER waits for it (RFC 3261 §10.2) */
  sending: Promise<unknown> | undefined;
  /** bumped when the trunk is replaced, removed or stopped: results of older attempts are dropped */
  gen: number;
  /** consecutive failed attempts */
  failures: number;
  challenge: CachedChallenge | undefined;
  /** the Expires we ask for (raised by a 423's Min-Expires) */
  expires: number;
  /** the Contact last registered (for the Expires: 0) */
  contact: string | undefined;
  /**
   * the Contact of the last REGISTER that asked for a binding: the registrar may have bound it
   * though its answer was never taken (a refresh in flight when the trunk stopped)
   */
  offered: string | undefined;
  removed: boolean;
}

type Outcome =
  | { kind: 'ok'; res: SipMessage; contact: string; asked: number; sentAt: number }
  | { kind: 'fail'; cls: FailureClass; code: number | null; reason: string; retryAfter: number | undefined };

export const createTrunkManager = (deps: TrunkManagerDeps, trunks: readonly TrunkSpec[] = []): TrunkManager => {
  const clock = deps.clock ?? realTrunkClock;
  const log = deps.log ?? silentTrunkLog;
  const random = deps.random ?? Math.random;
  const requestTimeoutMs = deps.requestTimeoutMs ?? 32_000;
  const unregisterTimeoutMs = deps.unregisterTimeoutMs ?? 3000;
  const userAgent = deps.userAgent ?? 'sipfront';
  const regs = new Map<string, Registration>();
  let started = false;
  let closed = false;

  const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
  const bindingValid = (r: Registration): boolean => r.registeredUntil !== null && r.registeredUntil > clock.now();

  const view = (r: Registration): TrunkView => ({
    id: r.spec.id,
    registrar: r.spec.registrar,
    user: r.spec.user,
    state: r.state,
    registeredUntil: iso(r.registeredUntil),
    lastCode: r.lastCode,
    lastReason: r.lastReason,
    nextAttemptAt: iso(r.nextAttemptAt),
  });

  const emit = (r: Registration, previous: TrunkStateName): void => {
    if (deps.onState === undefined) return;
    try {
      deps.onState({ trunk: view(r), previous, registered: r.state === 'registered' && bindingValid(r) });
    } catch (err) {
      log.error({ err, trunk: r.spec.id }, 'trunks: onState listener threw');
    }
  };

  type Patch = Partial<Pick<Registration, 'state' | 'registeredUntil' | 'lastCode' | 'lastReason' | 'nextAttemptAt'>>;
  const update = (r: Registration, patch: Patch): void => {
    const before = JSON.stringify(view(r));
    const previous = r.state;
    Object.assign(r, patch);
    if (JSON.stringify(view(r)) !== before) emit(r, previous);
  };

  const newRegistration = (spec: TrunkSpec): Registration => ({
    spec,
    inbound: inboundMatcher(spec),
    addresses: new Map(),
    callId: `${randomBytes(12).toString('hex')}@sipfront`,
    fromTag: randomBytes(6).toString('hex'),
    cseq: 0,
    state: 'unregistered',
    registeredUntil: null,
    lastCode: null,
    lastReason: null,
    nextAttemptAt: null,
    timer: undefined,
    inFlight: false,
    sending: undefined,
    gen: 0,
    failures: 0,
    challenge: undefined,
    expires: spec.expires,
    contact: undefined,
    offered: undefined,
    removed: false,
  });

  const clearTimer = (r: Registration): void => {
    if (r.timer !== undefined) clock.clearTimeout(r.timer);
    r.timer = undefined;
  };

  const schedule = (r: Registration, delayMs: number): void => {
    clearTimer(r);
    if (closed || r.removed) return;
    const delay = Math.max(0, Math.round(delayMs));
    r.timer = clock.setTimeout(() => {
      r.timer = undefined;
      void attempt(r);
    }, delay);
    update(r, { nextAttemptAt: clock.now() + delay });
  };

  // ---- one REGISTER transaction, bounded even if `send` misbehaves -----------------------

  const sendBounded = (req: SipMessage, destination: string, timeoutMs: number): Promise<TrunkSendResult> =>
    new Promise<TrunkSendResult>((resolve) => {
      let done = false;
      const finish = (v: TrunkSendResult): void => {
        if (done) return;
        done = true;
        clock.clearTimeout(guard);
        resolve(v);
      };
      const guard = clock.setTimeout(() => finish({ code: null, error: 'timeout' }), timeoutMs + 1000);
      let p: Promise<TrunkSendResult>;
      try {
        p = deps.send(req, destination, timeoutMs);
      } catch (err) {
        p = Promise.reject(err);
      }
      p.then(finish, (err: unknown) => finish({ code: null, error: err instanceof Error ? err.message : String(err) }));
    });

  /** Credentials for the next REGISTER from the cached challenge (nc counts up, fresh cnonce). */
  const reuseChallenge = (r: Registration): [string, string] | undefined => {
    const c = r.challenge;
    if (c === undefined || !(c.ch.qop.includes('auth') || c.ch.qop.includes('auth-int'))) return undefined;
    c.nc += 1;
    try {
      return [c.header, authorizationFor(r.spec, c.ch, 'REGISTER', registerUri(r.spec), c.nc)];
    } catch {
      r.challenge = undefined;
      return undefined;
    }
  };

  /**
   * REGISTERs until a final outcome: answers a 401/407 once (again only for `stale=true`),
   * a 423 with its Min-Expires. With `unregister`, Expires: 0 for the Contact last registered.
   */
  const registerRounds = async (r: Registration, unregister: boolean, timeoutMs: number, live: () => boolean): Promise<Outcome | undefined> => {
    const spec = r.spec;
    let contact: string;
    // Expires: 0 for every Contact the registrar may hold for us: the one last registered and
    // the one last offered, when a refresh brought another (an address change)
    let others: string[] = [];
    try {
      contact = unregister && r.contact !== undefined ? r.contact : contactUri(spec, deps.localContact(spec));
      if (unregister && r.offered !== undefined && r.offered !== contact) others = [r.offered];
      if (!unregister) r.offered = contact;
    } catch (err) {
      return { kind: 'fail', cls: 'temporary', code: null, reason: `no local contact: ${err instanceof Error ? err.message : String(err)}`, retryAfter: undefined };
    }
    let expires = unregister ? 0 : r.expires;
    let answered = false;
    let auth = reuseChallenge(r);
    for (let round = 0; round < MAX_ROUNDS; round++) {
      r.cseq += 1;
      const req = buildRegister(spec, { callId: r.callId, fromTag: r.fromTag, cseq: r.cseq, contact, others, expires, userAgent, authorization: auth });
      const sentAt = clock.now();
      const sending = sendBounded(req, nextHop(spec), timeoutMs);
      r.sending = sending;
      const sent = await sending;
      if (r.sending === sending) r.sending = undefined;
      if (!live()) return undefined;
      try {
        deps.onResponse?.({ trunk: spec.id, code: sent.code });
      } catch (err) {
        log.error({ err, trunk: spec.id }, 'trunks: onResponse listener threw');
      }
      const res = sent.response;
      const code = sent.code;
      if (code === null || res === undefined) {
        return { kind: 'fail', cls: 'temporary', code: null, reason: sent.error ?? 'no response', retryAfter: undefined };
      }
      if (code >= 200 && code < 300) return { kind: 'ok', res, contact, asked: expires, sentAt };
      if (code === 401 || code === 407) {
        const pick = pickChallenge(spec, res);
        if (!pick.ok) {
          if (pick.reason === 'realm-mismatch') {
            log.warn(
              { trunk: spec.id, challengeRealm: pick.challengeRealm, configuredRealm: pick.configuredRealm },
              `trunk ${spec.id}: challenge realm "${pick.challengeRealm}" is not the configured realm "${pick.configuredRealm}"`,
            );
            return { kind: 'fail', cls: 'permanent', code, reason: `realm mismatch: challenge "${pick.challengeRealm}", configured "${pick.configuredRealm}"`, retryAfter: undefined };
          }
          return { kind: 'fail', cls: 'permanent', code, reason: `${res.reason} (no usable digest challenge)`, retryAfter: undefined };
        }
        if (answered && !pick.challenge.stale) {
          r.challenge = undefined;
          return { kind: 'fail', cls: 'permanent', code, reason: `${res.reason} (credentials refused)`, retryAfter: undefined };
        }
        answered = true;
        r.challenge = { ch: pick.challenge, header: pick.header, nc: 1 };
        auth = [pick.header, authorizationFor(spec, pick.challenge, 'REGISTER', registerUri(spec), 1)];
        continue;
      }
      if (code === 423 && !unregister) {
        const min = minExpires(res);
        if (min !== undefined && min > expires) {
          log.info({ trunk: spec.id, asked: expires, minExpires: min }, `trunk ${spec.id}: 423, asking for ${min} s`);
          expires = min;
          r.expires = min;
          auth = reuseChallenge(r);
          continue;
        }
      }
      return { kind: 'fail', cls: classifyFailure(code, res), code, reason: res.reason, retryAfter: retryAfter(res) };
    }
    return { kind: 'fail', cls: 'permanent', code: r.lastCode, reason: `no final answer after ${MAX_ROUNDS} REGISTERs`, retryAfter: undefined };
  };

  // ---- the loop ------------------------------------------------------------------------

  const refreshAddresses = async (r: Registration): Promise<void> => {
    const { byUri, errors } = await resolveProvider(r.spec, deps.resolver, r.addresses, RESOLVE_TIMEOUT_MS);
    r.addresses = byUri;
    for (const e of errors) log.debug({ trunk: r.spec.id, uri: e.uri, err: e.error }, 'trunks: provider address not resolved');
  };

  const attempt = async (r: Registration): Promise<void> => {
    if (r.inFlight || r.removed || closed) return;
    const gen = r.gen;
    const live = (): boolean => gen === r.gen && !r.removed && !closed;
    r.inFlight = true;
    clearTimer(r);
    update(r, { state: r.state === 'registered' && bindingValid(r) ? 'registered' : 'registering', nextAttemptAt: null });
    let outcome: Outcome | undefined;
    try {
      await refreshAddresses(r);
      if (!live()) return;
      outcome = await registerRounds(r, false, requestTimeoutMs, live);
    } catch (err) {
      log.error({ err: err instanceof Error ? err.stack : String(err), trunk: r.spec.id }, 'trunks: registration attempt failed');
      outcome = { kind: 'fail', cls: 'temporary', code: null, reason: err instanceof Error ? err.message : String(err), retryAfter: undefined };
    } finally {
      r.inFlight = false;
    }
    if (outcome === undefined || !live()) return;
    if (outcome.kind === 'ok') succeeded(r, outcome);
    else failed(r, outcome);
  };

  const succeeded = (r: Registration, o: Extract<Outcome, { kind: 'ok' }>): void => {
    const granted = grantedExpires(o.res, o.contact, o.asked);
    if (granted <= 0) {
      failed(r, { kind: 'fail', cls: 'temporary', code: o.res.status, reason: `${o.res.reason} (binding granted for 0 s)`, retryAfter: undefined });
      return;
    }
    const wasRegistered = r.state === 'registered';
    r.failures = 0;
    r.contact = o.contact;
    update(r, { state: 'registered', registeredUntil: o.sentAt + granted * 1000, lastCode: o.res.status, lastReason: o.res.reason });
    const msg = `trunk ${r.spec.id}: registered for ${granted} s`;
    if (wasRegistered) log.debug({ trunk: r.spec.id, expires: granted }, msg);
    else log.info({ trunk: r.spec.id, expires: granted }, msg);
    schedule(r, granted * 1000 * REFRESH_SHARE);
  };

  const failed = (r: Registration, o: Extract<Outcome, { kind: 'fail' }>): void => {
    const { retry } = r.spec;
    r.failures += 1;
    let delay: number | null;
    if (o.cls === 'temporary') delay = Math.max(retry.interval, (o.retryAfter ?? 0) * 1000);
    else delay = retry.forbiddenInterval > 0 ? retry.forbiddenInterval : null;
    const exhausted = retry.maxAttempts > 0 && r.failures >= retry.maxAttempts;
    if (exhausted) delay = null;
    const state: TrunkStateName = o.cls === 'temporary' && delay !== null ? 'retrying' : 'rejected';
    clearTimer(r);
    update(r, { state, lastCode: o.code, lastReason: o.reason, nextAttemptAt: null });
    log.warn(
      { trunk: r.spec.id, code: o.code, reason: o.reason, class: o.cls, attempts: r.failures, retryInMs: delay },
      exhausted
        ? `trunk ${r.spec.id}: registration failed (${o.code ?? 'no answer'} ${o.reason}); giving up after ${r.failures} attempts`
        : `trunk ${r.spec.id}: registration failed (${o.code ?? 'no answer'} ${o.reason}), ${o.cls}`,
    );
    if (delay !== null) schedule(r, delay);
  };

  /** Expires: 0 for the trunk's binding (stops its loop first); bounded by timeoutMs. */
  const unregister = async (r: Registration, timeoutMs: number): Promise<void> => {
    r.gen += 1;
    clearTimer(r);
    if (deps.follower === true) {
      // the registering worker unregisters; here the binding is only forgotten
      update(r, { state: 'unregistered', registeredUntil: null, nextAttemptAt: null });
      return;
    }
    const had = bindingValid(r) || r.inFlight || r.state === 'registered';
    if (!had) {
      update(r, { state: 'unregistered', nextAttemptAt: null });
      return;
    }
    let outcome: Outcome | undefined;
    const perRequest = Math.max(1, Math.min(requestTimeoutMs, timeoutMs));
    let timer: unknown;
    try {
      // RFC 3261 §10.2: no new REGISTER before the one in flight (a refresh) has its final
      // response or has timed out; the older attempt sends nothing more (its generation is over).
      // Past the bound nothing more is sent either.
      let expired = false;
      const live = (): boolean => !expired;
      const inFlight = r.sending;
      const rounds =
        inFlight === undefined
          ? registerRounds(r, true, perRequest, live)
          : inFlight.then(() => (expired ? undefined : registerRounds(r, true, perRequest, live)));
      outcome = await Promise.race([
        rounds,
        new Promise<undefined>((resolve) => {
          timer = clock.setTimeout(() => {
            expired = true;
            resolve(undefined);
          }, timeoutMs);
        }),
      ]);
    } catch (err) {
      log.warn({ trunk: r.spec.id, err: err instanceof Error ? err.message : String(err) }, `trunk ${r.spec.id}: unregistration failed`);
    } finally {
      if (timer !== undefined) clock.clearTimeout(timer);
    }
    const code = outcome === undefined ? null : outcome.kind === 'ok' ? outcome.res.status : outcome.code;
    if (outcome?.kind === 'ok') log.info({ trunk: r.spec.id, code }, `trunk ${r.spec.id}: unregistered`);
    else log.warn({ trunk: r.spec.id, code }, `trunk ${r.spec.id}: unregistration not confirmed`);
    update(r, {
      state: 'unregistered',
      registeredUntil: null,
      nextAttemptAt: null,
      ...(outcome === undefined ? { lastCode: null, lastReason: 'unregister: no answer' } : outcome.kind === 'ok' ? { lastCode: outcome.res.status, lastReason: outcome.res.reason } : { lastCode: outcome.code, lastReason: outcome.reason }),
    });
  };

  // ---- public --------------------------------------------------------------------------

  const put = (spec: TrunkSpec): TrunkView => {
    if (closed) throw new TrunkError('closed', 'the trunk manager is closed');
    validateTrunk(spec);
    const old = regs.get(spec.id);
    if (old !== undefined && sameRegistration(old.spec, spec)) {
      old.spec = spec;
      old.inbound = inboundMatcher(spec);
      return view(old);
    }
    const r = newRegistration(spec);
    if (old !== undefined) {
      old.removed = true;
      regs.delete(spec.id);
      // the old binding goes in the background; the new one has its own Call-ID
      void unregister(old, unregisterTimeoutMs);
    }
    regs.set(spec.id, r);
    log.info({ trunk: redactTrunk(spec) }, old === undefined ? `trunk ${spec.id}: added` : `trunk ${spec.id}: replaced`);
    if (started) schedule(r, 0);
    return view(r);
  };

  for (const t of trunks) put(t);

  const unregisterAll = async (timeoutMs = unregisterTimeoutMs): Promise<void> => {
    await Promise.all([...regs.values()].map((r) => unregister(r, timeoutMs)));
  };

  return {
    start() {
      if (started || closed || deps.follower === true) return;
      started = true;
      for (const r of regs.values()) schedule(r, random() * r.spec.retry.initialDelayMax);
    },
    put,
    snapshot() {
      return [...regs.values()].map((r) => ({
        spec: r.spec,
        state: r.state,
        registeredUntil: r.registeredUntil,
        lastCode: r.lastCode,
        lastReason: r.lastReason,
        addresses: [...r.addresses].map(([uri, keys]) => [uri, [...keys]] as [string, string[]]),
      }));
    },
    follow(mirrors) {
      if (closed) return;
      const named = new Set<string>();
      for (const m of mirrors) {
        try {
          validateTrunk(m.spec);
        } catch (err) {
          log.warn({ trunk: m.spec?.id, err: err instanceof Error ? err.message : String(err) }, 'trunks: a mirrored trunk is not valid here');
          continue;
        }
        named.add(m.spec.id);
        let r = regs.get(m.spec.id);
        if (r === undefined || JSON.stringify(r.spec) !== JSON.stringify(m.spec)) {
          if (r !== undefined) r.removed = true;
          r = newRegistration(m.spec);
          regs.set(m.spec.id, r);
        }
        r.addresses = new Map(m.addresses.map(([uri, keys]) => [uri, new Set(keys)]));
        update(r, { state: m.state, registeredUntil: m.registeredUntil, lastCode: m.lastCode, lastReason: m.lastReason, nextAttemptAt: null });
      }
      for (const [id, r] of regs) {
        if (named.has(id)) continue;
        // reported first (a registered gauge must not stay at 1), then forgotten
        update(r, { state: 'unregistered', registeredUntil: null, nextAttemptAt: null });
        regs.delete(id);
        r.removed = true;
      }
    },
    async remove(id) {
      const r = regs.get(id);
      if (r === undefined) return false;
      regs.delete(id);
      r.removed = true;
      await unregister(r, unregisterTimeoutMs);
      log.info({ trunk: id }, `trunk ${id}: removed`);
      return true;
    },
    register(id) {
      const r = regs.get(id);
      if (r === undefined) throw new TrunkError('unknown-trunk', `no trunk ${id}`, { field: 'id' });
      if (closed) throw new TrunkError('closed', 'the trunk manager is closed');
      if (!r.inFlight && deps.follower !== true) {
        r.failures = 0;
        void attempt(r);
      }
      return view(r);
    },
    get(id) {
      const r = regs.get(id);
      return r === undefined ? undefined : view(r);
    },
    list() {
      return [...regs.values()].map(view);
    },
    spec(id) {
      return regs.get(id)?.spec;
    },
    matchInbound(source, ruriUser) {
      // no trunk: nothing to match (and no address to parse for each request)
      if (regs.size === 0) return undefined;
      const key = addressKey(source.address);
      if (key === undefined) return undefined;
      const at: Registration[] = [];
      for (const r of regs.values()) {
        if (!bindingValid(r)) continue;
        let hit = false;
        for (const keys of r.addresses.values()) if (keys.has(key)) hit = true;
        if (hit || r.inbound(source.address)) at.push(r);
      }
      const user = unescapeUri(ruriUser);
      const pick = at.find((r) => r.spec.contactUser === user) ?? (at.length === 1 ? at[0] : undefined);
      return pick === undefined ? undefined : { id: pick.spec.id, routeTo: pick.spec.routeTo, trunk: pick.spec };
    },
    isTrunkSource(source) {
      if (regs.size === 0) return false;
      const key = addressKey(source.address);
      if (key === undefined) return false;
      for (const r of regs.values()) {
        if (!bindingValid(r)) continue;
        for (const keys of r.addresses.values()) if (keys.has(key)) return true;
        if (r.inbound(source.address)) return true;
      }
      return false;
    },
    outboundRequestFor(trunkId, req, opts) {
      const r = regs.get(trunkId);
      return r === undefined ? undefined : planOutbound(r.spec, req, opts);
    },
    answerChallenge(trunkId, req, res) {
      const r = regs.get(trunkId);
      return r === undefined ? undefined : answerTrunkChallenge(r.spec, req, res, log);
    },
    unregisterAll,
    async close(opts = {}) {
      if (closed) return;
      // closed first: no attempt starts and nothing is re-armed while the bindings go
      closed = true;
      for (const r of regs.values()) {
        r.gen += 1;
        clearTimer(r);
      }
      if (opts.unregister !== false) await unregisterAll(opts.timeoutMs ?? unregisterTimeoutMs);
    },
  };
};

/** The user part of a request's Request-URI (unescaped as written), for matchInbound. */
export const ruriUserOf = (req: SipMessage): string => {
  const u = req.requestUri;
  return isSipUri(u) ? u.user ?? '' : '';
};
