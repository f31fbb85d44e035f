// The typed, deeply frozen configuration every component receives. Keys are the YAML keys in
// camelCase. Units, everywhere: durations are MILLISECONDS (`sip.t1` = 500), sizes are BYTES
// (`trace.maxBytes`), and SIP Expires values (`registrar.expires.*`, `trunks[].expires`) are
// SECONDS, as on the wire. Every key is present: an absent YAML key has its default, and an
// optional value that is not set is `null`. Paths (store, certificates) are absolute.

import type { TrunkSpec } from '@sipfront/trunks';
import type {
  BELOW_MIN_POLICIES, DIGEST_ALGORITHMS, DISPATCHER_ALGORITHMS, LOCAL_CALLS, LOG_LEVELS,
  MAX_CONTACTS_POLICIES, MODES, ROUTE_CALLERS, TRACE_CAPTURE, TRANSPORTS,
} from './schema.js';

export type Transport = (typeof TRANSPORTS)[number];
export type Mode = (typeof MODES)[number];
export type DispatcherAlgorithm = (typeof DISPATCHER_ALGORITHMS)[number];
export type BelowMinPolicy = (typeof BELOW_MIN_POLICIES)[number];
export type MaxContactsPolicy = (typeof MAX_CONTACTS_POLICIES)[number];
export type LocalCalls = (typeof LOCAL_CALLS)[number];
export type DigestAlgorithm = (typeof DIGEST_ALGORITHMS)[number];
export type RouteCaller = (typeof ROUTE_CALLERS)[number];
export type TraceCapture = (typeof TRACE_CAPTURE)[number];
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface ListenConfig {
  readonly transport: Transport;
  /** An IP address; `0.0.0.0` / `::` are expanded at start into one socket per local address. */
  readonly host: string;
  /** Default 5060, 5061 for tls; 0 = any free port (tests). */
  readonly port: number;
  /** Absolute paths, set (and existing) for tls only. */
  readonly cert: string | null;
  readonly key: string | null;
  /** CIDRs (always with a prefix length); empty = no restriction. */
  readonly allow: readonly string[];
  readonly deny: readonly string[];
}

export interface AdvertiseConfig {
  /** IP address or host name written into Via / Record-Route. */
  readonly host: string;
}

export type StoreConfig =
  | { readonly kind: 'memory'; /** Absolute directory the state is persisted to. */ readonly path: string }
  | { readonly kind: 'redis'; readonly url: string; readonly prefix: string };

export interface ApiConfig {
  readonly host: string;
  readonly port: number;
  /** Bearer token; null = none (then only a loopback api.host is accepted). */
  readonly token: string | null;
  /** CIDRs allowed to read /metrics; empty = anyone who reaches the API. */
  readonly metricsAllow: readonly string[];
}

export interface DestinationConfig {
  /** Also the destination's id within its set. */
  readonly uri: string;
  readonly weight: number;
  /** Lower first. */
  readonly priority: number;
}

export interface DispatcherSetConfig {
  readonly id: number;
  readonly name: string;
  readonly algorithm: DispatcherAlgorithm;
  readonly destinations: readonly DestinationConfig[];
}

export interface DispatcherConfig {
  readonly probe: {
    readonly interval: number; // ms
    readonly timeout: number; // ms
    readonly downAfter: number;
    readonly upAfter: number;
    readonly accept: readonly number[];
  };
  readonly failover: {
    readonly codes: readonly number[];
    readonly firstAnswer: number; // ms
    readonly maxTries: number;
  };
  readonly sets: readonly DispatcherSetConfig[];
}

export interface SubscriberConfig {
  readonly user: string;
  readonly domain: string;
  /** At least one of password, ha1, ha1Sha256 is set. */
  readonly password: string | null;
  readonly ha1: string | null;
  readonly ha1Sha256: string | null;
}

