// The transaction layer: matches inbound messages to transactions (§17.1.3, §17.2.3), creates
// server transactions for new requests, and owns the maps and the timer settings.
import type { SipMessage } from '../message/message.js';
import { tryParseMessage } from '../message/parser.js';
import { MAGIC_COOKIE } from '../message/via.js';
import type { Via } from '../message/via.js';
import { buildTrying, defaultResponseTarget, sameTarget } from './build.js';
import { ClientTransaction } from './client-transaction.js';
import { monotonicOf, queuedClock, realClock, resolveTimers } from './clock.js';
import type { QueuedClock } from './clock.js';
import type { TxContext } from './context.js';
import { TransactionError } from './errors.js';
import { fillSkeleton, SkeletonTable, skeletonOf } from './replay.js';
import { REST_ABSORB, REST_ACCEPTED, REST_REPLAY, REST_STRAY, RestTable } from './rest.js';
import { credentialsOf, fresh } from './retain.js';
import { ServerTransaction } from './server-transaction.js';
import type {
  ClientTransactionHandlers,
  Target,
  TimerConfig,
  TransactionLayer,
  TransactionLayerOptions,
} from './types.js';

export const createTransactionLayer = (options: TransactionLayerOptions): TransactionLayer => new Layer(options);

/**
 * An RFC 3261 branch: the magic cookie and something after it. The bare cookie (RFC 4475
 * §3.2.1 "badbranch") carries no identifier and falls back to the RFC 2543 rules.
 */
const isRfc3261Branch = (branch: string | undefined): branch is string =>
  branch !== undefined && branch.length > MAGIC_COOKIE.length && branch.startsWith(MAGIC_COOKIE);

/** Key of a server transaction whose branch has the magic cookie: branch, sent-by, method (ACK → INVITE). */
const serverKey = (branch: string, via: Via, method: string): string =>
  `${branch}\n${via.host}:${via.port ?? ''}\n${method}`;

/**
 * Key of an RFC 2543 server transaction: Request-URI, From tag, Call-ID, CSeq number and top
 * Via. The To tag and the credentials are compared afterwards, since an ACK carries the To tag
 * of the response and no credentials.
 */
const legacyKey = (req: SipMessage, method: string, seq: number): string =>
  `${method}\n${req.uri}\n${req.fromTag ?? ''}\n${req.callId ?? ''}\n${seq}\n${req.firstItemText('via') ?? ''}`;

const sameCredentials = (tx: ServerTransaction, req: SipMessage): boolean => tx.credentials === credentialsOf(req);

/** Handlers of the CANCEL transactions the layer starts for ClientTransaction.cancel(). */
const CANCEL_HANDLERS: ClientTransactionHandlers = {
  onResponse: () => undefined,
  onTimeout: () => undefined,
  onTransportError: () => undefined,
};

/**
 * A server transaction at rest: the final response to replay (latin1; OWN_SKELETON and a
 * skeleton of its own, replay.ts), or REST_ACCEPTED / REST_CONFIRMED, or REST_REPLAY with a
 * shared skeleton's id above the mark's two bits.
 */
type ServerRest = string | number;
const markOf = (v: number): number => v & 3;
/** at most this many shared skeletons (SkeletonTable's bound) */
const SKELETONS = 4096;
const replayValue = (id: number): number => id * 4 + REST_REPLAY;
const skeletonIdOf = (v: number): number => (v >> 2) & (SKELETONS - 1);
/** the first character of a skeleton kept as the value itself (a response starts with `SIP/`) */
const OWN_SKELETON = '\x01';
/** a client transaction at rest: where a 2xx goes (Accepted), or REST_ABSORB / REST_STRAY */
type ClientRest = Target | number;

class Layer implements TransactionLayer, TxContext {
  readonly clock: QueuedClock;
  readonly timers: Readonly<TimerConfig>;
  readonly compactRest: boolean;
  private readonly opts: TransactionLayerOptions;
  private readonly autoTrying: boolean;
  private readonly tryingDelay: number;
  private readonly responseTargetOf: (req: SipMessage, source: Target) => Target;
  /** server transactions with a magic-cookie branch */
  private readonly servers = new Map<string, ServerTransaction>();
  /** RFC 2543 server transactions; one key may hold several (To tag, credentials) */
  private readonly legacy = new Map<string, ServerTransaction[]>();
  private legacyCount = 0;
  private legacySeq = 0;
  private readonly clients = new Map<string, ClientTransaction>();
  /** what is left of server and client transactions at rest, under the same keys (rest.ts) */
  private readonly serverRests: RestTable<ServerRest>;
  private readonly clientRests: RestTable<ClientRest>;
  private readonly base: NonNullable<TransactionLayerOptions['clock']>;
  private readonly mono: () => number;
  private closed = false;
  /** the finals at rest as skeletons, one copy of each (replay.ts) */
  private readonly skeletons = new SkeletonTable(SKELETONS);
  private readonly endServerRest = (v: ServerRest): void => {
    if (typeof v === 'number' && markOf(v) === REST_REPLAY) this.skeletons.release(skeletonIdOf(v));
  };

