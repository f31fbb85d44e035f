// The config file's shape, as written in YAML (snake_case keys, units in strings), as one TypeBox
// schema: it checks types, ranges, enumerations, address formats and unknown keys in one pass and
// names each problem by its path. Cross-field rules live in semantics.ts; units and defaults are
// applied in normalize.ts, which turns this shape into the typed `Config`.

import { FormatRegistry, Type, type Static, type TSchema } from '@sinclair/typebox';
import { isDnsServer, isHost, isIpAddress, parseCidr, parseSipUri } from './addresses.js';
import { DURATION_PATTERN, SIZE_PATTERN } from './units.js';

export const TRANSPORTS = ['udp', 'tcp', 'tls'] as const;
export const MODES = ['stateful', 'stateless'] as const;
export const STORE_KINDS = ['memory', 'redis'] as const;
export const DISPATCHER_ALGORITHMS = [
  'round-robin', 'weighted', 'hash-callid', 'hash-from', 'hash-to', 'priority', 'least-calls', 'random',
] as const;
export const BELOW_MIN_POLICIES = ['reject', 'raise'] as const;
export const MAX_CONTACTS_POLICIES = ['refuse', 'replace-oldest'] as const;
export const LOCAL_CALLS = ['via-backends', 'direct'] as const;
export const DIGEST_ALGORITHMS = ['MD5', 'SHA-256'] as const;
export const ROUTE_CALLERS = ['dispatcher', 'trunk', 'trusted', 'authenticated', 'any'] as const;
export const TRACE_CAPTURE = ['all', 'off', 'filtered'] as const;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

// Formats are global to TypeBox; the prefix keeps ours from clashing with another package's.
const FORMATS: Record<string, (value: string) => boolean> = {
  'sipfront-ip': isIpAddress,
  'sipfront-host': isHost,
  'sipfront-cidr': (v) => parseCidr(v) !== null,
  'sipfront-sip-uri': (v) => parseSipUri(v) !== null,
  'sipfront-dns-server': isDnsServer,
  'sipfront-regex': (v) => {
    try {
      new RegExp(v);
      return true;
    } catch {
      return false;
    }
  },
};
for (const [name, check] of Object.entries(FORMATS)) if (!FormatRegistry.Has(name)) FormatRegistry.Set(name, check);

// `errorMessage` is read by the error formatter in load.ts; TypeBox's own messages are the fallback.
const oneOf = <T extends string>(values: readonly T[]) =>
  Type.Union(values.map((v) => Type.Literal(v)), { errorMessage: `must be one of: ${values.join(', ')}` });
const obj = <P extends Record<string, TSchema>>(properties: P) =>
  Type.Object(properties, { additionalProperties: false });
const opt = Type.Optional;
const list = <T extends TSchema>(item: T) => Type.Array(item, { errorMessage: 'expected a list' });

const Duration = Type.Union([Type.Number({ minimum: 0 }), Type.String({ pattern: DURATION_PATTERN })], {
  errorMessage: 'not a duration: a number with ms, s, m or h (a bare number is seconds)',
});
const Size = Type.Union([Type.Integer({ minimum: 0 }), Type.String({ pattern: SIZE_PATTERN })], {
  errorMessage: 'not a size: a number with KB, MB or GB (a bare number is bytes)',
});
const count = (minimum: number) => Type.Integer({ minimum, errorMessage: `expected a whole number ≥ ${minimum}` });
const Port = Type.Integer({ minimum: 0, maximum: 65535, errorMessage: 'not a port (0-65535)' });
const Ip = Type.String({ format: 'sipfront-ip', errorMessage: 'not an IP address' });
const Host = Type.String({ format: 'sipfront-host', errorMessage: 'not a host name or IP address' });
const Cidr = Type.String({ format: 'sipfront-cidr', errorMessage: 'not a CIDR (e.g. 10.0.0.0/24, 2001:db8::/32)' });
const SipUri = Type.String({
  format: 'sipfront-sip-uri',
  errorMessage: 'not a SIP URI (sip: or sips: host[:port][;params], transport udp, tcp or tls)',
});
const Regex = Type.String({ format: 'sipfront-regex', errorMessage: 'not a valid regular expression' });
const Text = Type.String({ minLength: 1, errorMessage: 'expected a non-empty string (quote numbers: "1001")' });
const Bool = Type.Boolean({ errorMessage: 'expected true or false' });
const StatusCode = Type.Integer({ minimum: 100, maximum: 699, errorMessage: 'not a SIP status code (100-699)' });
const FailoverCode = Type.Integer({ minimum: 300, maximum: 699, errorMessage: 'not a failure status code (300-699)' });
const hex = (length: number) =>
  Type.String({ pattern: `^[0-9a-fA-F]{${length}}$`, errorMessage: `expected ${length} hex digits` });

const Listen = obj({
  transport: oneOf(TRANSPORTS),
  host: opt(Ip),
  port: opt(Port),
  cert: opt(Text),
  key: opt(Text),
  allow: opt(list(Cidr)),
  deny: opt(list(Cidr)),
});

const Destination = obj({
  uri: SipUri,
  weight: opt(count(0)),
  priority: opt(Type.Integer({ errorMessage: 'expected a whole number' })),
});

