// TypeBox schemas of the REST API: each is a JSON schema (Fastify validates bodies and params
// with it, and @fastify/swagger writes it into the OpenAPI document) and a TypeScript type.
import { Type, type Static, type TLiteral, type TUnion } from '@sinclair/typebox';

const ALGORITHM_NAMES = ['round-robin', 'weighted', 'hash-callid', 'hash-from', 'hash-to', 'priority', 'least-calls', 'random'] as const;
const DESTINATION_STATES = ['active', 'inactive', 'probing', 'disabled', 'draining'] as const;
const OPERATOR_STATE_NAMES = ['active', 'disabled', 'draining'] as const;
const BAN_REASON_NAMES = ['flood', 'auth-failures', 'scanner', 'manual'] as const;

/** A string that is one of `values` (an enum in the docs, a union of literals in TypeScript). */
const literals = <const T extends readonly string[]>(values: T, options: { description?: string } = {}): TUnion<Array<TLiteral<T[number]>>> =>
  Type.Union(values.map((v) => Type.Literal(v as T[number])), options);

// ---- shared ----------------------------------------------------------------------------

export const ErrorReply = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'stable, e.g. invalid-request, not-found, unknown-set, duplicate-destination' }),
      message: Type.String(),
      field: Type.Optional(Type.String({ description: 'the offending field of the body or path, e.g. destinations[0].uri' })),
    }),
  },
  { description: 'Every 4xx and 5xx answer' },
);

/** The error replies of a route, for the docs (the error handler sends them). */
export const errors = { '4xx': ErrorReply, '5xx': ErrorReply } as const;

const SipUri = Type.String({ pattern: '^[sS][iI][pP][sS]?:\\S+$', maxLength: 1024, description: 'a sip: or sips: URI; also the destination id', examples: ['sip:10.0.0.11:5060'] });

// ---- domains ---------------------------------------------------------------------------

export const Domain = Type.Object({ domain: Type.String() });
export const DomainList = Type.Object({ domains: Type.Array(Domain) });
export const DomainBody = Type.Object(
  { domain: Type.String({ minLength: 1, maxLength: 253, pattern: '^[^\\s@/]+$', examples: ['example.com'] }) },
  { additionalProperties: false },
);
export const DomainParams = Type.Object({ domain: Type.String({ minLength: 1 }) });

// ---- dispatcher ------------------------------------------------------------------------

export const Probe = Type.Object(
  {
    at: Type.String({ description: 'ISO 8601 time the probe finished' }),
    code: Type.Union([Type.Integer(), Type.Null()], { description: 'null on a local timeout or send failure' }),
    rttMs: Type.Number(),
    timedOut: Type.Boolean(),
    error: Type.Optional(Type.String()),
  },
  {},
);

export const Destination = Type.Object(
  {
    id: Type.String({ description: 'its URI' }),
    uri: Type.String(),
    weight: Type.Number(),
    priority: Type.Number(),
    attrs: Type.Record(Type.String(), Type.Unknown()),
    state: literals(DESTINATION_STATES),
    lastProbe: Type.Union([Probe, Type.Null()]),
    probes: Type.Array(Probe, { description: 'the last 10, newest first' }),
    activeCalls: Type.Integer(),
    selectedTotal: Type.Integer(),
  },
  {},
);
export const DestinationList = Type.Object({ destinations: Type.Array(Destination) });

export const DispatcherSet = Type.Object(
  {
    id: Type.Integer(),
    name: Type.String(),
    algorithm: literals(ALGORITHM_NAMES),
    destinations: Type.Array(Destination),
  },
  {},
);
export const SetList = Type.Object({ sets: Type.Array(DispatcherSet) });

export const DestinationBody = Type.Object(
  {
    uri: SipUri,
    weight: Type.Optional(Type.Number({ minimum: 0, default: 1, description: 'weighted and hash algorithms; 0 = last resort only' })),
    priority: Type.Optional(Type.Number({ default: 0, description: 'priority algorithm: lower first' })),
    state: Type.Optional(literals(['active', 'disabled'] as const, { description: 'disabled adds it out of service' })),
  },
  { additionalProperties: false },
);

const setFields = {
  name: Type.Optional(Type.String({ maxLength: 200, description: 'default: set-<id>' })),
  algorithm: Type.Optional(literals(ALGORITHM_NAMES, { description: 'default round-robin' })),
  destinations: Type.Optional(Type.Array(DestinationBody, { maxItems: 1000 })),
};
export const SetCreateBody = Type.Object({ id: Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1 }), ...setFields }, { additionalProperties: false });
export const SetPutBody = Type.Object(
  { id: Type.Optional(Type.Integer({ description: 'must equal the id in the path when given' })), ...setFields },
  { additionalProperties: false },
);
export const SetParams = Type.Object({ id: Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1 }) });
export const DestinationParams = Type.Object({
  id: Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1 }),
  destId: Type.String({ minLength: 1, description: 'the destination URI, URL-encoded' }),
});
export const StateBody = Type.Object({ state: literals(OPERATOR_STATE_NAMES) }, { additionalProperties: false });

