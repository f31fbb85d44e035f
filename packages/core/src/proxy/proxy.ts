// The SIP proxy core (RFC 3261 §16, RFC 3581): validates requests, applies loose routing and
// Record-Route, asks the Router where initial requests go, and forwards — statelessly (§16.11)
// or through transactions with a response context per request (§16.7). Everything outside
// SIP itself (who is trusted, which backend, which contact) comes in through the Router.
import type { SipMessage } from '../message/message.js';
import { tryParseMessage } from '../message/parser.js';
import { SipParseError } from '../message/errors.js';
import type { Via } from '../message/via.js';
import { formatVia } from '../message/via.js';
import { getParam, hasParam } from '../message/params.js';
import { isSipUri, formatUri } from '../message/uri.js';
import type { SipUri } from '../message/uri.js';
import type { Endpoint, Inbound, ListenerInfo, TransportLayer, TransportName } from '../transport/types.js';
import type { ClientTransaction, ClientTransactionHandlers, ServerTransaction, TransactionLayer, Target } from '../transaction/index.js';
import { createTransactionLayer, fresh, freshOpt } from '../transaction/index.js';
import { localReplyTags, loopHash, loopPartOf, newBranch, statelessBranch, workerBranchTag, BRANCH_PREFIX } from './branch.js';
import { createResponse, reasonFor } from './response.js';
import { LocalAddresses } from './local.js';
import { createDialogToken, type RelayTarget } from './dialog-token.js';
import { createLoadShedder, type LoadShedder } from './overload.js';
import { createUdpBacklog } from '../transport/backlog.js';
import type { DestinationResolver } from './resolve.js';
import type { ProxyObserver, RequestContext, RouteDecision, Router, RouteTarget } from './router.js';

export interface ProxyLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/**
 * `workers: N`: a CANCEL that found no INVITE looks again for one relayed from another worker,
 * after 50, 100 and 200 ms (a loaded worker can be late), before its 481.
 */
const CANCEL_RETRY_MS = 50;
/** how long an INVITE waits for the callee side's first response before sipfront sends 100 Trying (§17.2.1) */
export const TRYING_DELAY_MS = 200;
/** Retry-After (s) of a REGISTER refused by load shedding */
const REGISTER_RETRY_AFTER_S = 5;
const CANCEL_RETRIES = 3;

export interface ProxyOptions {
  mode: 'stateful' | 'stateless';
  transport: TransportLayer;
  router: Router;
  resolver: DestinationResolver;
  log: ProxyLogger;
  advertise?: string;
  timers?: { t1?: number; t2?: number; t4?: number; timerC?: number };
  /** RFC 3261 §18.1.1 switch to TCP above this size minus 200 bytes; 0 = off */
  udpMtu?: number;
  maxHeaders?: number;
  /**
   * Serial failover: these answers (or a timeout) send the request to the next target, up to
   * maxTries targets; firstAnswerMs (0 = off) gives up on a target that has not answered at all
   * (not even 100 Trying) within that time, when there is another one to try.
   */
  failover?: { codes?: readonly number[]; maxTries?: number; firstAnswerMs?: number };
  observer?: ProxyObserver;
  /** Extra parameters for our Record-Route (e.g. a dialog token); called per initial request */
  recordRouteParams?(req: SipMessage): string;
  /**
   * Step 1 of the contract (bans, floods, scanners): asked for each source before parsing
   * (cheap ban lookup) and for each parsed request. 'drop' sends nothing; 'reply' answers statelessly.
   */
  screenSource?(source: Endpoint): ScreenDecision;
  screenRequest?(req: SipMessage, source: Endpoint): ScreenDecision;
  /**
   * Step 3 of the contract: a secret for the `;sf=` dialog token in our Record-Route; in-dialog
   * requests whose Route naming us lacks a valid token get 403 (an ACK is dropped).
   */
  dialogSecret?: string | Buffer;
  /** `workers: N`: this process's number, written into every branch it makes (transport/affinity.ts). */
  worker?: number;
  /**
   * `workers: N`: the socket of this worker's own that a request to next hop `to` leaves from
   * instead of the shared listen socket `out`, with its port in our Via, so that the answers come
   * straight back to this worker; the Record-Route keeps `out`. Undefined = send from `out` (what a
   * phone's NAT pinhole or a provider latching onto our source port needs).
   */
  sendSocket?(out: ListenerInfo, to: Endpoint): ListenerInfo | undefined;
  /**
   * Sockets besides the transport's listeners whose receive queues count as this proxy's backlog
   * for load shedding (`workers: N`: the relay socket the other workers hand this one its share on).
   */
  backlogSockets?(): readonly ListenerInfo[];
  /** ms: the queue delay of those sockets since the last call, which starts it over (as TransportLayer.takeUdpQueueDelay) */
  takeBacklogDelay?(minSpanMs: number): number | undefined;
  /** Step 3, custom: may this in-dialog request pass? (default: yes, or the dialog token's answer) */
  checkInDialog?(req: SipMessage, ourRoute: SipUri | undefined, ctx: RequestContext): boolean;
  /**
   * Load shedding (overload.ts): while the event loop is busier than this share (0 < maxLoad < 1),
   * a growing share of new requests outside a dialog get 503; in-dialog requests, responses and
   * OPTIONS to sipfront always pass, and so do requests with credentials (answers to a challenge);
   * a refused REGISTER gets Retry-After. 0 or undefined: never. `loadShedder` replaces the
   * built-in one (and is not closed with the proxy).
   */
  maxLoad?: number;
  loadShedder?: LoadShedder;
}

export interface Proxy {
  handleInbound(inb: Inbound): void;
  /** new dialogs and OPTIONS to us get 503 */
  setDraining(on: boolean): void;
  readonly draining: boolean;
  /** the transaction layer (stateful mode), for probes and other clients */
  readonly transactions: TransactionLayer;
  /**
   * Sends a request sipfront originates (OPTIONS probe, REGISTER): adds our Via and
   * Max-Forwards, resolves the destination, and resolves with the final response, or with
   * `code: null` on a timeout or transport error (never rejects).
   */
  originate(req: SipMessage, destination: string, timeoutMs: number): Promise<OriginateResult>;
  readonly local: LocalAddresses;
  /** the signed Route parameters that make this instance relay to `target` (see DialogToken) */
  relayParams(target: RelayTarget): string | undefined;
  /** refresh our addresses after listeners change */
  updateListeners(): void;
  activeTransactions(): number;
  /**
   * The load shedder's view now (`maxLoad`): the share of new requests refused, the loop's load
   * over the last window, and the bytes waiting in our UDP sockets' receive queues (undefined where
   * not known). Undefined when shedding is off.
   */
  overload(): { share: number; load: number; backlog: number | undefined } | undefined;
  /** forwarded requests still waiting for a final answer */
  pendingRequests(): number;
  /**
   * Graceful stop: drain, wait up to graceMs for pending requests to finish, then cancel what is
   * left (the caller gets 503) and give their CANCELs a moment to leave.
   */
  shutdown(graceMs: number): Promise<void>;
  close(): void;
}

export type ScreenDecision = { action: 'pass' } | { action: 'drop'; reason: string } | { action: 'reply'; status: number; reason: string };

export interface OriginateResult {
  response: SipMessage | undefined;
  /** the final status, or null when nothing came back in time */
  code: number | null;
  rttMs: number;
  error?: string;
}

const DIALOG_CREATING = new Set(['INVITE', 'SUBSCRIBE', 'REFER', 'NOTIFY']);
const UDP_MAX = 65_507;
const DEFAULT_FAILOVER = [500, 502, 503, 504, 408];
/** the decision of a released response context: it starts no branch any more */
const RELEASED: Extract<RouteDecision, { action: 'forward' }> = Object.freeze({ action: 'forward' as const, targets: [] });
/** shared by every released response context (never added to: see `release`) */
const NO_RESPONSES: SipMessage[] = [];
const NO_TARGETS: RouteTarget[] = [];
const RELEASED_CONTEXT: RequestContext = Object.freeze({
  source: Object.freeze({ transport: 'udp' as const, address: '0.0.0.0', port: 0 }),
  listener: Object.freeze({ id: '', transport: 'udp' as const, host: '0.0.0.0', port: 0, family: 4 as const }),
  connectionId: undefined,
  ruriIsLocal: false,
});

