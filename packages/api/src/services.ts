// What the API needs from the rest of sipfront. The server implements these over the live
// dispatcher, registrar stores and security layer, so a change made here reaches them at once;
// the api package imports none of those packages' code (one core, thin adapters).
import type { Algorithm, DestinationView, OperatorState, SetView } from '@sipfront/dispatcher';

/** Served domains (`domains:`). Names are lower-cased by the store. */
export interface DomainService {
  list(): Promise<string[]>;
  /** false when it was there already */
  add(domain: string): Promise<boolean>;
  /** false when it was not there */
  remove(domain: string): Promise<boolean>;
}

export interface DestinationInput {
  uri: string;
  weight: number;
  priority: number;
  /** `disabled` adds it out of service */
  state?: 'active' | 'disabled';
}

export interface SetInput {
  id: number;
  name: string;
  algorithm: Algorithm;
  destinations: DestinationInput[];
}

/**
 * The dispatcher, with changes persisted (the YAML-vs-store rule). Errors: the dispatcher's own
 * (`UNKNOWN_SET` 404, `DUPLICATE_DESTINATION` 409, `INVALID_SET` 400 naming the field…), or a
 * store failure (503).
 */
export interface DispatcherService {
  getSets(): SetView[];
  getSet(id: number): SetView | undefined;
  getDestination(setId: number, uri: string): DestinationView | undefined;
  /** Adds a set; a set with that id exists already → DUPLICATE_SET (409). */
  createSet(set: SetInput): Promise<SetView>;
  /** Adds or replaces (health of kept destinations is kept). */
  putSet(set: SetInput): Promise<SetView>;
  removeSet(id: number): Promise<void>;
  addDestination(setId: number, destination: DestinationInput): Promise<DestinationView>;
  removeDestination(setId: number, uri: string): Promise<void>;
  setState(setId: number, uri: string, state: OperatorState): Promise<DestinationView>;
  /** Re-reads the YAML and upserts its sets (SIGHUP, `ctl dispatcher reload`); absent = 501. */
  reload?(): Promise<SetView[]>;
}

/** What the API shows of a subscriber: never a password or an HA1. */
export interface SubscriberView {
  user: string;
  domain: string;
  realms: string[];
  algorithms: string[];
}

export interface SubscriberCredentials {
  password?: string | undefined;
  ha1?: string | undefined;
  ha1Sha256?: string | undefined;
}

export interface SubscriberService {
  list(domain?: string): Promise<SubscriberView[]>;
  get(user: string, domain: string): Promise<SubscriberView | undefined>;
  /** Creates or replaces; errors of the registrar (`invalid-subscriber` 400 naming the field). */
  put(user: string, domain: string, credentials: SubscriberCredentials): Promise<SubscriberView>;
  remove(user: string, domain: string): Promise<boolean>;
}

/** A registration as the contract returns it. */
export interface RegistrationView {
  aor: string;
  contacts: Array<{
    uri: string;
    expiresIn: number;
    source: string;
    userAgent: string | null;
    q: number | null;
    callId: string;
    path: string[];
    instanceId?: string;
  }>;
}

export interface RegistrationService {
  list(): Promise<RegistrationView[]>;
  /** undefined when the AOR has no live binding */
  get(aor: string): Promise<RegistrationView | undefined>;
  /** Removes every binding of the AOR; how many there were. */
  remove(aor: string): Promise<number>;
}

export type BanReasonName = 'flood' | 'auth-failures' | 'scanner' | 'manual';

/** Times in ms since the epoch. */
export interface BanRecord {
  ip: string;
  reason: BanReasonName;
  createdAt: number;
  expiresAt: number;
}

/** The security layer. `ban` throws its errors (`INVALID_IP` 400, `TRUSTED_SOURCE` 409…). */
export interface BanService {
  list(): BanRecord[];
  get(ip: string): BanRecord | undefined;
  ban(ip: string, seconds: number, reason?: BanReasonName): BanRecord;
  /** false when the address was not banned */
  unban(ip: string): boolean;
}

