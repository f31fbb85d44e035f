// Server transactions (RFC 3261 §17.2 with the RFC 6026 Accepted state). One class runs both
// machines: INVITE (proceeding → completed → confirmed, or → accepted) and non-INVITE
// (trying → proceeding → completed). Timers receive the transaction as argument: no closures.
// Once the final response is sent the transaction lets go of the request and the response: it
// lives on for 64·T1 keeping only its key, state, timer and, where it must replay, the bytes.
import type { SipMessage } from '../message/message.js';
import { buildTrying } from './build.js';
import { tryParseMessage } from '../message/parser.js';
import type { TxContext } from './context.js';
import { REST_ACCEPTED, REST_CONFIRMED } from './rest.js';
import { credentialsOf, freshOpt, sentText } from './retain.js';
import type { ServerTransactionState, Target, TimeoutReason, TimerHandle } from './types.js';

type AckHook = (tx: ServerTransaction, ack: SipMessage) => void;
type TimeoutHook = (tx: ServerTransaction, reason: TimeoutReason) => void;
type ErrorHook = (tx: ServerTransaction, err: Error) => void;
type EndHook = (tx: ServerTransaction) => void;

/** the hooks a TU sets (tests and tools; the proxy sets none): allocated on first use */
interface Hooks {
  onAck?: AckHook | undefined;
  onTimeout?: TimeoutHook | undefined;
  onTransportError?: ErrorHook | undefined;
  onTerminated?: EndHook | undefined;
}

/** what only an RFC 2543 (no magic cookie) transaction needs */
interface LegacyPart {
  readonly id: string;
  readonly requestToTag: string | undefined;
  finalToTag: string | undefined;
}

const INVITE = 1;
const RELIABLE = 2;
/** left for the layer's map in Accepted (compactRest): the TU may still pass 2xx (forks) */
const ACCEPTED_AT_REST = 4;

// Thousands of these live for 64·T1 each at load: fields are few, flags share one small integer,
// and what most transactions never use (hooks, RFC 2543 matching) lives in objects made on demand.
export class ServerTransaction {
  readonly method: string;
  /** the request that created the transaction; undefined once the final response is sent */
  request: SipMessage | undefined;
  readonly source: Target;
  /** where responses go */
  readonly responseTarget: Target;
  /** free for the transaction user (the proxy's per-transaction state) */
  data: unknown = undefined;
  /**
   * the last provisional response sent, as sent (latin1): a retransmitted request gets it again;
   * undefined once the final response is sent. Text rather than the message: an INVITE's 180
   * lives as long as its call rings.
   */
  private lastText: string | undefined = undefined;

  /** @internal map key (several legacy transactions may share one) */
  readonly key: string;

  private hooks: Hooks | undefined = undefined;
  private readonly lg: LegacyPart | undefined;
  private flags: number;
  private st: ServerTransactionState;
  private readonly ctx: TxContext;
  /** status of the final response sent; 0 before */
  private fin = 0;
  /** the request's credentials, kept when the request is let go */
  private creds: string | undefined = undefined;
  /** the final response as sent (latin1 text), while the state machine may have to send it again */
  private finalBytes: string | undefined = undefined;
  /** Timer G; in an INVITE's proceeding state before any response, the deferred 100 Trying */
  private retransmit: TimerHandle | undefined = undefined;
  private interval = 0;
  /** Timer H, I, J or L: whichever ends the current state */
  private end: TimerHandle | undefined = undefined;

  constructor(ctx: TxContext, id: string, key: string, legacy: boolean, req: SipMessage, source: Target, responseTarget: Target) {
    this.ctx = ctx;
    this.key = key;
    this.lg = legacy ? { id, requestToTag: freshOpt(req.toTag), finalToTag: undefined } : undefined;
    this.request = req;
    this.method = req.method;
    this.flags = (req.method === 'INVITE' ? INVITE : 0) | (source.transport !== 'udp' ? RELIABLE : 0);
    this.source = source;
    this.responseTarget = responseTarget;
    this.st = this.isInvite ? 'proceeding' : 'trying';
  }

  /** unique among live transactions */
  get id(): string {
    return this.lg === undefined ? this.key : this.lg.id;
  }

  get isInvite(): boolean {
    return (this.flags & INVITE) !== 0;
  }

  /** stream transport: no retransmissions, Timers I and J are 0 */
  get reliable(): boolean {
    return (this.flags & RELIABLE) !== 0;
  }

  /** @internal matched per RFC 2543 rules (no magic cookie) */
  get legacy(): boolean {
    return this.lg !== undefined;
  }

  /** @internal the request's To tag (RFC 2543 matching only) */
  get requestToTag(): string | undefined {
    return this.lg?.requestToTag;
  }

  /** @internal the final response's To tag (RFC 2543 ACK matching only) */
  get finalToTag(): string | undefined {
    return this.lg?.finalToTag;
  }

  /** The ACK for a non-2xx final response arrived (completed → confirmed). */
  get onAck(): AckHook | undefined {
    return this.hooks?.onAck;
  }

