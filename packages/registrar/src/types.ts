// The registrar's shapes: bindings of the location service, subscribers, and the store
// interfaces the REGISTER handler, the router and the API use. The interfaces live here, in
// the package that uses them; memory/ and redis/ implement them.
import type { DigestHash, Endpoint, TransportName } from '@sipfront/core';

export interface RegistrarClock {
  now(): number;
}

export interface RegistrarLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** The sipfront socket a REGISTER arrived on (another instance forwards through it). */
export interface BindingListener {
  id: string;
  transport: TransportName;
  host: string;
  port: number;
}

/** One contact bound to an address-of-record (RFC 3261 §10.3). Times are epoch ms. */
export interface Binding {
  /** `user@domain`, domain lower-cased */
  aor: string;
  /** the Contact URI as the UA wrote it */
  uri: string;
  /** the binding's identity within the AOR (see `contactKey`) */
  key: string;
  expiresAt: number;
  /** 0..1, undefined when the UA gave none */
  q: number | undefined;
  callId: string;
  cseq: number;
  /** where the REGISTER came from: requests to this contact go there (NAT) */
  source: Endpoint;
  /** the stream connection it came in on (meaningful on `instanceId` only) */
  connectionId: string | undefined;
  /** the sipfront instance that holds the UA's flow */
  instanceId: string;
  listener: BindingListener | undefined;
  userAgent: string | undefined;
  /** Path header values (RFC 3327), first = nearest to the registrar, to be used as a Route set */
  path: string[];
  /** the REGISTER that last refreshed it */
  receivedAt: number;
}

export type ContactChangeReason = 'register' | 'expired' | 'removed';

export interface ContactChange {
  aor: string;
  reason: ContactChangeReason;
  /** the instance that made the change ('' for expiry sweeps of the memory store) */
  instanceId: string;
}

/** What an update function returns: the AOR's new full binding list (undefined = leave as is) and a result. */
export interface UpdateOutcome<T> {
  bindings: readonly Binding[] | undefined;
  result: T;
}

/** The location service. Every method may reject with a `RegistrarError` (`store-unavailable`). */
export interface ContactStore {
  /** The live bindings of an AOR, highest q first, then the most recently refreshed. */
  lookup(aor: string): Promise<Binding[]>;
  /**
   * Atomic read-modify-write of one AOR. `fn` gets the live bindings and may run more than
   * once (a concurrent change makes the Redis store retry), so it must not have side effects.
   */
  update<T>(aor: string, fn: (current: readonly Binding[]) => UpdateOutcome<T>, reason?: ContactChangeReason): Promise<T>;
  /** Adds or refreshes one binding (by `key`). */
  add(binding: Binding): Promise<void>;
  /** Removes the binding of this contact URI; false when there was none. */
  remove(aor: string, uri: string): Promise<boolean>;
  /** Removes every binding of an AOR; returns how many there were. */
  removeAll(aor: string): Promise<number>;
  /** AORs with at least one live binding. */
  listAors(): Promise<string[]>;
  /** Live bindings in all (the `sipfront_registrar_contacts` gauge). */
  count(): Promise<number>;
  /** Removes expired bindings now (also runs by itself every `sweepIntervalMs`). */
  sweep(): Promise<number>;
  /** Changes made here and, for Redis, by other instances. Returns an unsubscribe function. */
  onChange(listener: (change: ContactChange) => void): () => void;
  close(): Promise<void>;
}

/** Credentials of one subscriber: HA1 per realm and hash. The clear password is never kept. */
export interface Subscriber {
  user: string;
  /** lower-cased */
  domain: string;
  ha1: Record<string, Partial<Record<DigestHash, string>>>;
}

/** What config and API give: a password (hashed at write time) or precomputed HA1s. */
export interface SubscriberInput {
  user: string;
  domain: string;
  password?: string | undefined;
  /** MD5(user:realm:password) */
  ha1?: string | undefined;
  /** SHA-256(user:realm:password) */
  ha1Sha256?: string | undefined;
  /** the realm the HA1s are for; default: the store's realm (`registrar.auth.realm`), else the domain */
  realm?: string | undefined;
}

export interface SubscriberStore {
  get(user: string, domain: string): Promise<Subscriber | undefined>;
  /** All subscribers, or those of one domain. */
  list(domain?: string): Promise<Subscriber[]>;
  /** Creates or replaces a subscriber. */
  put(input: SubscriberInput): Promise<Subscriber>;
  delete(user: string, domain: string): Promise<boolean>;
  /** True when the domain has at least one subscriber (routing step 8: 407 or 403). */
  hasDomain(domain: string): Promise<boolean>;
  close(): Promise<void>;
}

/** The served domains. Names are compared lower-cased. */
export interface DomainStore {
  list(): Promise<string[]>;
  has(domain: string): Promise<boolean>;
  /** false when it was there already */
  add(domain: string): Promise<boolean>;
  delete(domain: string): Promise<boolean>;
  close(): Promise<void>;
}

/** The three stores over one backend; `close()` closes what it opened. */
export interface RegistrarStores {
  contacts: ContactStore;
  subscribers: SubscriberStore;
  domains: DomainStore;
  /** Redis: connected now; memory: always true (for `/ready`). */
  isUp(): boolean;
  close(): Promise<void>;
}