const DispatcherSet = obj({
  id: count(1),
  name: opt(Text),
  algorithm: opt(oneOf(DISPATCHER_ALGORITHMS)),
  destinations: opt(list(Destination)),
});

const Subscriber = obj({
  user: Text,
  domain: Host,
  password: opt(Text),
  ha1: opt(hex(32)),
  ha1_sha256: opt(hex(64)),
});

const Trunk = obj({
  id: Text,
  registrar: SipUri,
  user: Text,
  password: opt(Text),
  ha1: opt(hex(32)),
  auth_user: opt(Text),
  realm: opt(Text),
  contact_user: opt(Text),
  domain: opt(Host),
  from_user: opt(Text),
  outbound_proxy: opt(SipUri),
  inbound_from: opt(list(Cidr)),
  expires: opt(Duration),
  route_to: opt(count(1)),
  retry: opt(obj({
    interval: opt(Duration),
    forbidden_interval: opt(Duration),
    max_attempts: opt(count(0)),
    initial_delay_max: opt(Duration),
  })),
});

const Route = obj({
  match: opt(obj({
    ruri_user: opt(Regex),
    ruri_domain: opt(Regex),
    from_user: opt(Regex),
    from_domain: opt(Regex),
    method: opt(Regex),
  })),
  to: obj({ trunk: opt(Text), set: opt(count(1)), uri: opt(SipUri) }),
  from: opt(list(oneOf(ROUTE_CALLERS))),
});

export const RawConfigSchema = obj({
  listen: opt(list(Listen)),
  advertise: opt(obj({ host: Host })),
  mode: opt(oneOf(MODES)),
  domains: opt(list(Host)),
  store: opt(obj({
    kind: opt(oneOf(STORE_KINDS)),
    path: opt(Text),
    url: opt(Text),
    prefix: opt(Type.String({ errorMessage: 'expected a string' })),
  })),
  api: opt(obj({
    host: opt(Ip),
    port: opt(Port),
    token: opt(Text),
    metrics_allow: opt(list(Cidr)),
  })),
  dispatcher: opt(obj({
    probe: opt(obj({
      interval: opt(Duration),
      timeout: opt(Duration),
      down_after: opt(count(1)),
      up_after: opt(count(1)),
      accept: opt(list(StatusCode)),
    })),
    failover: opt(obj({
      codes: opt(list(FailoverCode)),
      first_answer: opt(Duration),
      max_tries: opt(count(1)),
    })),
    sets: opt(list(DispatcherSet)),
  })),
  registrar: opt(obj({
    expires: opt(obj({
      min: opt(Duration),
      max: opt(Duration),
      default: opt(Duration),
      below_min: opt(oneOf(BELOW_MIN_POLICIES)),
    })),
    max_contacts: opt(count(0)),
    max_contacts_policy: opt(oneOf(MAX_CONTACTS_POLICIES)),
    local_calls: opt(oneOf(LOCAL_CALLS)),
    keepalive: opt(obj({ interval: opt(Duration) })),
    auth: opt(obj({
      required: opt(Bool),
      algorithms: opt(list(oneOf(DIGEST_ALGORITHMS))),
      realm: opt(Text),
      nonce_secret: opt(Text),
    })),
    subscribers: opt(list(Subscriber)),
  })),
  security: opt(obj({
    enabled: opt(Bool),
    trusted: opt(list(Cidr)),
    flood: opt(obj({ window: opt(Duration), max: opt(count(1)), ban: opt(Duration) })),
    auth_failures: opt(obj({ max: opt(count(1)), window: opt(Duration), ban: opt(Duration) })),
    block_user_agents: opt(list(Text)),
    ban_reply: opt(Type.Union([Type.Literal('drop'), Type.Literal(403), Type.Literal('403')], {
      errorMessage: 'must be one of: drop, 403',
    })),
  })),
  trunks: opt(list(Trunk)),
  routes: opt(list(Route)),
  trace: opt(obj({
    calls: opt(count(0)),
    max_bytes: opt(Size),
    capture: opt(oneOf(TRACE_CAPTURE)),
  })),
  sip: opt(obj({
    t1: opt(Duration),
    t2: opt(Duration),
    t4: opt(Duration),
    timer_c: opt(Duration),
    udp_mtu: opt(Size),
    max_message: opt(Size),
    max_headers: opt(count(1)),
    max_connections_per_ip: opt(count(0)),
    udp_read_window: opt(Duration),
    max_load: opt(Type.Number({ minimum: 0, exclusiveMaximum: 1, errorMessage: 'expected a share of the time, 0 ≤ max_load < 1 (0 = never refuse)' })),
    dns_servers: opt(list(Type.String({
      format: 'sipfront-dns-server',
      errorMessage: 'not a DNS server address (IP, IPv4:port or [IPv6]:port)',
    }))),
  })),
  workers: opt(Type.Union([count(1), Type.Literal('auto')], { errorMessage: 'must be a whole number ≥ 1 or auto' })),
  log: opt(obj({ level: opt(oneOf(LOG_LEVELS)) })),
});

/** The config file as written, once it has passed the schema. */
export type RawConfig = Static<typeof RawConfigSchema>;