export interface Readiness {
  ready: boolean;
  /** why not: `starting`, `draining`, `stopping`, `store-down` */
  reason?: string;
}

/** This sipfront instance. */
export interface InstanceService {
  /** `POST /drain`: OPTIONS and new dialogs get 503, in-dialog requests flow. */
  drain(on: boolean): void | Promise<void>;
  draining(): boolean;
  readiness(): Readiness;
}

/** One Server-Sent Event. */
export interface ApiEvent {
  type: string;
  data: unknown;
}

export interface EventSource {
  /** Returns the unsubscribe function. */
  subscribe(listener: (event: ApiEvent) => void): () => void;
}

/** The Prometheus registry behind `/metrics`. */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

export interface ApiServices {
  /** absent: the trunk endpoints answer 501 */
  trunks?: TrunkService;
  /** absent: the calls and trace endpoints answer 501 */
  calls?: CallService;
  domains: DomainService;
  dispatcher: DispatcherService;
  subscribers: SubscriberService;
  registrations: RegistrationService;
  bans: BanService;
  instance: InstanceService;
  events: EventSource;
  metrics: MetricsSource;
}

/** A trunk as the contract returns it (never a password or HA1). */
export interface TrunkView {
  id: string;
  registrar: string;
  user: string;
  state: 'unregistered' | 'registering' | 'registered' | 'retrying' | 'rejected';
  registeredUntil: string | null;
  lastCode: number | null;
  lastReason: string | null;
  nextAttemptAt: string | null;
  [more: string]: unknown;
}

/** The body of POST /trunks and PUT /trunks/:id (durations in seconds, as in the YAML's bare numbers). */
export interface TrunkInput {
  id: string;
  registrar: string;
  user: string;
  password?: string;
  ha1?: string;
  authUser?: string;
  realm?: string;
  contactUser?: string;
  domain?: string;
  fromUser?: string;
  outboundProxy?: string;
  inboundFrom?: string[];
  expires?: number;
  routeTo?: number;
  retry?: { interval?: number; forbiddenInterval?: number; maxAttempts?: number; initialDelayMax?: number };
}

/** Outbound registrations. Errors: the trunks package's (`invalid-trunk` 400 naming the field, `unknown-trunk` 404). */
export interface TrunkService {
  list(): TrunkView[];
  get(id: string): TrunkView | undefined;
  /** a trunk with that id exists already → 409 */
  create(input: TrunkInput): Promise<TrunkView>;
  /** replaces it; `password` / `ha1` are kept when the body has neither */
  replace(id: string, input: TrunkInput): Promise<TrunkView>;
  remove(id: string): Promise<boolean>;
  /** registers now */
  register(id: string): TrunkView;
}

export interface CallSummaryView {
  callId: string;
  startedAt: string;
  lastAt: string;
  endedAt: string | null;
  from: string;
  to: string;
  ruri: string;
  status: number | null;
  state: string;
  messages: number;
}

export interface CallMessageView {
  at: string;
  direction: 'in' | 'out';
  from: string;
  to: string;
  transport: string;
  firstLine: string;
  method: string;
  status: number;
  cseq: string;
  text: string;
}

export interface TraceSettings {
  capture: 'all' | 'off' | 'filtered';
  filter: { match?: string[]; ips?: string[] };
}

/** Recent calls and their messages (the ladder); with `workers: N` the answers come from every worker. */
export interface CallService {
  list(): CallSummaryView[] | Promise<CallSummaryView[]>;
  get(callId: string): CallDetailView | undefined | Promise<CallDetailView | undefined>;
  text(callId: string): string | undefined | Promise<string | undefined>;
  pcap(callId: string): Buffer | undefined | Promise<Buffer | undefined>;
  trace(): TraceSettings;
  setTrace(settings: TraceSettings): TraceSettings | Promise<TraceSettings>;
}

export interface CallDetailView {
  call: CallSummaryView;
  messages: CallMessageView[];
}