// A response context lives while a request is being answered. Once the final answer is out and
// no branch waits, it is released: its client transactions are retired (the layer keeps, for
// the rest of Timer M, only where a 2xx retransmission goes), or, where the first 2xx needed
// mending (Vias, From, CSeq), an accepted one keeps a TwoXxForwarder; nothing refers to the
// context any more (memory per call at load is what this is about).

/** what the proxy does when a branch's client transaction reports (one object per proxy) */
interface BranchEvents {
  response(rc: ResponseContext, b: Branch, res: SipMessage): void;
  timeout(rc: ResponseContext, b: Branch): void;
  transportError(rc: ResponseContext, b: Branch): void;
}

/** One target tried for a request; it is also its client transaction's handlers (no closures). */
class Branch implements ClientTransactionHandlers {
  /** undefined once the response context is released */
  tx: ClientTransaction | undefined = undefined;
  /** undefined once the response context is released */
  target: RouteTarget | undefined;
  done = false;
  status = 0;
  timedOut = false;
  /** what was sent, without our Via: the base of a resend with credentials */
  sent: SipMessage | undefined;
  endpoint: Endpoint | undefined;
  out: ListenerInfo | undefined;
  /** CSeq raised by this much towards the next hop (a provider's 401/407 answered) */
  readonly cseqShift: number;
  readonly authTries: number;
  /** anything came back from this target (100 Trying included) */
  answered = false;
  /** its first 2xx needed our Vias or the caller's From put back: its retransmissions will too */
  mended = false;
  firstAnswer: ReturnType<typeof setTimeout> | undefined = undefined;
  private readonly rc: ResponseContext;
  private readonly ev: BranchEvents;

  constructor(rc: ResponseContext, ev: BranchEvents, target: RouteTarget, sent: SipMessage | undefined, endpoint: Endpoint | undefined, out: ListenerInfo | undefined, cseqShift: number, authTries: number) {
    this.rc = rc;
    this.ev = ev;
    this.target = target;
    this.sent = sent;
    this.endpoint = endpoint;
    this.out = out;
    this.cseqShift = cseqShift;
    this.authTries = authTries;
  }

  onResponse(res: SipMessage): void {
    this.ev.response(this.rc, this, res);
  }

  onTimeout(): void {
    this.ev.timeout(this.rc, this);
  }

  onTransportError(): void {
    this.ev.transportError(this.rc, this);
  }
}

/**
 * What is left of a forwarded INVITE once the caller has its answer and no branch waits: its
 * accepted client transaction (RFC 6026, 64·T1) hands each 2xx retransmission here, and it goes
 * where the server transaction sent the first 2xx, mended as that one was (the caller's Vias,
 * From and numbers). Only a branch whose first 2xx needed mending keeps one (see `release`).
 * The response context, its request and its branches are gone by then.
 */
class TwoXxForwarder implements ClientTransactionHandlers {
  /** where the server transaction sent its responses (it may be at rest, without its object) */
  private readonly up: Target;
  private readonly send: (msg: SipMessage, target: Target) => void;
  /** the request's Via values, one a line, for a UAS that lost the Vias below ours */
  private readonly vias: string;
  private readonly from: string | undefined;
  /** the caller's CSeq, when the next hop saw another (a provider's challenge answered) */
  private readonly cseq: string | undefined;

  constructor(up: Target, send: (msg: SipMessage, target: Target) => void, vias: string, from: string | undefined, cseq: string | undefined) {
    this.up = up;
    this.send = send;
    this.vias = vias;
    this.from = from;
    this.cseq = cseq;
  }

  onResponse(res: SipMessage): void {
    if (res.status < 200 || res.status >= 300) return;
    res.removeFirstItem('via');
    if (!res.has('via')) for (const v of this.vias.split('\n')) res.append('Via', v);
    if (this.from !== undefined && res.get('from') !== this.from) res.set('From', this.from);
    if (this.cseq !== undefined) res.set('CSeq', this.cseq);
    // as the server transaction in Accepted passes a 2xx of its TU (RFC 6026 §7.1)
    this.send(res, this.up);
  }

  onTimeout(): void {}

  onTransportError(): void {}
}

/** a dialog whose CSeq towards the next hop differs from the caller's (after a challenge) */
interface ShiftedDialog {
  shift: number;
  onChallenge: RouteTarget['onChallenge'];
  at: number;
}

interface ResponseContext {
  /** undefined once released */
  req: SipMessage | undefined;
  /** RELEASED_CONTEXT once released */
  ctx: RequestContext;
  serverTx: ServerTransaction;
  decision: Extract<RouteDecision, { action: 'forward' }>;
  queue: RouteTarget[];
  branches: Branch[];
  tries: number;
  responses: SipMessage[];
  finalSent: boolean;
  cancelled: boolean;
  lastFailover: boolean;
  loop: string;
}