// ---- subscribers -----------------------------------------------------------------------

export const Subscriber = Type.Object(
  {
    user: Type.String(),
    domain: Type.String(),
    realms: Type.Array(Type.String()),
    algorithms: Type.Array(Type.String(), { description: 'digest hashes an HA1 is held for; never the HA1 itself' }),
  },
  {},
);
export const SubscriberList = Type.Object({ subscribers: Type.Array(Subscriber) });
const credentials = {
  password: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'hashed at once; never stored nor returned' })),
  ha1: Type.Optional(Type.String({ pattern: '^[0-9a-fA-F]{32}$', description: 'MD5(user:realm:password)' })),
  ha1Sha256: Type.Optional(Type.String({ pattern: '^[0-9a-fA-F]{64}$', description: 'SHA-256(user:realm:password)' })),
};
export const SubscriberCreateBody = Type.Object(
  {
    user: Type.String({ minLength: 1, maxLength: 128, pattern: '^[^\\s@]+$' }),
    domain: Type.String({ minLength: 1, maxLength: 253, pattern: '^[^\\s@/]+$' }),
    ...credentials,
  },
  { additionalProperties: false, description: 'one of password, ha1, ha1Sha256 is required' },
);
export const SubscriberPutBody = Type.Object(credentials, { additionalProperties: false, description: 'one of password, ha1, ha1Sha256 is required' });
export const SubscriberParams = Type.Object({ id: Type.String({ pattern: '^[^@\\s]+@[^@\\s]+$', description: 'user@domain, URL-encoded' }) });
export const SubscriberQuery = Type.Object({ domain: Type.Optional(Type.String()) }, { additionalProperties: false });

// ---- registrations ---------------------------------------------------------------------

export const Registration = Type.Object(
  {
    aor: Type.String(),
    contacts: Type.Array(
      Type.Object({
        uri: Type.String(),
        expiresIn: Type.Integer({ description: 'seconds' }),
        source: Type.String({ examples: ['udp:203.0.113.7:5060'] }),
        userAgent: Type.Union([Type.String(), Type.Null()]),
        q: Type.Union([Type.Number(), Type.Null()]),
        callId: Type.String(),
        path: Type.Array(Type.String()),
        instanceId: Type.Optional(Type.String({ description: 'the sipfront instance that holds the flow' })),
      }),
    ),
  },
  {},
);
export const RegistrationList = Type.Object({ registrations: Type.Array(Registration) });
export const AorParams = Type.Object({ aor: Type.String({ pattern: '^[^@\\s]+@[^@\\s]+$', description: 'user@domain, URL-encoded' }) });

// ---- bans ------------------------------------------------------------------------------

export const Ban = Type.Object(
  {
    ip: Type.String(),
    reason: literals(BAN_REASON_NAMES),
    createdAt: Type.String({ description: 'ISO 8601' }),
    expiresAt: Type.String({ description: 'ISO 8601' }),
    expiresIn: Type.Integer({ description: 'seconds left' }),
  },
  {},
);
export const BanList = Type.Object({ bans: Type.Array(Ban) });
export const BanBody = Type.Object(
  {
    ip: Type.String({ minLength: 1, maxLength: 64, examples: ['203.0.113.7'] }),
    seconds: Type.Number({ exclusiveMinimum: 0, maximum: 10 * 365 * 24 * 3600 }),
    reason: Type.Optional(literals(BAN_REASON_NAMES, { description: 'default manual' })),
  },
  { additionalProperties: false },
);
export const IpParams = Type.Object({ ip: Type.String({ minLength: 1 }) });

// ---- instance --------------------------------------------------------------------------

export const DrainBody = Type.Union([
  Type.Object({ draining: Type.Optional(Type.Boolean({ description: 'false ends a drain; default true' })) }, { additionalProperties: false }),
  Type.Null(),
]);
export const DrainReply = Type.Object({ draining: Type.Boolean() });
export const HealthReply = Type.Object({ status: Type.Literal('ok') });
export const ReadyReply = Type.Object({ ready: Type.Boolean(), reason: Type.Optional(Type.String()) });

export type TDomainBody = Static<typeof DomainBody>;
export type TDestinationBody = Static<typeof DestinationBody>;
export type TSetCreateBody = Static<typeof SetCreateBody>;
export type TSetPutBody = Static<typeof SetPutBody>;