  constructor(opts: TransactionLayerOptions) {
    this.opts = opts;
    this.base = opts.clock ?? realClock;
    this.mono = monotonicOf(this.base);
    this.clock = queuedClock(this.base, this.mono);
    this.serverRests = new RestTable<ServerRest>(this.base, this.mono, this.endServerRest);
    this.clientRests = new RestTable<ClientRest>(this.base, this.mono);
    this.compactRest = opts.compactRest ?? false;
    this.timers = resolveTimers(opts.timers);
    this.autoTrying = opts.autoTrying ?? true;
    const td = opts.tryingDelay ?? 0;
    if (typeof td !== 'number' || !Number.isFinite(td) || td < 0) throw new TransactionError('bad-timer', `tryingDelay: not a duration in ms: ${String(td)}`);
    this.tryingDelay = td;
    this.responseTargetOf = opts.responseTarget ?? defaultResponseTarget;
  }

  get restSkeletons(): number {
    return this.skeletons.size;
  }

  get size(): { server: number; client: number } {
    return { server: this.servers.size + this.serverRests.size + this.legacyCount, client: this.clients.size + this.clientRests.size };
  }

  // ---- inbound -----------------------------------------------------------------------

  receive(msg: SipMessage, source: Target): void {
    if (this.closed) return;
    if (msg.status !== 0) {
      this.receiveResponse(msg, source);
      return;
    }
    const via = msg.topVia;
    const cseq = msg.cseq;
    if (via === undefined || cseq === undefined) return; // the parser's validate() lets none through
    const method = msg.method;
    const branch = via.branch;
    if (isRfc3261Branch(branch)) {
      const key = serverKey(branch, via, method === 'ACK' ? 'INVITE' : method);
      const tx = this.servers.get(key);
      if (tx === undefined) {
        const rest = this.serverRests.get(key);
        if (rest !== undefined) {
          if (this.atRest(rest, key, msg, source, method)) return;
        } else if (method === 'ACK') {
          this.passAck(msg, source);
          return;
        }
      } else if (method === 'ACK') {
        tx.ack(msg, source);
        return;
      } else {
        // A retransmission, unless it brings other credentials after a final response: then it
        // is a new request from a client that reused the branch; the old transaction gives way.
        if (tx.finalStatus < 200 || sameCredentials(tx, msg)) {
          tx.retransmission();
          return;
        }
        tx.terminate();
      }
      if (this.opts.admit !== undefined && !this.opts.admit(msg, source)) return;
      // a fresh key: the map keeps it for as long as the transaction lives, the message text not
      const k = fresh(key);
      const ntx = new ServerTransaction(this, k, k, false, msg, source, this.responseTargetOf(msg, source));
      this.servers.set(k, ntx);
      this.started(ntx, msg, source);
      return;
    }
    this.receiveLegacy(msg, source, method, cseq.seq);
  }

  /**
   * A request for a server transaction at rest. True when that handled it; false for a request
   * that brings other credentials (the transaction at rest had none): a new request, which
   * takes the key over.
   */
  private atRest(rest: ServerRest, key: string, msg: SipMessage, source: Target, method: string): boolean {
    if (method === 'ACK') {
      if (typeof rest === 'number' && markOf(rest) === REST_ACCEPTED) this.passAck(msg, source);
      return true; // Confirmed absorbs it
    }
    if (credentialsOf(msg) !== '') {
      this.serverRests.remove(key);
      return false;
    }
    // a retransmission: Completed (non-INVITE) replays its final where this copy's answer goes;
    // Accepted and Confirmed absorb it
    let text: string | undefined;
    if (typeof rest === 'string') text = rest[0] === OWN_SKELETON ? fillSkeleton(rest.slice(1), msg) : rest;
    else if (markOf(rest) === REST_REPLAY) {
      const skeleton = this.skeletons.text(skeletonIdOf(rest));
      if (skeleton !== undefined) text = fillSkeleton(skeleton, msg);
    }
    if (text !== undefined) this.transmitBytes(text, this.responseTargetOf(msg, source));
    return true;
  }

