// Turns a config that passed the schema and the semantic rules into the typed `Config`: defaults
// for absent keys, units into milliseconds / bytes / seconds, paths made absolute, camelCase keys.
// Every default of the contract lives here, in one place.

import { resolve } from 'node:path';
import { normalizeCidr, parseSipUri } from './addresses.js';
import type { RawConfig } from './schema.js';
import type {
  Config, DispatcherSetConfig, ListenConfig, RouteConfig, RouteTarget, StoreConfig, SubscriberConfig, TrunkConfig,
} from './types.js';
import { parseDuration, parseSize } from './units.js';

type DurationValue = number | string | undefined;

const ms = (value: DurationValue, fallback: string): number => parseDuration(value ?? fallback) ?? 0;
const seconds = (value: DurationValue, fallback: number): number =>
  value === undefined ? fallback : Math.round((parseDuration(value) ?? 0) / 1000);
const bytes = (value: number | string | undefined, fallback: string): number => parseSize(value ?? fallback) ?? 0;
const cidrs = (values: readonly string[] | undefined): string[] => (values ?? []).map(normalizeCidr);

export const DEFAULT_BLOCK_USER_AGENTS = ['friendly-scanner', 'sipvicious', 'sipcli'] as const;
export const DEFAULT_ROUTE_FROM = ['dispatcher', 'trusted', 'authenticated'] as const;
export const DEFAULT_REDIS_PREFIX = 'sipfront:';

export interface NormalizeContext {
  readonly cwd: string;
  readonly source: string;
}

