// The proxy's first look at every request (contract routing step 1): banned sources, scanner
// User-Agents and flooding sources are refused before anything else runs. Bans live in a Map
// that the hot path reads; the BanStore behind it persists them and shares them between
// instances, written behind and never awaited by `check()`.
import type { Endpoint, SipMessage } from '@sipfront/core';
import { createCidrMatcher } from '@sipfront/core';
import type { Ban, BanReason, BanStore, BanStoreEvent } from './ban.js';
import { isBanReason, makeBan } from './ban.js';
import { SecurityError } from './errors.js';
import { canonicalIp } from './ip.js';
import { SlidingWindow } from './sliding-window.js';
import { transactionKey } from './transaction-key.js';
import type { Clock, SecurityLogger } from './types.js';
import { errorText, silentLogger, systemClock, unrefTimer } from './types.js';
import { createUserAgentMatcher } from './user-agent.js';

/** The `security:` section of the config, durations in ms. */
export interface SecurityOptions {
  /** CIDRs whose sources are never banned nor flood-limited. */
  readonly trusted: readonly string[];
  /** more than `max` requests within `window` ms from one IP bans it for `ban` ms */
  readonly flood: { readonly window: number; readonly max: number; readonly ban: number };
  /** `max` failed digest attempts within `window` ms from one IP ban it for `ban` ms */
  readonly authFailures: { readonly max: number; readonly window: number; readonly ban: number };
  /** case-insensitive substrings of User-Agent that mark a scanner */
  readonly blockUserAgents: readonly string[];
  /** what a banned or flooding source gets; scanners are always dropped */
  readonly banReply: 'drop' | 403;
  /** how long a scanner is banned, ms; default `authFailures.ban` */
  readonly scannerBan?: number;
  /** IPs tracked per counter (flood, auth failures) and bans held in memory; oldest evicted first. Default 100,000. */
  readonly maxTrackedIps?: number;
  /** How often expired bans and idle counters are swept, ms. Default 1000. */
  readonly sweepInterval?: number;
}

export interface SecurityDeps {
  bans: BanStore;
  clock?: Clock;
  log?: SecurityLogger;
  /** A ban entered the in-memory view: made here (`local`) or read from the store (`store`: another instance, or persisted). */
  onBan?(ban: Ban, origin: 'local' | 'store'): void;
  /** A ban left the view: lifted (here or by another instance) or expired. */
  onUnban?(ban: Ban, cause: 'lifted' | 'expired'): void;
  /** A request was refused (for `sipfront_requests_refused_total{reason}`). Called on the hot path: keep it cheap. */
  onRefused?(reason: RefusalReason, source: Endpoint): void;
}

export type RefusalReason = 'banned' | 'flood' | 'scanner';

export type SecurityDecision =
  | { readonly action: 'pass' }
  | { readonly action: 'drop'; readonly reason: RefusalReason }
  | { readonly action: 'reply'; readonly status: 403; readonly reason: RefusalReason };

/** Tells whether a source is trusted (e.g. the dispatcher's destinations: address, transport, and port for UDP). */
export type TrustMatcher = (source: Endpoint) => boolean;

export interface Security {
  /** Routing step 1, for every request before anything else: synchronous, O(1), allocation-free when nothing happens. */
  check(req: SipMessage, source: Endpoint): SecurityDecision;
  /**
   * The ban part of check() alone, for raw inbound bytes before they are parsed: traffic from
   * a banned source then costs no parsing (and a malformed message from it gets no 400).
   * A source it passes still goes through check() once parsed; nothing is counted twice.
   */
  checkSource(source: Endpoint): SecurityDecision;
  /** A request whose credentials did not verify (not a missing one, a stale nonce or a retransmission). Returns the ban it caused. */
  authFailure(source: Endpoint, aor?: string): Ban | undefined;
  /** A ban made by an operator (or any caller); replaces an existing one for the address. */
  ban(ip: string, seconds: number, reason?: BanReason): Ban;
  /** Lifts a ban here and in the store; false when the address was not banned here. */
  unban(ip: string): boolean;
  listBans(): Ban[];
  getBan(ip: string): Ban | undefined;
  isBanned(ip: string): boolean;
  /** For `sipfront_security_bans_active`. */
  activeBans(): number;
  /** Addresses with a live counter (bounded by `maxTrackedIps`), for diagnostics. */
  trackedIps(): { flood: number; authFailures: number };
  /** The trusted networks, plus every matcher added with addTrusted. */
  isTrusted(source: Endpoint): boolean;
  /** Adds a source of trust (the dispatcher's destinations); returns the function that removes it. */
  addTrusted(matcher: TrustMatcher): () => void;
  /** Settles once the store's bans are loaded, or their loading failed (logged; bans then hold locally). Never rejects. */
  readonly ready: Promise<void>;
  /** Stops timers and the store subscription. The store is the caller's to close. */
  close(): void;
}