  private receiveLegacy(msg: SipMessage, source: Target, method: string, seq: number): void {
    const isAck = method === 'ACK';
    const key = legacyKey(msg, isAck ? 'INVITE' : method, seq);
    const bucket = this.legacy.get(key);
    if (isAck) {
      // the ACK for a non-2xx carries the To tag of that response
      const toTag = msg.toTag;
      if (bucket !== undefined) {
        for (const tx of bucket) {
          if (tx.finalStatus >= 200 && tx.finalToTag === toTag) {
            tx.ack(msg, source);
            return;
          }
        }
      }
      this.passAck(msg, source);
      return;
    }
    if (bucket !== undefined) {
      const toTag = msg.toTag;
      for (const tx of bucket) {
        if (tx.requestToTag === toTag && sameCredentials(tx, msg)) {
          tx.retransmission();
          return;
        }
      }
    }
    if (this.opts.admit !== undefined && !this.opts.admit(msg, source)) return;
    const k = bucket === undefined ? fresh(key) : bucket[0]!.key;
    const tx = new ServerTransaction(this, `${k}\n#${++this.legacySeq}`, k, true, msg, source, this.responseTargetOf(msg, source));
    if (bucket === undefined) this.legacy.set(k, [tx]);
    else bucket.push(tx);
    this.legacyCount++;
    this.started(tx, msg, source);
  }

  private started(tx: ServerTransaction, req: SipMessage, source: Target): void {
    if (tx.isInvite && this.autoTrying) {
      if (this.tryingDelay > 0) tx.deferTrying(this.tryingDelay);
      else tx.respond(buildTrying(req));
    }
    try {
      this.opts.onRequest(req, source, tx);
    } catch (e) {
      this.fail(e);
    }
  }

  private receiveResponse(res: SipMessage, source: Target): void {
    const via = res.topVia;
    const cseq = res.cseq;
    const branch = via?.branch;
    if (branch !== undefined && cseq !== undefined) {
      const key = `${branch}\n${cseq.method}`;
      const live = this.clients.get(key);
      if (live !== undefined) {
        live.response(res);
        return;
      }
      const tx = this.clientRests.get(key);
      if (tx !== undefined) {
        // at rest: Completed absorbs; Accepted passes every 2xx on (RFC 6026)
        const s = res.status;
        if (tx === REST_ABSORB || s < 200 || s >= 300) return;
        if (tx !== REST_STRAY) {
          const up = this.opts.onRested2xx;
          if (up !== undefined) {
            try {
              up(res, tx as Target);
            } catch (e) {
              this.fail(e);
            }
            return;
          }
        }
      }
    }
    const stray = this.opts.onStrayResponse;
    if (stray === undefined) return;
    try {
      stray(res, source);
    } catch (e) {
      this.fail(e);
    }
  }

  findInviteServerTx(cancel: SipMessage): ServerTransaction | undefined {
    const via = cancel.topVia;
    const cseq = cancel.cseq;
    if (via === undefined || cseq === undefined) return undefined;
    const branch = via.branch;
    if (isRfc3261Branch(branch)) {
      return this.servers.get(serverKey(branch, via, 'INVITE'));
    }
    // §9.2: the §17.2.3 rules as if the CANCEL were the INVITE; its To tag is the INVITE's
    const bucket = this.legacy.get(legacyKey(cancel, 'INVITE', cseq.seq));
    if (bucket === undefined) return undefined;
    const toTag = cancel.toTag;
    for (let i = bucket.length - 1; i >= 0; i--) if (bucket[i]!.requestToTag === toTag) return bucket[i];
    return undefined;
  }

  answeredInvite(cancel: SipMessage): boolean {
    const via = cancel.topVia;
    const branch = via?.branch;
    if (via !== undefined && isRfc3261Branch(branch)) {
      const key = serverKey(branch, via, 'INVITE');
      const tx = this.servers.get(key);
      return tx !== undefined ? tx.finalStatus >= 200 : this.serverRests.has(key);
    }
    return (this.findInviteServerTx(cancel)?.finalStatus ?? 0) >= 200;
  }

  // ---- outbound ----------------------------------------------------------------------

  createClient(req: SipMessage, target: Target, handlers: ClientTransactionHandlers): ClientTransaction {
    if (this.closed) throw new TransactionError('closed', 'the transaction layer is closed');
    const method = req.method;
    if (method === 'ACK') throw new TransactionError('ack-has-no-transaction', 'an ACK is sent without a client transaction');
    const viaBranch = req.topVia?.branch;
    if (viaBranch === undefined || viaBranch.length === 0) throw new TransactionError('no-branch', 'the request has no Via branch');
    const key = fresh(`${viaBranch}\n${method}`);
    if (this.clients.has(key) || this.clientRests.has(key)) throw new TransactionError('duplicate-branch', `a ${method} client transaction with branch ${viaBranch} exists`);
    const tx = new ClientTransaction(this, key, req, target, handlers);
    this.clients.set(key, tx);
    tx.start();
    return tx;
  }