export const createProxy = (opts: ProxyOptions): Proxy => {
  const { transport, router, resolver, log, observer } = opts;
  const stateful = opts.mode === 'stateful';
  const local = new LocalAddresses(transport.listeners(), opts.advertise);
  const token = opts.dialogSecret !== undefined ? createDialogToken(opts.dialogSecret) : undefined;
  const localTag = localReplyTags(opts.dialogSecret);
  const branchTag = opts.worker !== undefined ? workerBranchTag(opts.worker) : undefined;
  const checkInDialog = opts.checkInDialog ?? (token !== undefined ? (req: SipMessage, our: SipUri | undefined) => token.verify(req, our) : undefined);
  const recordRouteParams = opts.recordRouteParams ?? (token !== undefined ? (req: SipMessage) => token.param(req) : undefined);
  const failoverCodes = new Set(opts.failover?.codes ?? DEFAULT_FAILOVER);
  const maxTries = opts.failover?.maxTries ?? 3;
  const firstAnswerMs = opts.failover?.firstAnswerMs ?? 0;
  const udpMtu = opts.udpMtu ?? 0;
  let draining = false;
  let shedCount = 0;
  let shedFrom = 0;
  /** the refusing episode under way: when it began (performance.now) and the largest share so far */
  let shedSince = 0;
  let shedPeak = 0;
  // SIPFRONT_UDP_BACKLOG_MAX_READ_MS: what one read of /proc/net/udp may cost before the shedder
  // stops reading it (tests on a host crowded with sockets set it high)
  const maxReadEnv = Number(process.env['SIPFRONT_UDP_BACKLOG_MAX_READ_MS']);
  const backlogSockets = opts.backlogSockets;
  const backlog = createUdpBacklog(backlogSockets === undefined ? () => transport.listeners() : () => [...transport.listeners(), ...backlogSockets()], {
    onGiveUp: (why) => log.info({ why }, 'load shedding goes by the event loop alone (the UDP queues cannot be read, or not cheaply)'),
    ...(maxReadEnv > 0 ? { maxReadMs: maxReadEnv } : {}),
  });
  const t1 = opts.timers?.t1 ?? 500;
  const ownShedder =
    opts.loadShedder === undefined && opts.maxLoad !== undefined && opts.maxLoad > 0
      ? createLoadShedder({
          limit: opts.maxLoad,
          backlog,
          queueDelay: (minSpanMs) => {
            const own = transport.takeUdpQueueDelay(minSpanMs);
            const more = opts.takeBacklogDelay?.(minSpanMs);
            return more === undefined ? own : own === undefined ? more : Math.max(own, more);
          },
          // a backlog of an eighth of T1 is behind: the socket's buffer (8 MB) holds ~T1/2 at
          // 3,000 calls/s, and the share takes a few samples to bite
          maxDelayMs: t1 / 8,
          // a measured queue delay (the kernel's receive times) standing at a third of T1: a
          // request and its answer each waiting that long still leave a third of T1 before the
          // caller retransmits; at a quarter the collector's second-long spirals at the edge were
          // refused (bench/README, eighteenth session: clean at 1,750/s 4 of 12 runs at T1/4,
          // 3 of 3 at T1/3, 8 of 9 at T1/2, whose failures retransmitted)
          maxQueueDelayMs: t1 / 3,
          // what the queue holds, against this process's reading rate: not with workers, which
          // each read a share of one shared queue (their own rate would overstate its time)
          ...(opts.worker === undefined ? { queueCapacity: () => transport.udpRecvBuffer() } : {}),
          onChange: (refusing, busy, queueDelayMs) => {
            if (refusing) {
              shedFrom = shedCount;
              shedSince = performance.now();
              shedPeak = 0;
              const delay = queueDelayMs !== undefined ? { queueDelayMs: Math.round(queueDelayMs) } : {};
              log.warn({ busy: Math.round(busy * 100) / 100, maxLoad: opts.maxLoad, ...delay }, 'overloaded: refusing a share of new requests with 503');
            } else {
              // the episode in one line: how many were refused, for how long, at most what share
              log.info(
                { refused: shedCount - shedFrom, forMs: Math.round(performance.now() - shedSince), peakShare: Math.round(shedPeak * 1000) / 1000 },
                'load back under the limit: new requests pass again',
              );
            }
          },
          // which rule moved the share, each sample it moved (a few a second at most, only while refusing)
          onMove: (m) => {
            if (m.share > shedPeak) shedPeak = m.share;
            const r2 = (x: number): number => Math.round(x * 1000) / 1000;
            const delay = m.queueDelayMs !== undefined ? { queueDelayMs: Math.round(m.queueDelayMs), targetMs: Math.round(m.targetMs ?? 0) } : {};
            log.debug({ rule: m.rule, from: r2(m.from), share: r2(m.share), sample: r2(m.sample), busy: r2(m.busy), ...delay }, 'load shedding: share moved');
          },
        })
      : undefined;
  const shedder = opts.loadShedder ?? ownShedder;
  const contexts = new WeakMap<ServerTransaction, ResponseContext>();
  /** requests forwarded statefully that have no final answer yet */
  const open = new Set<ResponseContext>();
  /** dialogs whose CSeq is raised towards the next hop (Call-ID + caller's tag) */
  const dialogs = new Map<string, ShiftedDialog>();
  const dialogSweep = setInterval(() => {
    const old = Date.now() - 12 * 3600_000;
    for (const [k, v] of dialogs) if (v.at < old) dialogs.delete(k);
  }, 60_000);
  dialogSweep.unref();

  // ---- sending -----------------------------------------------------------------------

  /** listeners named by a Target's `socket` (a request leaves from the listener its Via names) */
  const socketsById = new Map<string, ListenerInfo>();
  const sendSocketFor = (out: ListenerInfo, endpoint: Endpoint): ListenerInfo => {
    if (opts.sendSocket === undefined || endpoint.transport !== 'udp') return out;
    return opts.sendSocket(out, endpoint) ?? out;
  };

  /**
   * A request forwarded over UDP was serialized for its size check: its bytes, for the send that
   * follows in the same turn (sendToTarget clears them when it returns; nothing changes the
   * message in between)
   */
  let wireOf: SipMessage | undefined;
  let wireBytes: Buffer | undefined;
  /** sends `msg`; returns its bytes (a client transaction keeps its request as their text) */
  const sendRaw = (msg: SipMessage, target: Endpoint & { connectionId?: string }, listener: ListenerInfo | undefined, onError?: (e: Error) => void): Buffer => {
    const data = msg === wireOf ? wireBytes! : msg.toBuffer();
    if (observer?.sent !== undefined) {
      const l = listener ?? transport.listenerFor(target);
      observer.sent(msg, target, data, l === undefined ? undefined : endpointOf(l));
    }
    transport.send(target, data, {
      ...(target.connectionId !== undefined ? { connectionId: target.connectionId } : {}),
      ...(listener !== undefined ? { listener } : {}),
      onError: onError ?? ((err) => log.debug({ err: err.message, target }, 'send failed')),
    });
    return data;
  };

  /** what the transaction layer sends, and a 2xx of an INVITE at rest (on its server transaction's way) */
  const txSend = (msg: SipMessage, target: Target): Buffer =>
    sendRaw(msg, target as Endpoint & { connectionId?: string }, target.socket !== undefined ? socketsById.get(target.socket) : undefined, (err) => transactions?.reportTransportError(target, err));
  // Always present: in stateless mode only requests sipfront originates (probes, trunk
  // registrations) use it, and responses that match none of them are forwarded statelessly.
  const transactions: TransactionLayer = createTransactionLayer({
        send: txSend,
        // a finished transaction keeps only its key and what absorbing or replaying needs
        compactRest: true,
        // the 2xx retransmissions of an INVITE whose branch was retired plain (see `release`)
        onRested2xx: (res, up) => {
          res.removeFirstItem('via');
          txSend(res, up);
        },
        onRequest: (req, source, tx) => {
          const ctx = pendingCtx;
          if (ctx === undefined) return;
          processRequest(req, ctx, tx);
        },
        // load shedding before a transaction is made: the refusal is a stateless 503 (its ACK is
        // known by our To tag, routeRequest), no transaction, timers or rest entry for a request
        // that goes nowhere. Only what routeRequest would refuse too: out of dialog, not CANCEL,
        // not OPTIONS (sipfront answers those to itself); a retransmission is drawn again, alike.
        admit: (req) => {
          const ctx = pendingCtx;
          if (ctx === undefined || shedder === undefined || req.toTag !== undefined) return true;
          const m = req.method;
          if (m === 'CANCEL' || m === 'OPTIONS') return true;
          return !shedRefuse(req, ctx, undefined);
        },
        onStrayResponse: (res) => forwardResponseStateless(res),
        // symmetric response routing: answers go where the request came from (RFC 3581 spirit, NAT)
        responseTarget: (_req, source) => source,
        onError: (err: unknown) => log.error({ err: err instanceof Error ? err.stack : String(err) }, 'transaction callback failed'),
        timers: {
          ...(opts.timers?.t1 !== undefined ? { t1: opts.timers.t1 } : {}),
          ...(opts.timers?.t2 !== undefined ? { t2: opts.timers.t2 } : {}),
          ...(opts.timers?.t4 !== undefined ? { t4: opts.timers.t4 } : {}),
          ...(opts.timers?.timerC !== undefined ? { timerC: opts.timers.timerC } : {}),
        },
        autoTrying: true,
        // §17.2.1: 100 Trying only when the callee's side has not answered within 200 ms (half of
        // T1 at most, so that it still comes before the caller's first retransmission); a backend
        // that rings at once saves a datagram and its building per call
        tryingDelay: Math.min(TRYING_DELAY_MS, t1 / 2),
      });
  // the context of the message being handed to the transaction layer (synchronous call)
  let pendingCtx: RequestContext | undefined;

  // A listener as the observer's local endpoint: one object per listener, not one per message.
  const listenerEndpoints = new Map<ListenerInfo, Endpoint>();
  const endpointOf = (l: ListenerInfo): Endpoint => {
    let e = listenerEndpoints.get(l);
    if (e === undefined) {
      if (listenerEndpoints.size >= 256) listenerEndpoints.clear();
      listenerEndpoints.set(l, (e = Object.freeze({ transport: l.transport, address: l.host, port: l.port })));
    }
    return e;
  };

  // One frozen Target per peer, shared by every transaction with it: a finished transaction
  // keeps its targets for 64·T1, and a few peers (the backends, the callers) send most messages.
  // Looked up by address, then by port and transport as one number (no key string per message).
  const byAddress = new Map<string, Map<number, Target>>();
  const byConnection = new Map<string, Target>();
  let cached = 0;
  const TRANSPORT_INDEX: Readonly<Record<string, number>> = { udp: 0, tcp: 1, tls: 2 };
  const toTarget = (e: Endpoint, connectionId?: string): Target => {
    if (cached >= 4096) {
      byAddress.clear();
      byConnection.clear();
      cached = 0;
    }
    if (connectionId !== undefined) {
      let t = byConnection.get(connectionId);
      if (t === undefined || t.address !== e.address || t.port !== e.port || t.transport !== e.transport) {
        t = Object.freeze({ transport: e.transport, address: fresh(e.address), port: e.port, connectionId: fresh(connectionId) });
        byConnection.set(t.connectionId!, t);
        cached++;
      }
      return t;
    }
    let ports = byAddress.get(e.address);
    if (ports === undefined) byAddress.set(fresh(e.address), (ports = new Map()));
    const k = e.port * 4 + (TRANSPORT_INDEX[e.transport] ?? 3);
    let t = ports.get(k);
    if (t === undefined || t.transport !== e.transport) {
      t = Object.freeze({ transport: e.transport, address: fresh(e.address), port: e.port });
      ports.set(k, t);
      cached++;
    }
    return t;
  };

  /**
   * The target of a request that leaves from `from` (the listener its Via names): named in the
   * target when the transport would pick another one (a worker's own socket; two UDP listen
   * addresses), so retransmissions, CANCEL and ACK leave from it too.
   */
  const bySocket = new Map<string, Target>();
  const targetFrom = (e: Endpoint, from: ListenerInfo): Target => {
    if (e.transport !== 'udp' || transport.listenerFor(e)?.id === from.id) return toTarget(e);
    if (socketsById.get(from.id) !== from) socketsById.set(from.id, from);
    const key = `${from.id}|${e.transport}|${e.address}|${e.port}`;
    let t = bySocket.get(key);
    if (t === undefined) {
      if (bySocket.size >= 4096) bySocket.clear();
      t = Object.freeze({ transport: e.transport, address: fresh(e.address), port: e.port, socket: from.id });
      bySocket.set(key, t);
    }
    return t;
  };

  /** a response of our own to a request (through its server transaction when there is one) */
  /**
   * Load shedding: answers `req` 503 and returns true when its draw says refuse (the draw first:
   * a number compare while nothing is refused), not a request that answers a challenge (the work
   * on it is half done).
   */
  const shedRefuse = (req: SipMessage, ctx: RequestContext, tx: ServerTransaction | undefined): boolean => {
    if (shedder === undefined || !shedder.shed(req.callId ?? '') || req.has('authorization') || req.has('proxy-authorization')) return false;
    shedCount++;
    observer?.refused?.('overload', ctx.source);
    // No Retry-After: with one, an upstream proxy sends this server nothing for that long
    // (§21.5.4). A REGISTER comes from the phone itself: it gets one, so that it tries again
    // soon but not at once, before its binding runs out.
    reply(req, ctx, tx, 503, undefined, req.method === 'REGISTER' ? [['Retry-After', String(REGISTER_RETRY_AFTER_S)]] : undefined);
    return true;
  };

  const reply = (req: SipMessage, ctx: RequestContext, tx: ServerTransaction | undefined, status: number, reason?: string, headers: ReadonlyArray<readonly [string, string]> = []): void => {
    if (req.method === 'ACK') return;
    // without a transaction to absorb its ACK, the tag tells that ACK apart (routeRequest)
    const res = createResponse(req, status, reason ?? reasonFor(status), headers, tx === undefined && req.method === 'INVITE' && status >= 300 ? localTag(req) : undefined);
    if (tx !== undefined) tx.respond(res);
    else sendRaw(res, { ...ctx.source, ...(ctx.connectionId !== undefined ? { connectionId: ctx.connectionId } : {}) }, ctx.listener);
  };

  // ---- inbound -----------------------------------------------------------------------

  const noteRead = ownShedder?.noteRead;
  const handleInbound = (inb: Inbound): void => {
    if (noteRead !== undefined && inb.listener.transport === 'udp') noteRead(inb.data.length);
    if (opts.screenSource !== undefined) {
      const d = opts.screenSource(inb.source);
      // a 403 needs a parsed request: screenRequest answers it below
      if (d.action === 'drop') {
        observer?.refused?.(d.reason, inb.source);
        return;
      }
    }
    const r = tryParseMessage(inb.data, { datagram: inb.listener.transport === 'udp', maxHeaders: opts.maxHeaders ?? 256 });
    const ctx: RequestContext = { source: inb.source, listener: inb.listener, connectionId: inb.connectionId, ruriIsLocal: false };
    if (!r.ok) {
      observer?.parseError?.(inb.source, r.error);
      const p = r.error.partial;
      // a malformed request gets its 400 (505) when it can still be addressed; responses are dropped
      if (p !== undefined && p.isRequest && p.method !== 'ACK' && p.topVia !== undefined && p.callId !== undefined && p.has('cseq') && p.has('from') && p.has('to')) {
        reply(p, ctx, undefined, r.error.status, r.error.status === 505 ? 'Version Not Supported' : 'Bad Request', [['Warning', `399 sipfront "${r.error.message.replace(/["\\]/g, '')}"`]]);
      }
      log.debug({ source: inb.source, code: r.error.code }, r.error.message);
      return;
    }
    const msg = r.message;
    observer?.received?.(msg, inb.source, inb.data, endpointOf(inb.listener), inb.receivedAt);
    if (msg.isRequest) {
      if (opts.screenRequest !== undefined) {
        const d = opts.screenRequest(msg, inb.source);
        if (d.action !== 'pass') {
          observer?.refused?.(d.reason, inb.source);
          if (d.action === 'reply') {
            stampVia(msg, inb.source);
            reply(msg, ctx, undefined, d.status);
          }
          return;
        }
      }
      observer?.requestIn?.(msg, inb.source);
      stampVia(msg, inb.source);
      if (stateful) {
        pendingCtx = ctx;
        try {
          transactions.receive(msg, toTarget(inb.source, inb.connectionId));
        } finally {
          pendingCtx = undefined;
        }
        // an INVITE stays with its transaction while the call rings: its parsed views (read
        // again on demand) would live, and be promoted by the collector, as long. Measured: an
        // INVITE in flight kept 12.7 KB of heap (bench/README, seventeenth session)
        if (msg.method === 'INVITE') msg.forgetParsed();
      } else processRequest(msg, ctx, undefined);
    } else {
      observer?.responseIn?.(msg, inb.source);
      transactions.receive(msg, toTarget(inb.source, inb.connectionId));
    }
  };

  /** RFC 3261 §18.2.1 received, RFC 3581 rport on the top Via */
  const stampVia = (req: SipMessage, source: Endpoint): void => {
    const v = req.topVia;
    if (v === undefined) return;
    const wantRport = hasParam(v.params, 'rport');
    const needReceived = v.host !== source.address;
    if (!wantRport && !needReceived) return;
    const params = v.params.filter(([n]) => n !== 'received' && n !== 'rport');
    if (needReceived || wantRport) params.push(['received', source.address]);
    if (wantRport) params.push(['rport', String(source.port)]);
    const nv: Via = { ...v, params };
    req.replaceFirstItem('via', formatVia(nv));
  };

  // ---- requests ----------------------------------------------------------------------

  const processRequest = (req: SipMessage, ctx: RequestContext, tx: ServerTransaction | undefined): void => {
    try {
      routeRequest(req, ctx, tx);
    } catch (err) {
      log.error({ err: err instanceof Error ? err.stack : String(err), callId: req.callId }, 'request handling failed');
      reply(req, ctx, tx, 500);
    }
  };

  const routeRequest = (req: SipMessage, ctx: RequestContext, tx: ServerTransaction | undefined): void => {
    const method = req.method;
    const ruri = req.requestUri;
    // Max-Forwards (§16.3 step 3)
    const mf = req.maxForwards;
    if (mf === 0) {
      if (method === 'OPTIONS') return reply(req, ctx, tx, draining ? 503 : 200, undefined, optionsHeaders());
      return reply(req, ctx, tx, 483);
    }
    // Loop detection (§16.3 step 4): one of our Vias whose loop hash matches the request as it is now
    const vias = req.vias();
    if (vias.length > 1) {
      const items = req.list('via');
      for (let i = 0; i < vias.length - 1; i++) {
        const v = vias[i]!;
        const lp = loopPartOf(v.branch);
        if (lp !== undefined && local.isLocal(v.host, v.port, v.transport.toLowerCase()) && lp === loopHash(req, items[i + 1]!.value)) {
          return reply(req, ctx, tx, 482);
        }
      }
    }
    // Proxy-Require (§16.3 step 5): we support no extensions that a proxy must understand
    const pr = req.get('proxy-require');
    if (pr !== undefined && method !== 'ACK' && method !== 'CANCEL') {
      return reply(req, ctx, tx, 420, undefined, [['Unsupported', pr]]);
    }
    if (ruri === undefined || !(isSipUri(ruri) || ruri.scheme === 'tel')) return reply(req, ctx, tx, 416);

    let strictOurs: SipUri | undefined;
    // Route pre-processing (§16.4): a strict router put our Record-Route into the Request-URI
    if (isSipUri(ruri) && local.isLocalUri(ruri) && hasParam(ruri.params, 'lr') && req.has('route')) {
      const routes = req.list('route');
      const last = req.routes()[routes.length - 1];
      if (last !== undefined) {
        strictOurs = ruri;
        req.setRequestUri(last.uri);
        req.removeLastItem('route');
      }
    }
    let ourRoute: SipUri | undefined = strictOurs;
    for (let n = 0; n < 2; n++) {
      const top = req.routes()[0];
      if (top === undefined || !local.isLocalUri(top.parsedUri)) break;
      ourRoute ??= top.parsedUri as SipUri;
      req.removeFirstItem('route');
    }
    const ruriNow = req.requestUri;
    ctx.ruriIsLocal = local.isLocalUri(ruriNow);
    const inDialog = req.toTag !== undefined;

    if (method === 'CANCEL') return handleCancel(req, ctx, tx);

    // another instance relays a request to a phone registered here (signed Route parameter)
    if (!inDialog && token !== undefined && ourRoute !== undefined && method !== 'ACK') {
      const relay = token.relayTarget(ourRoute);
      if (relay !== undefined && !req.has('route')) {
        const host = relay.address.includes(':') ? `[${relay.address}]` : relay.address;
        return forward(req, ctx, tx, { action: 'forward', targets: [{ destination: `sip:${host}:${relay.port};transport=${relay.transport}` }] }, true);
      }
    }

    if (inDialog) {
      // the ACK of a non-2xx sipfront itself sent without a transaction (stateless mode): ends here
      // (a preloaded Route to us stays on that ACK too: the tag alone decides)
      if (method === 'ACK' && req.toTag!.startsWith('sf') && req.toTag === localTag(req)) return;
      if (method === 'ACK' && ourRoute === undefined && !stateful) {
        // stateless: the ACK of a non-2xx is hop by hop, without Route; it follows its INVITE
        const d = router.route(req, ctx);
        if (isPromise(d)) guard(d.then((dec) => applyDecision(req, ctx, tx, dec)), req);
        else applyDecision(req, ctx, tx, d);
        return;
      }
      if (checkInDialog !== undefined && !checkInDialog(req, ourRoute, ctx)) {
        observer?.refused?.('untrusted', ctx.source);
        if (method === 'ACK') return;
        return reply(req, ctx, tx, 403);
      }
      // loose routing along the remaining route set, else to the Request-URI
      if (ctx.ruriIsLocal && !req.has('route')) {
        if (method === 'ACK') return;
        return reply(req, ctx, tx, 404);
      }
      const shifted = dialogs.size > 0 ? dialogs.get(dialogKey(req.callId, req.fromTag)) : undefined;
      if (shifted !== undefined && method === 'BYE') dialogs.delete(dialogKey(req.callId, req.fromTag));
      const target: RouteTarget = shifted === undefined ? { destination: req.uri } : { destination: req.uri, cseqShift: shifted.shift, ...(shifted.onChallenge !== undefined ? { onChallenge: shifted.onChallenge } : {}) };
      return forward(req, ctx, tx, { action: 'forward', targets: [target] }, false);
    }
    if (method === 'ACK') {
      // an ACK outside any transaction and without a To tag belongs to nothing we know
      return;
    }
    // OPTIONS to sipfront itself (contract step 2)
    if (method === 'OPTIONS' && ctx.ruriIsLocal && isSipUri(ruriNow) && ruriNow.user === undefined && !req.has('route')) {
      return reply(req, ctx, tx, draining ? 503 : 200, undefined, optionsHeaders());
    }
    if (req.has('route')) return reply(req, ctx, tx, 403, 'Preloaded Route Denied');
    if (draining) return reply(req, ctx, tx, 503, undefined, [['Retry-After', '30']]);
    // load shedding (most refusals happen before the transaction is made: `admit` above)
    if (shedRefuse(req, ctx, tx)) return;

    const d = router.route(req, ctx);
    if (isPromise(d)) {
      d.then(
        (dec) => applyDecision(req, ctx, tx, dec),
        (err: unknown) => {
          log.error({ err: err instanceof Error ? err.message : String(err), callId: req.callId }, 'routing failed');
          reply(req, ctx, tx, 500);
        },
      );
    } else applyDecision(req, ctx, tx, d);
  };

  /** a step failed (a bug), at once or in a Promise: logged, never thrown on or an unhandled rejection */
  const stepFailed = (err: unknown, msg: SipMessage): void => {
    log.error({ err: err instanceof Error ? err.stack : String(err), callId: msg.callId }, 'proxy step failed');
  };

  const guard = (p: Promise<unknown>, msg: SipMessage, onError?: () => void): void => {
    p.catch((err: unknown) => {
      stepFailed(err, msg);
      try {
        onError?.();
      } catch {
        // already logged
      }
    });
  };

  const applyDecision = (req: SipMessage, ctx: RequestContext, tx: ServerTransaction | undefined, d: RouteDecision): void => {
    if (d.action === 'reply') return reply(req, ctx, tx, d.status, d.reason, d.headers ?? []);
    if (d.action === 'drop') {
      observer?.refused?.(d.reason, ctx.source);
      return;
    }
    if (d.targets.length === 0) return reply(req, ctx, tx, d.exhaustedStatus ?? 503, undefined, [['Retry-After', '30']]);
    // answered while it was being routed (a CANCEL got the INVITE its 487; the transaction ended):
    // forwarding it now would ring a callee for a call that is over
    if (tx !== undefined && (tx.finalStatus !== 0 || tx.state === 'terminated' || contexts.get(tx)?.cancelled === true)) return;
    forward(req, ctx, tx, d, true);
  };

  const optionsHeaders = (): Array<[string, string]> => [
    ['Allow', 'INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, SUBSCRIBE, NOTIFY, REFER, INFO, UPDATE, PRACK, MESSAGE'],
    ['Accept', 'application/sdp'],
    ['Content-Length', '0'],
  ];

  const handleCancel = (req: SipMessage, ctx: RequestContext, tx: ServerTransaction | undefined, retries = 0): void => {
    if (!stateful || tx === undefined) {
      // stateless: the CANCEL follows the route its INVITE took (same branch computation)
      const d = router.route(req, ctx);
      if (isPromise(d)) guard(d.then((dec) => applyDecision(req, ctx, tx, dec)), req);
      else applyDecision(req, ctx, tx, d);
      return;
    }
    const inviteTx = transactions.findInviteServerTx(req);
    // answered, its transaction at rest: the CANCEL has nothing left to do (§9.2)
    if (inviteTx === undefined && transactions.answeredInvite(req)) return reply(req, ctx, tx, 200);
    if (inviteTx === undefined) {
      // workers: the INVITE may still be on its way from the worker that read it (a relay), and
      // the CANCEL, read here directly, overtook it: look once more before the 481
      if (opts.worker !== undefined && retries < CANCEL_RETRIES) {
        setTimeout(() => handleCancel(req, ctx, tx, retries + 1), CANCEL_RETRY_MS << retries).unref();
        return;
      }
      return reply(req, ctx, tx, 481);
    }
    reply(req, ctx, tx, 200);
    const rc = contexts.get(inviteTx);
    if (rc === undefined) {
      // not forwarded yet (routing in progress) or answered locally
      const invite = inviteTx.request; // there while no final answer was sent
      if (invite !== undefined && (inviteTx.state === 'proceeding' || inviteTx.state === 'trying')) inviteTx.respond(createResponse(invite, 487));
      return;
    }
    rc.cancelled = true;
    rc.queue.length = 0;
    for (const b of rc.branches) if (!b.done) b.tx?.cancel();
    if (rc.branches.every((b) => b.done) && !rc.finalSent) sendBest(rc);
  };

  // ---- forwarding --------------------------------------------------------------------

  const forward = (req: SipMessage, ctx: RequestContext, tx: ServerTransaction | undefined, d: Extract<RouteDecision, { action: 'forward' }>, initial: boolean): void => {
    const loop = loopHash(req, req.firstItemText('via'));
    if (tx === undefined || !stateful) {
      // stateless (or ACK for 2xx): first target only
      sendGuarded(req, ctx, d.targets[0]!, d, initial, loop, undefined);
      return;
    }
    const rc: ResponseContext = {
      req, ctx, serverTx: tx, decision: d, queue: [], branches: [], tries: 0, responses: [], finalSent: false, cancelled: false, lastFailover: false, loop,
    };
    contexts.set(tx, rc);
    open.add(rc);
    if (d.fork === 'parallel') {
      for (const t of d.targets) startBranch(rc, t, initial);
    } else {
      rc.queue = d.targets.slice(1);
      startBranch(rc, d.targets[0]!, initial);
    }
  };

  const startBranch = (rc: ResponseContext, target: RouteTarget, initial: boolean): void => {
    const req = rc.req;
    if (req === undefined) return; // released: the final answer is out
    rc.tries++;
    sendGuarded(req, rc.ctx, target, rc.decision, initial, rc.loop, rc);
  };

  /**
   * sendToTarget, its failure (a bug) logged whether it throws at once or rejects later; a
   * stateful branch that never left then counts as a failed target
   */
  const sendGuarded = (
    req: SipMessage,
    ctx: RequestContext,
    target: RouteTarget,
    d: Extract<RouteDecision, { action: 'forward' }>,
    initial: boolean,
    loop: string,
    rc: ResponseContext | undefined,
  ): void => {
    let sending: Promise<void> | void;
    try {
      sending = sendToTarget(req, ctx, target, d, initial, loop, rc);
    } catch (err) {
      stepFailed(err, req);
      if (rc !== undefined) branchNeverLeft(rc, req, target, initial);
      return;
    }
    if (sending !== undefined) guard(sending, req, rc === undefined ? undefined : () => branchNeverLeft(rc, req, target, initial));
  };

  /** the branch never left (a bug on the way): count it as a failed target so the caller still gets an answer */
  const branchNeverLeft = (rc: ResponseContext, req: SipMessage, target: RouteTarget, initial: boolean): void => {
    try {
      if (!rc.finalSent) branchFailed(rc, req, rc.ctx, target, 500, initial);
    } catch {
      // already logged
    }
  };

  /**
   * Builds the copy for one target and sends it (statelessly, or through a client transaction).
   * Synchronous while the destination resolves at once (an address, a cached name): a Promise
   * only where resolving waits (DNS), not an async frame per forwarded request.
   */
  const sendToTarget = (
    req: SipMessage,
    ctx: RequestContext,
    target: RouteTarget,
    d: Extract<RouteDecision, { action: 'forward' }>,
    initial: boolean,
    loop: string,
    rc: ResponseContext | undefined,
  ): Promise<void> | void => {
    target.onAttempt?.();
    const msg = req.clone();
    if (target.requestUri !== undefined) msg.setRequestUri(target.requestUri);
    if (target.route !== undefined) for (let i = target.route.length - 1; i >= 0; i--) msg.insertFirst('Route', target.route[i]!);
    const mf = msg.maxForwards;
    msg.set('Max-Forwards', String(mf === undefined || Number.isNaN(mf) ? 70 : mf - 1));
    if (d.removeHeaders !== undefined) for (const k of d.removeHeaders) msg.remove(k);
    if (d.addHeaders !== undefined) for (const [n, v] of d.addHeaders) msg.append(n, v);
    const shift = target.cseqShift ?? 0;
    if (shift !== 0) shiftCSeq(msg, shift);

    // next hop: a loose-routing Route, a strict router (§16.6 step 6), or the target
    let destination = target.destination;
    const top = msg.routes()[0];
    if (top !== undefined) {
      if (isSipUri(top.parsedUri) && hasParam(top.parsedUri.params, 'lr')) destination = top.uri;
      else if (top !== undefined) {
        msg.append('Route', `<${msg.uri}>`);
        msg.setRequestUri(top.uri);
        msg.removeFirstItem('route');
        destination = top.uri;
      }
    }
    let r: Endpoint[] | Promise<Endpoint[]>;
    try {
      r = resolver.resolve(destination);
    } catch (err) {
      return unresolved(destination, err, rc, req, ctx, target, initial);
    }
    if (isPromise(r)) {
      return r.then(
        (list) => sendResolved(req, ctx, target, initial, loop, rc, msg, destination, list[0]!, shift),
        (err: unknown) => unresolved(destination, err, rc, req, ctx, target, initial),
      );
    }
    return sendResolved(req, ctx, target, initial, loop, rc, msg, destination, r[0]!, shift);
  };

  const unresolved = (destination: string, err: unknown, rc: ResponseContext | undefined, req: SipMessage, ctx: RequestContext, target: RouteTarget, initial: boolean): void => {
    log.warn({ destination, err: err instanceof Error ? err.message : String(err) }, 'destination does not resolve');
    branchFailed(rc, req, ctx, target, 503, initial);
  };

  /** ours go on top of the Record-Route list; the list itself stays in one block */
  const addRecordRoute = (msg: SipMessage, v: string): void => (msg.has('record-route') ? msg.insertFirst('Record-Route', v) : msg.prepend('Record-Route', v));

  /** sendToTarget, the destination resolved: the Record-Route and Via of the copy, then out */
  const sendResolved = (
    req: SipMessage,
    ctx: RequestContext,
    target: RouteTarget,
    initial: boolean,
    loop: string,
    rc: ResponseContext | undefined,
    msg: SipMessage,
    destination: string,
    resolved: Endpoint,
    shift: number,
  ): void => {
    let endpoint = resolved;
    const estimate = req.body.length + 1024;
    if (endpoint.transport === 'udp' && udpMtu > 0 && estimate > udpMtu - 200) endpoint = { ...endpoint, transport: 'tcp' };
    const out = transport.listenerFor(endpoint, ctx.listener);
    if (out === undefined) {
      log.warn({ destination, transport: endpoint.transport }, 'no listener for the destination transport');
      return branchFailed(rc, req, ctx, target, 503, initial);
    }
    if (initial && DIALOG_CREATING.has(req.method)) {
      const extra = recordRouteParams?.(req) ?? '';
      const inb = ctx.listener;
      if (inb.id !== out.id) addRecordRoute(msg, local.recordRoute(inb, extra));
      addRecordRoute(msg, local.recordRoute(out, extra));
    }
    const branch = rc === undefined ? statelessBranch(req, loop, `${endpoint.transport}:${endpoint.address}:${endpoint.port}`) : newBranch(loop, branchTag);
    // workers: the request leaves from this worker's own socket (its answers come back here)
    const from = sendSocketFor(out, endpoint);
    msg.insertFirst('Via', local.via(from, branch));
    if (endpoint.transport === 'udp') {
      const data = msg.toBuffer();
      if (data.length > UDP_MAX) {
        if (rc === undefined) return reply(req, ctx, undefined, 513);
        return branchFailed(rc, req, ctx, target, 513, initial);
      }
      wireOf = msg;
      wireBytes = data;
    }
    try {
      if (rc === undefined) {
        sendRaw(msg, endpoint, from);
        return;
      }
      if (rc.cancelled || rc.finalSent) return;
      const sent = target.onChallenge !== undefined ? msg.clone() : undefined;
      if (sent !== undefined) sent.removeFirstItem('via');
      // the client transaction keeps the copy as the text it sent, not the message
      launchBranch(rc, target, msg, endpoint, from, sent, shift, 0);
    } finally {
      wireOf = undefined;
      wireBytes = undefined;
    }
  };

  const launchBranch = (rc: ResponseContext, target: RouteTarget, msg: SipMessage, endpoint: Endpoint, out: ListenerInfo, sent: SipMessage | undefined, shift: number, authTries: number): void => {
    const branchRec = new Branch(rc, branchEvents, target, sent, endpoint, out, shift, authTries);
    rc.branches.push(branchRec);
    if (firstAnswerMs > 0 && rc.decision.fork !== 'parallel' && rc.queue.length > 0 && rc.tries < maxTries) {
      // a dead backend should cost the caller seconds, not Timer B: fail over when it stays silent
      const silent = (): void => {
        if (branchRec.answered === true || branchRec.done) return;
        branchRec.timedOut = true;
        branchRec.tx?.terminate();
        onBranchDone(rc, branchRec, 408, undefined);
      };
      // decided after the loop's next read of the sockets (setImmediate runs after the poll phase,
      // timers before it): behind a busy loop the answer may have come in time and wait unread,
      // and failing over then sends the call a second time to a backend, more load when there
      // is too much already
      branchRec.firstAnswer = setTimeout(() => setImmediate(silent), firstAnswerMs);
      branchRec.firstAnswer.unref();
    }
    branchRec.tx = transactions.createClient(msg, targetFrom(endpoint, out), branchRec);
  };

  /** a next hop challenged us (a provider's 401/407): send again with its credentials, CSeq + 1 */
  const resendWithCredentials = (rc: ResponseContext, b: Branch, res: SipMessage): boolean => {
    const target = b.target;
    if (target === undefined || b.sent === undefined || b.endpoint === undefined || b.out === undefined || b.authTries >= 2 || rc.cancelled || rc.finalSent) return false;
    const headers = target.onChallenge?.(res, b.sent);
    if (headers === undefined || headers.length === 0) return false;
    const m = b.sent.clone();
    for (const [n, v] of headers) {
      m.remove(n.toLowerCase());
      m.append(n, v);
    }
    shiftCSeq(m, 1);
    const sent = m.clone();
    m.insertFirst('Via', local.via(b.out, newBranch(rc.loop, branchTag)));
    b.done = true;
    b.status = res.status;
    launchBranch(rc, target, m, b.endpoint, b.out, sent, b.cseqShift + 1, b.authTries + 1);
    return true;
  };

  const branchFailed = (rc: ResponseContext | undefined, req: SipMessage, ctx: RequestContext, target: RouteTarget, status: number, _initial: boolean): void => {
    target.onResult?.(status, undefined);
    if (rc === undefined) {
      if (req.method !== 'ACK') reply(req, ctx, undefined, status);
      return;
    }
    // after the final answer (a parallel branch that resolved late) nothing is left to decide
    if (rc.finalSent || rc.req === undefined) return;
    const b = new Branch(rc, branchEvents, target, undefined, undefined, undefined, 0, 0);
    b.done = true;
    b.status = status;
    rc.branches.push(b);
    rc.responses.push(createResponse(rc.req, status));
    afterBranchFinal(rc, b, status);
  };

  const onBranchResponse = (rc: ResponseContext, b: Branch, res: SipMessage): void => {
    const status = res.status;
    if (b.answered !== true) {
      b.answered = true;
      if (b.firstAnswer !== undefined) clearTimeout(b.firstAnswer);
    }
    if (status === 100) return; // hop by hop
    const req = rc.req;
    // released: every transaction of the context was retired or handed to a TwoXxForwarder
    if (req === undefined) return;
    res.removeFirstItem('via');
    // a UAS that lost the Vias below ours: answer along the request's own path
    if (!res.has('via')) {
      for (const v of req.getAll('via')) res.append('Via', v);
      b.mended = true;
    }
    // the caller sees its own From (a trunk may have presented another identity)
    const callerFrom = req.get('from');
    if (callerFrom !== undefined && res.get('from') !== callerFrom) {
      res.set('From', callerFrom);
      b.mended = true;
    }
    if (b.cseqShift !== 0) {
      // the caller sees its own numbers
      const cs = cseqText(req);
      if (cs !== undefined) res.set('CSeq', cs);
    }
    const target = b.target;
    if ((status === 401 || status === 407) && !b.done && target?.onChallenge !== undefined && resendWithCredentials(rc, b, res)) return;
    // (released: the dialog was noted at the first 2xx)
    if (status >= 200 && status < 300 && b.cseqShift !== 0 && target !== undefined && req.method === 'INVITE' && req.toTag === undefined) {
      dialogs.set(dialogKey(req.callId, req.fromTag), { shift: b.cseqShift, onChallenge: target.onChallenge, at: Date.now() });
    }
    if (status < 200) {
      if (!rc.finalSent) rc.serverTx.respond(res);
      return;
    }
    if (status < 300) {
      // every 2xx goes upstream (§16.7 step 5), the first one ends the other branches
      const first = !b.done;
      if (first) {
        b.done = true;
        b.status = status;
        target?.onResult?.(status, res);
      }
      rc.finalSent = true;
      open.delete(rc);
      rc.queue.length = 0;
      rc.serverTx.respond(res);
      for (const o of rc.branches) if (o !== b && !o.done) o.tx?.cancel();
      release(rc);
      return;
    }
    if (b.done) return; // a retransmitted final (absorbed by the transaction already)
    onBranchDone(rc, b, b.timedOut ? 408 : status, b.timedOut ? undefined : res);
  };

  const onBranchTimeout = (rc: ResponseContext, b: Branch): void => {
    if (b.done) return;
    // Timer B/F: no answer; Timer C: a provisional but no final — cancel and wait for the 487
    if (b.tx?.state === 'proceeding') {
      b.timedOut = true;
      b.tx.cancel();
      return;
    }
    onBranchDone(rc, b, 408, undefined);
  };

  const onBranchDone = (rc: ResponseContext, b: Branch, status: number, res: SipMessage | undefined): void => {
    if (b.done) return;
    b.done = true;
    if (b.firstAnswer !== undefined) clearTimeout(b.firstAnswer);
    b.status = status;
    b.target?.onResult?.(status, res);
    if (rc.finalSent || rc.req === undefined) {
      // the caller has its answer: this was the last word of a cancelled branch, perhaps
      release(rc);
      return;
    }
    rc.responses.push(res ?? createResponse(rc.req, status));
    afterBranchFinal(rc, b, status);
  };

  const branchEvents: BranchEvents = {
    response: (rc, b, res) => onBranchResponse(rc, b, res),
    timeout: (rc, b) => onBranchTimeout(rc, b),
    transportError: (rc, b) => onBranchDone(rc, b, 503, undefined),
  };

  const afterBranchFinal = (rc: ResponseContext, _b: Branch, status: number): void => {
    if (rc.finalSent) return;
    const failover = failoverCodes.has(status);
    rc.lastFailover = failover;
    if (status >= 600) {
      rc.queue.length = 0;
      for (const o of rc.branches) if (!o.done) o.tx?.cancel();
    } else if (failover && !rc.cancelled && rc.queue.length > 0 && rc.tries < maxTries) {
      startBranch(rc, rc.queue.shift()!, true);
      return;
    }
    if (rc.branches.every((x) => x.done) && rc.queue.length === 0) sendBest(rc);
    else if (rc.decision.fork !== 'parallel' && rc.branches.every((x) => x.done)) sendBest(rc);
  };

  const sendBest = (rc: ResponseContext): void => {
    if (rc.finalSent) return;
    rc.finalSent = true;
    open.delete(rc);
    rc.serverTx.respond(bestAnswer(rc));
    release(rc);
  };

  const bestAnswer = (rc: ResponseContext): SipMessage => {
    const req = rc.req!; // released only after the final answer
    if (rc.cancelled) return rc.responses.find((r) => r.status === 487) ?? createResponse(req, 487);
    const best = chooseBest(rc.responses);
    if (best === undefined) return createResponse(req, 500);
    // contract: all tried destinations timed out → 408; exhausted by failover answers → 503 with Retry-After
    const serial = rc.decision.fork !== 'parallel';
    if (serial && rc.responses.every((r) => r.status === 408)) return createResponse(req, 408);
    if (serial && rc.lastFailover && rc.decision.exhaustedStatus !== undefined) {
      return createResponse(req, rc.decision.exhaustedStatus, undefined, [['Retry-After', '30']]);
    }
    if (best.status === 503) return createResponse(req, 500);
    return best;
  };

  /**
   * The final answer is out and no branch waits for one: keep only what forwarding a 2xx
   * retransmission (serverTx, the branches' done flags, `up`) and a late CANCEL (the flags) need.
   */
  const release = (rc: ResponseContext): void => {
    const req = rc.req;
    if (req === undefined || !rc.finalSent) return;
    for (const b of rc.branches) if (!b.done) return;
    // what 2xx retransmissions still need goes to a small forwarder; every other transaction of
    // the context only absorbs what is left: nothing holds the context after this
    for (const b of rc.branches) {
      const tx = b.tx;
      if (tx === undefined) continue;
      if (tx.state !== 'accepted') tx.retire();
      else if (b.cseqShift === 0 && !b.mended) {
        // a 2xx retransmission needs nothing of this call: the layer keeps only where it goes
        tx.retire(rc.serverTx.responseTarget);
      } else {
        const cs = b.cseqShift !== 0 ? cseqText(req) : undefined;
        tx.rebind(new TwoXxForwarder(rc.serverTx.responseTarget, txSend, fresh(req.getAll('via').join('\n')), freshOpt(req.get('from')), cs === undefined ? undefined : fresh(cs)));
      }
    }
    rc.req = undefined;
    rc.responses = NO_RESPONSES;
    rc.queue = NO_TARGETS;
    rc.decision = RELEASED;
    rc.ctx = RELEASED_CONTEXT;
    rc.loop = '';
    for (const b of rc.branches) {
      b.tx = undefined;
      b.target = undefined;
      b.sent = undefined;
      b.endpoint = undefined;
      b.out = undefined;
      b.firstAnswer = undefined;
    }
    // a late CANCEL finds the transaction answered and needs no context; a 2xx retransmission of
    // an INVITE reaches this one through its client transaction's handlers
    contexts.delete(rc.serverTx);
  };

  // ---- responses (stateless and stray) -----------------------------------------------

  const forwardResponseStateless = (res: SipMessage): void => {
    const vias = res.vias();
    const top = vias[0];
    if (top === undefined) return;
    if (!(top.branch?.startsWith(BRANCH_PREFIX) ?? false) || !local.isLocal(top.host, top.port, top.transport.toLowerCase())) {
      log.debug({ via: top.host }, 'response not for us: dropped');
      return;
    }
    if (res.status === 100) return;
    const next = vias[1];
    if (next === undefined) return; // for sipfront itself, but no transaction wants it
    res.removeFirstItem('via');
    const t = next.transport.toLowerCase();
    if (t !== 'udp' && t !== 'tcp' && t !== 'tls') return;
    const received = getParam(next.params, 'received');
    const rport = getParam(next.params, 'rport');
    const address = typeof received === 'string' ? received : next.host;
    const port = typeof rport === 'string' ? Number(rport) : next.port ?? (t === 'tls' ? 5061 : 5060);
    const ep: Endpoint = { transport: t as TransportName, address, port };
    if (/^[0-9.]+$|:/.test(address)) sendRaw(res, ep, undefined);
    else {
      const r = resolver.resolve(formatUri({ scheme: 'sip', user: undefined, password: undefined, host: address, ipv6: false, port, params: [['transport', t]], headers: undefined }));
      guard(Promise.resolve(r).then((l) => sendRaw(res, { ...l[0]!, port }, undefined)), res);
    }
  };

  const originate = async (req: SipMessage, destination: string, timeoutMs: number): Promise<OriginateResult> => {
    const started = Date.now();
    let endpoint: Endpoint;
    try {
      const r = resolver.resolve(destination);
      endpoint = (isPromise(r) ? await r : r)[0]!;
    } catch (err) {
      return { response: undefined, code: null, rttMs: Date.now() - started, error: err instanceof Error ? err.message : String(err) };
    }
    const out = transport.listenerFor(endpoint);
    if (out === undefined) return { response: undefined, code: null, rttMs: 0, error: `no ${endpoint.transport} listener` };
    const msg = req.clone();
    if (!msg.has('max-forwards')) msg.prepend('Max-Forwards', '70');
    const from = sendSocketFor(out, endpoint);
    msg.prepend('Via', local.via(from, newBranch(loopHash(msg, undefined), branchTag)));
    return new Promise<OriginateResult>((resolve) => {
      let done = false;
      const finish = (r: OriginateResult): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve(r);
      };
      let tx: ClientTransaction | undefined;
      const timer = setTimeout(() => {
        tx?.terminate();
        finish({ response: undefined, code: null, rttMs: Date.now() - started, error: 'timeout' });
      }, timeoutMs);
      timer.unref();
      try {
        tx = transactions.createClient(msg, targetFrom(endpoint, from), {
          onResponse: (res) => {
            if (res.status >= 200) finish({ response: res, code: res.status, rttMs: Date.now() - started });
          },
          onTimeout: () => finish({ response: undefined, code: null, rttMs: Date.now() - started, error: 'timeout' }),
          onTransportError: (_tx, err) => finish({ response: undefined, code: null, rttMs: Date.now() - started, error: err.message }),
        });
      } catch (err) {
        finish({ response: undefined, code: null, rttMs: 0, error: err instanceof Error ? err.message : String(err) });
      }
    });
  };

  return {
    handleInbound,
    originate,
    setDraining(on) {
      draining = on;
    },
    get draining() {
      return draining;
    },
    transactions,
    local,
    relayParams: (t) => token?.relayParams(t),
    updateListeners() {
      local.update(transport.listeners());
    },
    pendingRequests() {
      return open.size;
    },
    async shutdown(graceMs: number) {
      draining = true;
      const until = Date.now() + graceMs;
      while (open.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
      if (open.size === 0) return;
      for (const rc of [...open]) {
        rc.queue.length = 0;
        for (const b of rc.branches) if (!b.done) b.tx?.cancel();
        rc.finalSent = true;
        open.delete(rc);
        if (rc.req !== undefined) rc.serverTx.respond(createResponse(rc.req, 503, undefined, [['Retry-After', '30']]));
        release(rc);
      }
      await new Promise((r) => setTimeout(r, 50));
    },
    activeTransactions() {
      const s = transactions.size;
      return s.server + s.client;
    },
    overload() {
      return shedder === undefined ? undefined : { share: shedder.share, load: shedder.load, backlog: shedder.backlog() };
    },
    close() {
      clearInterval(dialogSweep);
      ownShedder?.close();
      transactions.close();
    },
  };
};