  set onAck(f: AckHook | undefined) {
    (this.hooks ??= {}).onAck = f;
  }

  /** Timer H: the ACK never came (the transaction then terminates). */
  get onTimeout(): TimeoutHook | undefined {
    return this.hooks?.onTimeout;
  }

  set onTimeout(f: TimeoutHook | undefined) {
    (this.hooks ??= {}).onTimeout = f;
  }

  get onTransportError(): ErrorHook | undefined {
    return this.hooks?.onTransportError;
  }

  set onTransportError(f: ErrorHook | undefined) {
    (this.hooks ??= {}).onTransportError = f;
  }

  get onTerminated(): EndHook | undefined {
    return this.hooks?.onTerminated;
  }

  set onTerminated(f: EndHook | undefined) {
    (this.hooks ??= {}).onTerminated = f;
  }

  get state(): ServerTransactionState {
    return this.st;
  }

  /** the status of the final response sent; 0 while there is none */
  get finalStatus(): number {
    return this.fin;
  }

  /** @internal the request's Authorization and Proxy-Authorization lines ('' without) */
  get credentials(): string {
    return this.creds ?? credentialsOf(this.request!);
  }

  /** the last provisional response sent (parsed again from its text); undefined once the final response is sent */
  get lastResponse(): SipMessage | undefined {
    const t = this.lastText;
    if (t === undefined) return undefined;
    const r = tryParseMessage(Buffer.from(t, 'latin1'));
    return r.ok ? r.message : undefined;
  }

  /**
   * Sends a response of the transaction user. After a final response only further 2xx to an
   * INVITE pass (RFC 6026 §7.1); anything else is dropped (see `lastResponse`).
   */
  respond(res: SipMessage): void {
    const s = res.status;
    const t = this.ctx.timers;
    switch (this.st) {
      case 'proceeding':
      case 'trying':
        // the TU answered first: a deferred 100 Trying is not needed any more
        if (this.retransmit !== undefined) this.clearRetransmit();
        if (s < 200) {
          this.lastText = sentText(this.ctx.transmit(res, this.responseTarget), res);
          this.st = 'proceeding';
          return;
        }
        const data = this.ctx.transmit(res, this.responseTarget);
        // non-INVITE completed replays the final; INVITE completed retransmits it (Timer G) and
        // replays it; accepted passes 2xx from the TU and replays nothing
        const req = this.request;
        this.release(res, this.isInvite ? s >= 300 : !this.reliable, data);
        if (!this.isInvite) {
          this.st = 'completed';
          this.rest(this.finalBytes ?? '', this.reliable ? 0 : 64 * t.t1, req); // Timer J
        } else if (s < 300) {
          this.st = 'accepted';
          this.rest(REST_ACCEPTED, 64 * t.t1); // Timer L
        } else {
          this.st = 'completed';
          if (!this.reliable) {
            this.interval = t.t1;
            this.retransmit = this.ctx.clock.setTimeout(ServerTransaction.fireG, t.t1, this); // Timer G
          }
          this.arm(64 * t.t1); // Timer H
        }
        return;
      case 'accepted':
        if (s < 200 || s >= 300) return;
        this.ctx.transmit(res, this.responseTarget);
        return;
      default:
        // at rest after a 2xx the object reads 'terminated', but every further 2xx of its TU
        // (another fork's, a retransmission) still goes upstream (RFC 6026 §7.1, §16.7 step 5)
        if ((this.flags & ACCEPTED_AT_REST) !== 0 && s >= 200 && s < 300) this.ctx.transmit(res, this.responseTarget);
        return;
    }
  }

  /** Stops the transaction at once (no more retransmissions or absorption). */
  terminate(): void {
    if (this.st === 'terminated') return;
    this.stop();
    this.ctx.serverTerminated(this);
    this.notifyTerminated();
  }

  // ---- called by the layer -----------------------------------------------------------

  /** @internal a retransmission of the request */
  retransmission(): void {
    // INVITE: proceeding replays the last provisional, completed the final; confirmed and
    // accepted absorb. Non-INVITE: trying absorbs, proceeding and completed replay.
    if (this.st === 'proceeding') {
      if (this.lastText !== undefined) this.ctx.transmitBytes(this.lastText, this.responseTarget);
      else if (this.retransmit !== undefined) {
        // the client retransmits before the deferred 100 Trying: it goes now (§17.2.1: it quenches retransmissions)
        this.clearRetransmit();
        this.sendTrying(0);
      }
    } else if (this.st === 'completed' && this.finalBytes !== undefined) {
      this.ctx.transmitBytes(this.finalBytes, this.responseTarget);
    }
  }

  /** @internal an ACK matching this INVITE transaction */
  ack(ack: SipMessage, source: Target): void {
    if (this.st === 'completed') {
      this.st = 'confirmed';
      this.finalBytes = undefined; // confirmed absorbs, it sends nothing more
      this.clearRetransmit();
      this.clearEnd();
      this.rest(REST_CONFIRMED, this.reliable ? 0 : this.ctx.timers.t4); // Timer I
      const cb = this.onAck;
      if (cb !== undefined) {
        try {
          cb(this, ack);
        } catch (e) {
          this.ctx.fail(e);
        }
      }
    } else if (this.st === 'accepted') {
      this.ctx.passAck(ack, source);
    }
    // confirmed: a retransmitted ACK, absorbed; proceeding: no final yet, nothing to ACK
  }