const DEFAULT_MAX_TRACKED = 100_000;
const DEFAULT_SWEEP = 1000;
/** How long a flood counter trusts its cached answer to "is this source trusted". */
const TRUST_CACHE_MS = 10_000;
/** Recent transactions remembered per source to recognise retransmissions. */
const TX_RING = 8;
/**
 * Retransmissions forgiven per transaction: RFC 3261 timers allow at most 10 for a non-INVITE
 * request within 64·T1. A replayed packet beyond that counts, so one captured request sent in a
 * loop still trips the flood limit.
 */
const TX_RETRANSMITS = 10;
const MAX_BAN_SECONDS = 10 * 365 * 24 * 3600;

interface FloodRecord {
  readonly hits: SlidingWindow;
  lastSeen: number;
  /** [key, retransmissions seen] × TX_RING, small integers only */
  readonly txs: number[];
  txNext: number;
  /** cached trust: valid while trustGen matches and for TRUST_CACHE_MS, for this transport and port */
  trusted: boolean;
  trustGen: number;
  trustAt: number;
  trustTransport: string;
  trustPort: number;
}

interface AuthRecord {
  readonly failures: SlidingWindow;
}

const PASS: SecurityDecision = Object.freeze({ action: 'pass' });
const DROP: Readonly<Record<RefusalReason, SecurityDecision>> = Object.freeze({
  banned: Object.freeze({ action: 'drop', reason: 'banned' }),
  flood: Object.freeze({ action: 'drop', reason: 'flood' }),
  scanner: Object.freeze({ action: 'drop', reason: 'scanner' }),
});
const REPLY: Readonly<Record<RefusalReason, SecurityDecision>> = Object.freeze({
  banned: Object.freeze({ action: 'reply', status: 403, reason: 'banned' }),
  flood: Object.freeze({ action: 'reply', status: 403, reason: 'flood' }),
  scanner: Object.freeze({ action: 'drop', reason: 'scanner' }),
});

const positive = (v: unknown, field: string, integer = false): number => {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
    throw new SecurityError('INVALID_OPTIONS', `${field}: must be a positive ${integer ? 'integer' : 'number'}, got ${String(v)}`, { field });
  }
  return v;
};