export interface RegistrarConfig {
  /** SECONDS (SIP Expires). `default` is already capped at `max`. */
  readonly expires: { readonly min: number; readonly max: number; readonly default: number; readonly belowMin: BelowMinPolicy };
  /** Per AOR; 0 = no limit. */
  readonly maxContacts: number;
  readonly maxContactsPolicy: MaxContactsPolicy;
  readonly localCalls: LocalCalls;
  /** ms; 0 = off. */
  readonly keepalive: { readonly interval: number };
  readonly auth: {
    readonly required: boolean;
    /** Challenge order; non-empty, no duplicates. */
    readonly algorithms: readonly DigestAlgorithm[];
    /** null = the AOR's domain. */
    readonly realm: string | null;
    /** null = a random secret per instance (nonces then do not cross instances). */
    readonly nonceSecret: string | null;
  };
  readonly subscribers: readonly SubscriberConfig[];
}

export interface SecurityConfig {
  /** false = no ban, flood or scanner screening of requests (for measuring its overhead); default true. */
  readonly enabled: boolean;
  /** CIDRs. */
  readonly trusted: readonly string[];
  readonly flood: { readonly window: number; readonly max: number; readonly ban: number }; // ms, count, ms
  readonly authFailures: { readonly max: number; readonly window: number; readonly ban: number }; // count, ms, ms
  readonly blockUserAgents: readonly string[];
  readonly banReply: 'drop' | 403;
}

/**
 * A trunk as configured: the trunks package's own shape (one definition for both). What the YAML
 * may leave out: `auth_user`, `contact_user` and `from_user` default to `user`, `domain` to the
 * registrar URI's host, `route_to` to set 1; `expires` is in SECONDS, the retry durations in ms.
 */
export type TrunkConfig = TrunkSpec;

export type RouteTarget =
  | { readonly kind: 'trunk'; readonly trunk: string }
  | { readonly kind: 'set'; readonly set: number }
  | { readonly kind: 'uri'; readonly uri: string };

export interface RouteConfig {
  /** JavaScript regular expression sources, as written (unanchored unless they say ^ / $); null = any. */
  readonly match: {
    readonly ruriUser: string | null;
    readonly ruriDomain: string | null;
    readonly fromUser: string | null;
    readonly fromDomain: string | null;
    readonly method: string | null;
  };
  readonly to: RouteTarget;
  /** Default: dispatcher, trusted, authenticated. */
  readonly from: readonly RouteCaller[];
}

export interface TraceConfig {
  readonly calls: number;
  readonly maxBytes: number;
  readonly capture: TraceCapture;
}

export interface SipConfig {
  readonly t1: number; // ms
  readonly t2: number; // ms
  readonly t4: number; // ms
  readonly timerC: number; // ms
  /** Bytes; 0 = never switch to TCP for size (RFC 3261 §18.1.1 off). */
  readonly udpMtu: number;
  readonly maxMessage: number; // bytes
  readonly maxHeaders: number;
  /** 0 = no limit. */
  readonly maxConnectionsPerIp: number;
  /** `IP`, `IPv4:port` or `[IPv6]:port`; empty = the system's resolvers. */
  readonly dnsServers: readonly string[];
  /** load shedding: the event loop's busy share above which new requests start getting 503; 0 = never */
  readonly maxLoad: number;
  /**
   * ms a UDP socket's next read waits after one that emptied its queue, so that what comes
   * meanwhile is read in one wake-up (batched reading only); 0 = every datagram wakes the proxy
   */
  readonly udpReadWindow: number;
}

export interface Config {
  /** Where the config came from (absolute file path, or the sourceName given to parseConfigText). */
  readonly source: string;
  readonly listen: readonly ListenConfig[];
  readonly advertise: AdvertiseConfig | null;
  readonly mode: Mode;
  readonly domains: readonly string[];
  readonly store: StoreConfig;
  readonly api: ApiConfig;
  readonly dispatcher: DispatcherConfig;
  readonly registrar: RegistrarConfig;
  readonly security: SecurityConfig;
  readonly trunks: readonly TrunkConfig[];
  readonly routes: readonly RouteConfig[];
  readonly trace: TraceConfig;
  readonly sip: SipConfig;
  readonly workers: number | 'auto';
  readonly log: { readonly level: LogLevel };
}
