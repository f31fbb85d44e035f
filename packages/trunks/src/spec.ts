// A trunk's defaults and validation. The server's config loader already applies the YAML
// defaults; the API's bodies come through `normalizeTrunk`, and the manager checks every trunk
// it is given once, so a bad one fails at `put()`, never in the middle of a registration.
import { isSipUri, parseCidr, parseUri } from '@sipfront/core';
import type { SipUri } from '@sipfront/core';
import { TrunkError } from './errors.js';
import type { TrunkInput, TrunkSpec } from './types.js';

export const TRUNK_DEFAULTS = Object.freeze({
  expires: 3600,
  routeTo: 1,
  retry: Object.freeze({ interval: 20_000, forbiddenInterval: 300_000, maxAttempts: 0, initialDelayMax: 2_000 }),
});

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const HEX32_RE = /^[0-9a-fA-F]{32}$/;

const invalid = (field: string, message: string): TrunkError => new TrunkError('invalid-trunk', `${field}: ${message}`, { field });

/** Parses a `sip:` / `sips:` URI with a host, or throws naming `field`. */
export const sipUriOf = (text: string, field: string): SipUri => {
  const u = parseUri(text.trim());
  if (!isSipUri(u) || u.host === '') throw invalid(field, `not a SIP URI: ${text}`);
  return u;
};

const blank = (s: string | null | undefined): boolean => s === undefined || s === null || s.trim() === '';

/** The defaults of the contract applied to an API body; throws TrunkError('invalid-trunk'). */
export const normalizeTrunk = (input: TrunkInput): TrunkSpec => {
  if (typeof input.registrar !== 'string') throw invalid('registrar', 'required');
  const reg = sipUriOf(input.registrar, 'registrar');
  const user = input.user;
  const retry = input.retry ?? {};
  const spec: TrunkSpec = {
    id: input.id,
    registrar: input.registrar.trim(),
    user,
    password: blank(input.password) ? null : input.password!,
    ha1: blank(input.ha1) ? null : input.ha1!,
    authUser: blank(input.authUser) ? user : input.authUser!,
    realm: blank(input.realm) ? null : input.realm!,
    contactUser: blank(input.contactUser) ? user : input.contactUser!,
    domain: blank(input.domain) ? reg.host : input.domain!,
    fromUser: blank(input.fromUser) ? user : input.fromUser!,
    outboundProxy: blank(input.outboundProxy) ? null : input.outboundProxy!.trim(),
    inboundFrom: [...(input.inboundFrom ?? [])],
    expires: input.expires ?? TRUNK_DEFAULTS.expires,
    routeTo: input.routeTo ?? TRUNK_DEFAULTS.routeTo,
    retry: {
      interval: retry.interval ?? TRUNK_DEFAULTS.retry.interval,
      forbiddenInterval: retry.forbiddenInterval ?? TRUNK_DEFAULTS.retry.forbiddenInterval,
      maxAttempts: retry.maxAttempts ?? TRUNK_DEFAULTS.retry.maxAttempts,
      initialDelayMax: retry.initialDelayMax ?? TRUNK_DEFAULTS.retry.initialDelayMax,
    },
  };
  validateTrunk(spec);
  return spec;
};

const nonNegative = (v: number, field: string, integer = false): void => {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (integer && !Number.isInteger(v))) {
    throw invalid(field, `not a ${integer ? 'whole number' : 'duration'} ≥ 0: ${String(v)}`);
  }
};

/** Checks a complete trunk; throws TrunkError('invalid-trunk') naming the field. */
export const validateTrunk = (t: TrunkSpec): void => {
  if (typeof t.id !== 'string' || !ID_RE.test(t.id)) throw invalid('id', `not a trunk id (letters, digits, . _ -): ${String(t.id)}`);
  sipUriOf(t.registrar, 'registrar');
  for (const k of ['user', 'authUser', 'contactUser', 'fromUser', 'domain'] as const) {
    if (typeof t[k] !== 'string' || t[k].trim() === '' || /[\s<>@"]/.test(t[k])) throw invalid(k, `required, without spaces, <, >, @ or quotes: ${String(t[k])}`);
  }
  if (t.password === null && t.ha1 === null) throw invalid('password', 'a password or an ha1 is required');
  if (t.password !== null && t.ha1 !== null) throw invalid('ha1', 'give a password or an ha1, not both');
  if (t.ha1 !== null && !HEX32_RE.test(t.ha1)) throw invalid('ha1', 'not an MD5 HA1 (32 hex digits)');
  if (t.outboundProxy !== null) sipUriOf(t.outboundProxy, 'outboundProxy');
  t.inboundFrom.forEach((c, i) => {
    if (parseCidr(c) === null) throw invalid(`inboundFrom[${i}]`, `not a CIDR: ${c}`);
  });
  if (!Number.isInteger(t.expires) || t.expires < 1) throw invalid('expires', `not a number of seconds ≥ 1: ${String(t.expires)}`);
  nonNegative(t.routeTo, 'routeTo', true);
  nonNegative(t.retry.interval, 'retry.interval');
  if (t.retry.interval === 0) throw invalid('retry.interval', 'must be greater than 0 (a provider is never hammered)');
  nonNegative(t.retry.forbiddenInterval, 'retry.forbiddenInterval');
  nonNegative(t.retry.maxAttempts, 'retry.maxAttempts', true);
  nonNegative(t.retry.initialDelayMax, 'retry.initialDelayMax');
};

/** The trunk without its secrets, e.g. for logs. */
export const redactTrunk = (t: TrunkSpec): Omit<TrunkSpec, 'password' | 'ha1'> => {
  const { password: _p, ha1: _h, ...rest } = t;
  return rest;
};

/** Whether two specs register the same way (else the binding is renewed from scratch). */
export const sameRegistration = (a: TrunkSpec, b: TrunkSpec): boolean =>
  a.registrar === b.registrar &&
  a.user === b.user &&
  a.password === b.password &&
  a.ha1 === b.ha1 &&
  a.authUser === b.authUser &&
  a.realm === b.realm &&
  a.contactUser === b.contactUser &&
  a.domain === b.domain &&
  a.outboundProxy === b.outboundProxy &&
  a.expires === b.expires;