export const createSecurity = (deps: SecurityDeps, options: SecurityOptions): Security => {
  const store = deps.bans;
  const clock = deps.clock ?? systemClock;
  const log = deps.log ?? silentLogger;

  const floodWindow = positive(options.flood?.window, 'security.flood.window');
  const floodMax = positive(options.flood?.max, 'security.flood.max', true);
  const floodBan = positive(options.flood?.ban, 'security.flood.ban');
  const authWindow = positive(options.authFailures?.window, 'security.auth_failures.window');
  const authMax = positive(options.authFailures?.max, 'security.auth_failures.max', true);
  const authBan = positive(options.authFailures?.ban, 'security.auth_failures.ban');
  const scannerBan = options.scannerBan === undefined ? authBan : positive(options.scannerBan, 'security.scanner_ban');
  const maxTracked = options.maxTrackedIps === undefined ? DEFAULT_MAX_TRACKED : positive(options.maxTrackedIps, 'security.max_tracked_ips', true);
  const sweepInterval = options.sweepInterval === undefined ? DEFAULT_SWEEP : positive(options.sweepInterval, 'security.sweep_interval');
  if (options.banReply !== 'drop' && options.banReply !== 403) {
    throw new SecurityError('INVALID_OPTIONS', `security.ban_reply: must be one of: drop, 403`, { field: 'security.ban_reply' });
  }
  const refusal = options.banReply === 403 ? REPLY : DROP;
  let trustedNetworks: (address: string) => boolean;
  try {
    trustedNetworks = createCidrMatcher(options.trusted ?? [], 'security.trusted');
  } catch (err) {
    throw new SecurityError('INVALID_OPTIONS', errorText(err), { cause: err, field: 'security.trusted' });
  }
  const scanner = createUserAgentMatcher(options.blockUserAgents ?? []);

  const bans = new Map<string, Ban>();
  const flood = new Map<string, FloodRecord>();
  const auth = new Map<string, AuthRecord>();
  const matchers: TrustMatcher[] = [];
  let trustGen = 0;
  let closed = false;
  let evictionWarned = false;

  // ---- callbacks: nothing they throw reaches the proxy ------------------------------------

  const onRefused = deps.onRefused;
  const refuse = (reason: RefusalReason, source: Endpoint): SecurityDecision => {
    if (onRefused !== undefined) {
      try {
        onRefused(reason, source);
      } catch (err) {
        log.error({ err: errorText(err) }, 'security onRefused callback threw');
      }
    }
    return refusal[reason];
  };

  const notifyBan = (ban: Ban, origin: 'local' | 'store'): void => {
    try {
      deps.onBan?.(ban, origin);
    } catch (err) {
      log.error({ err: errorText(err) }, 'security onBan callback threw');
    }
  };

  const notifyUnban = (ban: Ban, cause: 'lifted' | 'expired'): void => {
    try {
      deps.onUnban?.(ban, cause);
    } catch (err) {
      log.error({ err: errorText(err) }, 'security onUnban callback threw');
    }
  };

  /** Written behind: the view already holds the change; a store failure is logged, never thrown. */
  const writeBehind = (op: 'put' | 'remove', ip: string, write: () => Promise<void>): void => {
    const failed = (err: unknown): void => log.error({ err: errorText(err), ip, op }, 'ban store write failed; the change holds locally');
    try {
      write().catch(failed);
    } catch (err) {
      failed(err);
    }
  };

  // ---- trust -------------------------------------------------------------------------------

  const matchesAdded = (source: Endpoint): boolean => {
    for (let i = 0; i < matchers.length; i++) {
      try {
        if (matchers[i]!(source)) return true;
      } catch (err) {
        log.error({ err: errorText(err) }, 'trust matcher threw');
      }
    }
    return false;
  };

  const isTrusted = (source: Endpoint): boolean => trustedNetworks(source.address) || matchesAdded(source);

  /** Trust as the flood counter sees it: re-asked at most every TRUST_CACHE_MS per source. */
  const trustedCached = (rec: FloodRecord, source: Endpoint, now: number): boolean => {
    if (rec.trustGen === trustGen && now - rec.trustAt < TRUST_CACHE_MS && rec.trustPort === source.port && rec.trustTransport === source.transport) {
      return rec.trusted;
    }
    rec.trusted = isTrusted(source);
    rec.trustGen = trustGen;
    rec.trustAt = now;
    rec.trustTransport = source.transport;
    rec.trustPort = source.port;
    return rec.trusted;
  };

  // ---- bounded per-IP maps -------------------------------------------------------------

  const track = <V>(map: Map<string, V>, ip: string, value: V, what: string): void => {
    if (map.size >= maxTracked) {
      // oldest first: Map keeps insertion order. A spoofed-source flood recycles its own entries.
      const oldest = map.keys().next();
      if (oldest.done !== true) map.delete(oldest.value);
      if (!evictionWarned) {
        evictionWarned = true;
        log.warn({ what, maxTrackedIps: maxTracked }, 'security tracks the maximum number of addresses; evicting the oldest');
      }
    }
    map.set(ip, value);
  };

  // ---- bans ------------------------------------------------------------------------------

  const addBan = (ip: string, durationMs: number, reason: BanReason, now: number, context: object): Ban => {
    const ban = makeBan(ip, reason, now, now + durationMs);
    if (!bans.has(ip)) track(bans, ip, ban, 'bans');
    else bans.set(ip, ban);
    flood.delete(ip);
    auth.delete(ip);
    log.info({ ...context, ip, reason, expiresAt: new Date(ban.expiresAt).toISOString() }, 'source banned');
    notifyBan(ban, 'local');
    writeBehind('put', ip, () => store.put(ban));
    return ban;
  };

  const expire = (ban: Ban): void => {
    bans.delete(ban.ip);
    log.info({ ip: ban.ip, reason: ban.reason }, 'ban expired');
    notifyUnban(ban, 'expired');
  };

  const purgeExpired = (now: number): void => {
    for (const ban of bans.values()) if (ban.expiresAt <= now) expire(ban);
  };

  /** The active ban for a canonical address; an expired one is dropped on the way. */
  const activeBan = (ip: string, now: number): Ban | undefined => {
    const ban = bans.get(ip);
    if (ban === undefined) return undefined;
    if (ban.expiresAt > now) return ban;
    expire(ban);
    return undefined;
  };

  const lift = (ip: string): Ban | undefined => {
    const ban = bans.get(ip);
    if (ban === undefined) return undefined;
    bans.delete(ip);
    return ban;
  };

  /** A ban read from the store: kept unless expired, unchanged, or for a trusted network. */
  const applyStored = (ban: Ban, now: number): void => {
    if (ban.expiresAt <= now) return;
    const current = bans.get(ban.ip);
    if (current !== undefined && current.createdAt === ban.createdAt && current.expiresAt === ban.expiresAt && current.reason === ban.reason) return;
    if (trustedNetworks(ban.ip)) {
      log.warn({ ip: ban.ip, reason: ban.reason }, 'ignoring a stored ban of a trusted address');
      return;
    }
    if (current === undefined) track(bans, ban.ip, ban, 'bans');
    else bans.set(ban.ip, ban);
    flood.delete(ban.ip);
    auth.delete(ban.ip);
    notifyBan(ban, 'store');
  };

  const onStoreEvent = (event: BanStoreEvent): void => {
    if (closed) return;
    const now = clock.now();
    switch (event.type) {
      case 'ban':
        applyStored(event.ban, now);
        break;
      case 'unban': {
        const ban = lift(event.ip);
        if (ban !== undefined) notifyUnban(ban, 'lifted');
        break;
      }
      case 'sync': {
        const present = new Set<string>();
        for (const ban of event.bans) {
          present.add(ban.ip);
          applyStored(ban, now);
        }
        for (const ban of [...bans.values()]) {
          if (!present.has(ban.ip) && ban.createdAt < event.since) {
            bans.delete(ban.ip);
            notifyUnban(ban, 'lifted');
          }
        }
        break;
      }
    }
  };

  const unsubscribe = store.subscribe(onStoreEvent);

  const ready = Promise.resolve()
    .then(() => store.load())
    .then(
      (list) => {
        if (closed) return;
        const now = clock.now();
        for (const ban of list) applyStored(ban, now);
        log.info({ bans: bans.size }, 'bans loaded');
      },
      (err: unknown) => {
        log.error({ err: errorText(err) }, 'could not load bans from the store; bans made now hold locally');
      },
    );

  // ---- the hot path ----------------------------------------------------------------------

  /** True when the request repeats a recent transaction of this source (and has not repeated too often). */
  const isRetransmission = (rec: FloodRecord, req: SipMessage): boolean => {
    const key = transactionKey(req);
    if (key === -1) return false;
    const txs = rec.txs;
    for (let i = 0; i < txs.length; i += 2) {
      if (txs[i] === key) {
        const seen = txs[i + 1]!;
        if (seen >= TX_RETRANSMITS) return false;
        txs[i + 1] = seen + 1;
        return true;
      }
    }
    txs[rec.txNext] = key;
    txs[rec.txNext + 1] = 0;
    rec.txNext = rec.txNext + 2 === txs.length ? 0 : rec.txNext + 2;
    return false;
  };

  const newFloodRecord = (now: number): FloodRecord => ({
    hits: new SlidingWindow(floodMax),
    lastSeen: now,
    txs: new Array<number>(TX_RING * 2).fill(-1),
    txNext: 0,
    trusted: false,
    trustGen: -1,
    trustAt: 0,
    trustTransport: '',
    trustPort: 0,
  });

  const checkSource = (source: Endpoint): SecurityDecision => {
    if (bans.size === 0) return PASS;
    const ban = bans.get(source.address);
    if (ban === undefined) return PASS;
    if (ban.expiresAt <= clock.now()) {
      expire(ban);
      return PASS;
    }
    // bans of trusted networks are never made; the added matchers (dispatcher) are asked here
    if (matchers.length === 0 || !matchesAdded(source)) return refuse('banned', source);
    return PASS;
  };

  const check = (req: SipMessage, source: Endpoint): SecurityDecision => {
    const banned = checkSource(source);
    if (banned !== PASS) return banned;
    const ip = source.address;
    const now = clock.now();
    let rec = flood.get(ip);
    if (rec === undefined) {
      rec = newFloodRecord(now);
      track(flood, ip, rec, 'flood counters');
    }
    rec.lastSeen = now;
    // a trusted source is never banned, for a flood or a scanner's User-Agent: nothing of its
    // requests is counted or read (the backends' and trunks' requests, most of a proxy's)
    if (trustedCached(rec, source, now)) return PASS;
    if (scanner !== null) {
      const ua = req.get('user-agent');
      if (ua !== undefined && scanner(ua)) {
        addBan(ip, scannerBan, 'scanner', now, { userAgent: ua.length > 100 ? ua.slice(0, 100) : ua, method: req.method });
        return refuse('scanner', source);
      }
    }
    if (isRetransmission(rec, req)) return PASS;
    const n = rec.hits.count(now, floodWindow);
    if (n >= floodMax) {
      addBan(ip, floodBan, 'flood', now, { requests: n + 1, windowMs: floodWindow });
      return refuse('flood', source);
    }
    rec.hits.add(now);
    return PASS;
  };

  // ---- auth failures ---------------------------------------------------------------------

  const authFailure = (source: Endpoint, aor?: string): Ban | undefined => {
    const ip = source.address;
    const now = clock.now();
    if (activeBan(ip, now) !== undefined) return undefined;
    if (isTrusted(source)) {
      log.debug({ ip, aor }, 'auth failure from a trusted source: not counted for bans');
      return undefined;
    }
    let rec = auth.get(ip);
    if (rec === undefined) {
      rec = { failures: new SlidingWindow(authMax) };
      track(auth, ip, rec, 'auth failure counters');
    }
    rec.failures.count(now, authWindow);
    rec.failures.add(now);
    const n = rec.failures.size;
    if (n < authMax) return undefined;
    return addBan(ip, authBan, 'auth-failures', now, { failures: n, windowMs: authWindow, ...(aor !== undefined ? { aor } : {}) });
  };

  // ---- operator API ----------------------------------------------------------------------

  const canonical = (ip: string): string => {
    const c = typeof ip === 'string' ? canonicalIp(ip) : undefined;
    if (c === undefined) throw new SecurityError('INVALID_IP', `ip: not an IP address: ${String(ip)}`, { field: 'ip' });
    return c;
  };

  const ban = (ip: string, seconds: number, reason: BanReason = 'manual'): Ban => {
    const addr = canonical(ip);
    if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds <= 0 || seconds > MAX_BAN_SECONDS) {
      throw new SecurityError('INVALID_DURATION', `seconds: must be a number of seconds above 0 and at most ${MAX_BAN_SECONDS}`, { field: 'seconds' });
    }
    if (!isBanReason(reason)) {
      throw new SecurityError('INVALID_REASON', `reason: must be one of: flood, auth-failures, scanner, manual`, { field: 'reason' });
    }
    if (trustedNetworks(addr)) {
      throw new SecurityError('TRUSTED_SOURCE', `ip: ${addr} is in a trusted network (security.trusted) and is never banned`, { field: 'ip' });
    }
    return addBan(addr, seconds * 1000, reason, clock.now(), {});
  };

  const unban = (ip: string): boolean => {
    const addr = canonical(ip);
    const ban = lift(addr);
    flood.delete(addr);
    auth.delete(addr);
    // also when not held here: the store (or another instance) may still have it
    writeBehind('remove', addr, () => store.remove(addr));
    if (ban === undefined) return false;
    log.info({ ip: addr, reason: ban.reason }, 'ban lifted');
    notifyUnban(ban, 'lifted');
    return true;
  };

  const getBan = (ip: string): Ban | undefined => {
    const addr = typeof ip === 'string' ? canonicalIp(ip) : undefined;
    return addr === undefined ? undefined : activeBan(addr, clock.now());
  };

  // ---- housekeeping ----------------------------------------------------------------------

  let lastCounterSweep = clock.now();
  const sweep = (): void => {
    const now = clock.now();
    purgeExpired(now);
    if (now - lastCounterSweep < Math.min(floodWindow, authWindow)) return;
    lastCounterSweep = now;
    for (const [ip, rec] of flood) if (now - rec.lastSeen >= floodWindow) flood.delete(ip);
    for (const [ip, rec] of auth) if (now - rec.failures.newest >= authWindow) auth.delete(ip);
  };
  const sweeper = unrefTimer(setInterval(sweep, sweepInterval));

  return {
    check,
    checkSource,
    authFailure,
    ban,
    unban,
    listBans: () => {
      purgeExpired(clock.now());
      return [...bans.values()];
    },
    getBan,
    isBanned: (ip) => getBan(ip) !== undefined,
    activeBans: () => {
      purgeExpired(clock.now());
      return bans.size;
    },
    trackedIps: () => ({ flood: flood.size, authFailures: auth.size }),
    isTrusted,
    addTrusted: (matcher) => {
      matchers.push(matcher);
      trustGen++;
      return () => {
        const i = matchers.indexOf(matcher);
        if (i >= 0) matchers.splice(i, 1);
        trustGen++;
      };
    },
    ready,
    close: () => {
      if (closed) return;
      closed = true;
      clearInterval(sweeper);
      unsubscribe();
    },
  };
};