export function normalize(raw: RawConfig, ctx: NormalizeContext): Config {
  const listen: ListenConfig[] = (raw.listen ?? [
    { transport: 'udp', host: '0.0.0.0', port: 5060 },
    { transport: 'tcp', host: '0.0.0.0', port: 5060 },
  ]).map((l) => ({
    transport: l.transport,
    host: l.host ?? '0.0.0.0',
    port: l.port ?? (l.transport === 'tls' ? 5061 : 5060),
    cert: l.transport === 'tls' && l.cert !== undefined ? resolve(ctx.cwd, l.cert) : null,
    key: l.transport === 'tls' && l.key !== undefined ? resolve(ctx.cwd, l.key) : null,
    allow: cidrs(l.allow),
    deny: cidrs(l.deny),
  }));

  const store: StoreConfig = raw.store?.kind === 'redis'
    ? { kind: 'redis', url: raw.store.url ?? '', prefix: raw.store.prefix ?? DEFAULT_REDIS_PREFIX }
    : { kind: 'memory', path: resolve(ctx.cwd, raw.store?.path ?? './data') };

  const d = raw.dispatcher ?? {};
  const sets: DispatcherSetConfig[] = (d.sets ?? []).map((s) => ({
    id: s.id,
    name: s.name ?? String(s.id),
    algorithm: s.algorithm ?? 'round-robin',
    destinations: (s.destinations ?? []).map((dest) => ({
      uri: dest.uri,
      weight: dest.weight ?? 1,
      priority: dest.priority ?? 0,
    })),
  }));

  const r = raw.registrar ?? {};
  const expiresMax = seconds(r.expires?.max, 3600);
  const subscribers: SubscriberConfig[] = (r.subscribers ?? []).map((s) => ({
    user: s.user,
    domain: s.domain,
    password: s.password ?? null,
    ha1: s.ha1?.toLowerCase() ?? null,
    ha1Sha256: s.ha1_sha256?.toLowerCase() ?? null,
  }));

  const sec = raw.security ?? {};
  const trunks: TrunkConfig[] = (raw.trunks ?? []).map((t) => ({
    id: t.id,
    registrar: t.registrar,
    user: t.user,
    password: t.password ?? null,
    ha1: t.ha1?.toLowerCase() ?? null,
    authUser: t.auth_user ?? t.user,
    realm: t.realm ?? null,
    contactUser: t.contact_user ?? t.user,
    domain: t.domain ?? parseSipUri(t.registrar)?.host ?? '',
    fromUser: t.from_user ?? t.user,
    outboundProxy: t.outbound_proxy ?? null,
    inboundFrom: cidrs(t.inbound_from),
    expires: seconds(t.expires, 3600),
    routeTo: t.route_to ?? 1,
    retry: {
      interval: ms(t.retry?.interval, '20s'),
      forbiddenInterval: ms(t.retry?.forbidden_interval, '300s'),
      maxAttempts: t.retry?.max_attempts ?? 0,
      initialDelayMax: ms(t.retry?.initial_delay_max, '2s'),
    },
  }));

  const routes: RouteConfig[] = (raw.routes ?? []).map((route) => {
    const to: RouteTarget = route.to.trunk !== undefined
      ? { kind: 'trunk', trunk: route.to.trunk }
      : route.to.set !== undefined
        ? { kind: 'set', set: route.to.set }
        : { kind: 'uri', uri: route.to.uri ?? '' };
    return {
      match: {
        ruriUser: route.match?.ruri_user ?? null,
        ruriDomain: route.match?.ruri_domain ?? null,
        fromUser: route.match?.from_user ?? null,
        fromDomain: route.match?.from_domain ?? null,
        method: route.match?.method ?? null,
      },
      to,
      from: route.from ?? [...DEFAULT_ROUTE_FROM],
    };
  });

  const sip = raw.sip ?? {};
  return {
    source: ctx.source,
    listen,
    advertise: raw.advertise ? { host: raw.advertise.host } : null,
    mode: raw.mode ?? 'stateful',
    domains: (raw.domains ?? []).map((domain) => domain.toLowerCase()),
    store,
    api: {
      host: raw.api?.host ?? '127.0.0.1',
      port: raw.api?.port ?? 8080,
      token: raw.api?.token ?? null,
      metricsAllow: cidrs(raw.api?.metrics_allow),
    },
    dispatcher: {
      probe: {
        interval: ms(d.probe?.interval, '5s'),
        timeout: ms(d.probe?.timeout, '2s'),
        downAfter: d.probe?.down_after ?? 3,
        upAfter: d.probe?.up_after ?? 1,
        accept: d.probe?.accept ?? [200],
      },
      failover: {
        codes: d.failover?.codes ?? [500, 502, 503, 504, 408],
        firstAnswer: ms(d.failover?.first_answer, '2s'),
        maxTries: d.failover?.max_tries ?? 3,
      },
      sets,
    },
    registrar: {
      expires: {
        min: seconds(r.expires?.min, 60),
        max: expiresMax,
        default: Math.min(seconds(r.expires?.default, 3600), expiresMax),
        belowMin: r.expires?.below_min ?? 'reject',
      },
      maxContacts: r.max_contacts ?? 0,
      maxContactsPolicy: r.max_contacts_policy ?? 'refuse',
      localCalls: r.local_calls ?? 'via-backends',
      keepalive: { interval: ms(r.keepalive?.interval, '0') },
      auth: {
        required: r.auth?.required ?? true,
        algorithms: r.auth?.algorithms ?? ['MD5'],
        realm: r.auth?.realm ?? null,
        nonceSecret: r.auth?.nonce_secret ?? null,
      },
      subscribers,
    },
    security: {
      enabled: sec.enabled ?? true,
      trusted: cidrs(sec.trusted),
      flood: { window: ms(sec.flood?.window, '2s'), max: sec.flood?.max ?? 50, ban: ms(sec.flood?.ban, '300s') },
      authFailures: {
        max: sec.auth_failures?.max ?? 5,
        window: ms(sec.auth_failures?.window, '60s'),
        ban: ms(sec.auth_failures?.ban, '3600s'),
      },
      blockUserAgents: sec.block_user_agents ?? [...DEFAULT_BLOCK_USER_AGENTS],
      banReply: sec.ban_reply === undefined || sec.ban_reply === 'drop' ? 'drop' : 403,
    },
    trunks,
    routes,
    trace: {
      calls: raw.trace?.calls ?? 2000,
      maxBytes: bytes(raw.trace?.max_bytes, '64MB'),
      capture: raw.trace?.capture ?? 'all',
    },
    sip: {
      t1: ms(sip.t1, '500ms'),
      t2: ms(sip.t2, '4s'),
      t4: ms(sip.t4, '5s'),
      timerC: ms(sip.timer_c, '180s'),
      udpMtu: bytes(sip.udp_mtu, '0'),
      maxMessage: bytes(sip.max_message, '64KB'),
      maxHeaders: sip.max_headers ?? 256,
      maxConnectionsPerIp: sip.max_connections_per_ip ?? 64,
      dnsServers: sip.dns_servers ?? [],
      maxLoad: sip.max_load ?? 0.99,
      udpReadWindow: ms(sip.udp_read_window, '1ms'),
    },
    workers: raw.workers ?? 1,
    log: { level: raw.log?.level ?? 'info' },
  };
}

/** Freezes the object and everything reachable from it, so no component can change the config. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