const cseqText = (m: SipMessage): string | undefined => {
  const cs = m.cseq;
  return cs === undefined ? undefined : `${cs.seq} ${cs.method}`;
};

const dialogKey = (callId: string | undefined, tag: string | undefined): string => `${callId ?? ''}\u0000${tag ?? ''}`;

const shiftCSeq = (m: SipMessage, by: number): void => {
  const cs = m.cseq;
  if (cs !== undefined) m.set('CSeq', `${cs.seq + by} ${cs.method}`);
};

const isPromise = <T>(v: T | Promise<T>): v is Promise<T> => typeof (v as { then?: unknown } | null)?.then === 'function';

export const chooseBest = (responses: readonly SipMessage[]): SipMessage | undefined => {
  let best: SipMessage | undefined;
  for (const r of responses) {
    if (r.status >= 600) return r;
    if (best === undefined || Math.floor(r.status / 100) < Math.floor(best.status / 100)) best = r;
  }
  if (best !== undefined && (best.status === 401 || best.status === 407)) {
    // merge the challenges of every 401/407 (§16.7 step 7)
    const merged = best.clone();
    for (const r of responses) {
      if (r === best || (r.status !== 401 && r.status !== 407)) continue;
      for (const k of ['www-authenticate', 'proxy-authenticate']) for (const v of r.getAll(k)) merged.append(k === 'www-authenticate' ? 'WWW-Authenticate' : 'Proxy-Authenticate', v);
    }
    return merged;
  }
  return best;
};

export { SipParseError };