  reportTransportError(target: Target, err: Error): void {
    if (this.closed) return;
    // collect first: the callbacks may start new transactions (failover) to other targets
    const hit: Array<ClientTransaction | ServerTransaction> = [];
    for (const tx of this.clients.values()) if (sameTarget(tx.target, target)) hit.push(tx);
    for (const tx of this.servers.values()) if (sameTarget(tx.responseTarget, target)) hit.push(tx);
    for (const bucket of this.legacy.values()) for (const tx of bucket) if (sameTarget(tx.responseTarget, target)) hit.push(tx);
    for (const tx of hit) tx.transportError(err);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const tx of this.clients.values()) tx.dispose();
    for (const tx of this.servers.values()) tx.dispose();
    this.serverRests.clear();
    this.clientRests.clear();
    this.skeletons.clear();
    for (const bucket of this.legacy.values()) for (const tx of bucket) tx.dispose();
    this.clock.close();
    this.clients.clear();
    this.servers.clear();
    this.legacy.clear();
    this.legacyCount = 0;
  }

  // ---- TxContext ---------------------------------------------------------------------

  transmit(msg: SipMessage, target: Target): Buffer | undefined {
    try {
      // only bytes count: a `send` written as an expression may return whatever it computed
      const data = this.opts.send(msg, target);
      return data instanceof Buffer ? data : undefined;
    } catch (e) {
      // send() must not throw; if it does, treat it as the transport error it is, outside
      // the state change that is sending
      const err = e instanceof Error ? e : new Error(String(e));
      queueMicrotask(() => this.reportTransportError(target, err));
      return undefined;
    }
  }

  transmitBytes(data: string, target: Target): void {
    // rare (a retransmission): parsed again so that `send` and its observers see a message
    const r = tryParseMessage(Buffer.from(data, 'latin1'));
    if (r.ok) this.transmit(r.message, target);
  }

  passAck(ack: SipMessage, source: Target): void {
    try {
      this.opts.onRequest(ack, source, undefined);
    } catch (e) {
      this.fail(e);
    }
  }

  sendCancel(cancel: SipMessage, target: Target): void {
    if (this.closed) return;
    const key = fresh(`${cancel.topVia?.branch ?? ''}\nCANCEL`);
    if (this.clients.has(key) || this.clientRests.has(key)) return;
    const tx = new ClientTransaction(this, key, cancel, target, CANCEL_HANDLERS);
    this.clients.set(key, tx);
    tx.start();
  }

  serverTerminated(tx: ServerTransaction): void {
    if (!tx.legacy) {
      if (this.servers.get(tx.key) === tx) this.servers.delete(tx.key);
      return;
    }
    const bucket = this.legacy.get(tx.key);
    if (bucket === undefined) return;
    const i = bucket.indexOf(tx);
    if (i === -1) return;
    bucket.splice(i, 1);
    this.legacyCount--;
    if (bucket.length === 0) this.legacy.delete(tx.key);
  }

  clientTerminated(tx: ClientTransaction): void {
    if (this.clients.get(tx.id) === tx) this.clients.delete(tx.id);
  }

  serverRest(tx: ServerTransaction, rest: ServerRest, ms: number, req?: SipMessage): void {
    if (this.closed || this.servers.get(tx.key) !== tx) return;
    if (typeof rest === 'string' && req !== undefined && rest !== '') {
      // the final as a skeleton filled in from the retransmission that asks for it: shared when
      // another transaction at rest has the same one (a backend's 200 to BYE), else its own
      const skeleton = skeletonOf(rest, req);
      if (skeleton !== undefined) {
        const id = this.skeletons.acquire(skeleton);
        rest = id >= 0 ? replayValue(id) : OWN_SKELETON + skeleton;
      }
    }
    this.servers.delete(tx.key);
    this.serverRests.set(tx.key, rest, ms);
  }

  clientRest(tx: ClientTransaction, rest: ClientRest, ms: number, nominal: number): void {
    if (this.closed || this.clients.get(tx.id) !== tx) return;
    this.clients.delete(tx.id);
    this.clientRests.set(tx.id, rest, ms, nominal);
  }

  fail(err: unknown): void {
    const onError = this.opts.onError;
    if (onError === undefined) throw err;
    onError(err);
  }
}