  /** @internal */
  transportError(err: Error): void {
    if (this.st === 'terminated') return;
    this.stop();
    this.ctx.serverTerminated(this);
    const cb = this.onTransportError;
    if (cb !== undefined) {
      try {
        cb(this, err);
      } catch (e) {
        this.ctx.fail(e);
      }
    }
    this.notifyTerminated();
  }

  /** @internal the layer is closing: stop without callbacks */
  dispose(): void {
    this.stop();
  }

  /**
   * @internal An INVITE's 100 Trying goes out in `ms` unless the TU sends a response first
   * (layer option tryingDelay).
   */
  deferTrying(ms: number): void {
    if (this.st !== 'proceeding' || !this.isInvite || this.lastText !== undefined) return;
    this.clearRetransmit();
    // Timer G's interval is free until a final response: it holds the delay for the Timestamp
    this.interval = ms;
    this.retransmit = this.ctx.clock.setTimeout(ServerTransaction.fireTrying, ms, this);
  }

  /** delayMs: how long the request has waited, for its Timestamp (0: not known or none) */
  private sendTrying(delayMs: number): void {
    if (this.st === 'proceeding' && this.lastText === undefined && this.request !== undefined) this.respond(buildTrying(this.request, delayMs / 1000));
  }

  // ---- timers ------------------------------------------------------------------------

  private static fireTrying(tx: ServerTransaction): void {
    tx.retransmit = undefined;
    tx.sendTrying(tx.interval);
  }

  private static fireG(tx: ServerTransaction): void {
    tx.retransmit = undefined;
    if (tx.st !== 'completed' || tx.finalBytes === undefined) return;
    tx.ctx.transmitBytes(tx.finalBytes, tx.responseTarget);
    tx.interval = Math.min(2 * tx.interval, tx.ctx.timers.t2);
    tx.retransmit = tx.ctx.clock.setTimeout(ServerTransaction.fireG, tx.interval, tx);
  }

  private static fireEnd(tx: ServerTransaction): void {
    tx.end = undefined;
    if (tx.st === 'completed' && tx.isInvite) {
      // Timer H: no ACK
      tx.stop();
      tx.ctx.serverTerminated(tx);
      const cb = tx.onTimeout;
      if (cb !== undefined) {
        try {
          cb(tx, 'timer-h');
        } catch (e) {
          tx.ctx.fail(e);
        }
      }
      tx.notifyTerminated();
      return;
    }
    tx.terminate(); // Timers I, J, L
  }

  /** Keeps of the final response and its request only what matching and replaying need; `data`: the final as sent. */
  private release(res: SipMessage, keepBytes: boolean, data: Buffer | undefined): void {
    this.fin = res.status;
    this.creds = credentialsOf(this.request!);
    if (this.lg !== undefined) this.lg.finalToTag = freshOpt(res.toTag);
    if (keepBytes) this.finalBytes = sentText(data, res);
    this.request = undefined;
    this.lastText = undefined;
  }

  /**
   * Arms the timer that ends the current state (0 ends it now), or, with compactRest, leaves:
   * the layer keeps `what` under the key for `ms` (the final to replay, or what the state does
   * with requests).
   * Not with hooks (someone watches this object), credentials (a re-sent request with others is
   * a new one: compared on the object) or RFC 2543 matching.
   */
  private rest(what: string | number, ms: number, req?: SipMessage): void {
    if (ms > 0 && this.ctx.compactRest && this.lg === undefined && this.hooks === undefined && this.creds === '') {
      if (this.st === 'accepted') this.flags |= ACCEPTED_AT_REST;
      this.stop();
      this.ctx.serverRest(this, what, ms, req);
      return;
    }
    this.arm(ms);
  }

  /** Arms the timer that ends the current state; 0 ends it now (reliable transports). */
  private arm(ms: number): void {
    if (ms === 0) this.terminate();
    else this.end = this.ctx.clock.setTimeout(ServerTransaction.fireEnd, ms, this);
  }

  private clearRetransmit(): void {
    if (this.retransmit !== undefined) {
      this.ctx.clock.clearTimeout(this.retransmit);
      this.retransmit = undefined;
    }
  }

  private clearEnd(): void {
    if (this.end !== undefined) {
      this.ctx.clock.clearTimeout(this.end);
      this.end = undefined;
    }
  }

  private stop(): void {
    this.st = 'terminated';
    this.finalBytes = undefined;
    this.clearRetransmit();
    this.clearEnd();
  }

  private notifyTerminated(): void {
    const cb = this.onTerminated;
    if (cb === undefined) return;
    try {
      cb(this);
    } catch (e) {
      this.ctx.fail(e);
    }
  }
}
