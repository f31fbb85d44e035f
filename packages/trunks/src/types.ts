// The trunk package's shapes: a trunk as configured (the server's TrunkConfig is this type), its
// state as the API shows it (CONTRACT "A trunk as returned"), the events for metrics and SSE,
// and what the package needs from outside (a way to send a request, our Contact, DNS, time).
import type { Endpoint, SipMessage } from '@sipfront/core';

/**
 * One trunk, every key present (the server's config uses it as `TrunkConfig`). Durations in
 * ms, `expires` in seconds (SIP Expires), as in the config types.
 */
export interface TrunkSpec {
  readonly id: string;
  /** A SIP URI; port and transport come from it (RFC 3263 resolution by the sender). */
  readonly registrar: string;
  readonly user: string;
  /** Exactly one of password / ha1 is set. `ha1` is MD5(auth_user:realm:password). */
  readonly password: string | null;
  readonly ha1: string | null;
  readonly authUser: string;
  /** null = taken from the challenge; set = a challenge with another realm fails. */
  readonly realm: string | null;
  readonly contactUser: string;
  readonly domain: string;
  readonly fromUser: string;
  readonly outboundProxy: string | null;
  /** CIDRs the provider calls from, besides the registrar's (and outbound proxy's) addresses. */
  readonly inboundFrom: readonly string[];
  /** Seconds asked for in REGISTER. */
  readonly expires: number;
  /** Dispatcher set that receives the trunk's calls. */
  readonly routeTo: number;
  readonly retry: {
    readonly interval: number;
    readonly forbiddenInterval: number;
    /** 0 = for ever. */
    readonly maxAttempts: number;
    readonly initialDelayMax: number;
  };
}

/** A trunk as the API may receive it: what the config makes optional may be left out. */
export interface TrunkInput {
  id: string;
  registrar: string;
  user: string;
  password?: string | null;
  ha1?: string | null;
  authUser?: string | null;
  realm?: string | null;
  contactUser?: string | null;
  domain?: string | null;
  fromUser?: string | null;
  outboundProxy?: string | null;
  inboundFrom?: readonly string[];
  expires?: number;
  routeTo?: number;
  retry?: Partial<TrunkSpec['retry']>;
}

export type TrunkStateName = 'unregistered' | 'registering' | 'registered' | 'retrying' | 'rejected';

/** A trunk as returned by the API (never a password or HA1). Times are ISO 8601 or null. */
export interface TrunkView {
  id: string;
  registrar: string;
  user: string;
  state: TrunkStateName;
  /** when the provider's binding runs out (also while `retrying` after a failed refresh) */
  registeredUntil: string | null;
  /** last REGISTER response code; null before any or after a timeout */
  lastCode: number | null;
  lastReason: string | null;
  /** when the next REGISTER goes out (refresh or retry); null when none is planned */
  nextAttemptAt: string | null;
}

export interface TrunkStateEvent {
  trunk: TrunkView;
  previous: TrunkStateName;
  /** for `sipfront_trunk_registered{trunk}`: the provider holds a binding of ours right now */
  registered: boolean;
}

export interface TrunkResponseEvent {
  trunk: string;
  /** the REGISTER's final status; null when nothing came back in time */
  code: number | null;
}

/** What `send` returns: proxy.originate()'s result fits. */
export interface TrunkSendResult {
  response?: SipMessage | undefined;
  code: number | null;
  error?: string | undefined;
}

/**
 * Sends a request sipfront originates through a client transaction (adds Via and Max-Forwards,
 * resolves `destination` per RFC 3263) and resolves with the final response; never rejects.
 */
export type TrunkSender = (req: SipMessage, destination: string, timeoutMs: number) => Promise<TrunkSendResult>;

export interface TrunkLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface TrunkClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Turns a SIP URI into transport addresses (core's `createResolver()` fits). */
export interface TrunkResolver {
  resolve(uri: string): Endpoint[] | Promise<Endpoint[]>;
}

export interface TrunkManagerDeps {
  send: TrunkSender;
  /**
   * Our `host:port` for the trunk's Contact, on the listener that reaches its registrar (or
   * outbound proxy): the advertised host, else that listener's address. A `;transport=` for a
   * non-UDP trunk is added here when the value has none.
   */
  localContact: (trunk: TrunkSpec) => string;
  /** Resolves registrar / outbound proxy host names for inbound matching; default: IP literals only. */
  resolver?: TrunkResolver;
  clock?: TrunkClock;
  log?: TrunkLogger;
  /** Every state change and every refresh (registeredUntil moved). Must not throw (it is caught). */
  onState?: (e: TrunkStateEvent) => void;
  /** Every final REGISTER response (and timeout), for `sipfront_trunk_register_responses_total`. */
  onResponse?: (e: TrunkResponseEvent) => void;
  /** [0, 1): the initial random delay and Call-IDs / tags; default Math.random. */
  random?: () => number;
  /** Bound on one REGISTER transaction; default 32 000 (64·T1). */
  requestTimeoutMs?: number;
  /** Bound on the Expires: 0 round at close(); default 3000. */
  unregisterTimeoutMs?: number;
  /** User-Agent of our REGISTERs; default `sipfront`. */
  userAgent?: string;
  /**
   * `workers: N`, every worker but the one that registers: this manager sends nothing (no
   * REGISTER, no Expires: 0); it takes the registering manager's trunks and state (`follow`) so
   * that calls from and to the providers route the same in every worker.
   */
  follower?: boolean;
}

/** One trunk as another process needs it to route its calls: the spec and the registration. */
export interface TrunkMirror {
  spec: TrunkSpec;
  state: TrunkStateName;
  /** epoch ms, null = none */
  registeredUntil: number | null;
  lastCode: number | null;
  lastReason: string | null;
  /** the provider's resolved addresses, by provider URI */
  addresses: Array<[string, string[]]>;
}

/** A trunk an inbound request belongs to (contract step 7). */
export interface TrunkMatch {
  id: string;
  /** the dispatcher set that receives the call */
  routeTo: number;
  trunk: TrunkSpec;
}

/** What the proxy changes on an initial request it sends out through a trunk. */
export interface OutboundPlan {
  trunk: string;
  /** where it goes: the outbound proxy, else the registrar URI */
  destination: string;
  /** `sip:<dialled user>@<domain>` */
  requestUri: string;
  /** the whole new From value: `<sip:from_user@domain>;tag=<the caller's tag>` */
  from: string;
  /** Route set to put in front (the outbound proxy, loose routing), or empty */
  route: string[];
  /** header keys (lower case) to remove: the caller's identity headers and credentials */
  removeHeaders: string[];
  /** headers to add: `P-Asserted-Identity: <sip:from_user@domain>` */
  addHeaders: Array<[string, string]>;
}

export interface OutboundOptions {
  /** the user part to dial (e.g. the Request-URI user with a route prefix stripped); default: the Request-URI's user */
  user?: string;
}

export interface ChallengeAnswer {
  /** `['Proxy-Authorization', value]` for a 407, `['Authorization', value]` for a 401 */
  authorization: [string, string];
  /** the realm answered (for logs) */
  realm: string;
}
