// Client transactions (RFC 3261 §17.1 with the RFC 6026 Accepted state), plus the proxy's
// Timer C (§16.8) and CANCEL (§9.1). INVITE: calling → proceeding → completed | accepted;
// non-INVITE: trying → proceeding → completed. Timers receive the transaction as argument.
// Once sent, the request is kept as the text that went out (sent again as is; a CANCEL or an
// ACK is built from it parsed again), not as the message with its header objects: an INVITE's
// copy lives as long as its call rings. At the final response it lets go of the request and the
// responses; an INVITE that got a non-2xx keeps only its ACK as bytes, to answer a retransmitted final.
import type { SipMessage } from '../message/message.js';
import { tryParseMessage } from '../message/parser.js';
import { buildCancel, buildNon2xxAck } from './build.js';
import type { TxContext } from './context.js';
import { REST_ABSORB, REST_STRAY } from './rest.js';
import { sentText } from './retain.js';
import type { ClientTransactionHandlers, ClientTransactionState, Target, TimeoutReason, TimerHandle } from './types.js';

export type CancelState = 'none' | 'pending' | 'sent';

export class ClientTransaction {
  /** unique among live client transactions: branch and method */
  readonly id: string;
  readonly method: string;
  /** the request until it was sent, then undefined (see `sent`) */
  private req: SipMessage | undefined;
  /** the request as sent (latin1, one character a byte); undefined once the final response came */
  private sent: string | undefined = undefined;
  readonly target: Target;
  /** free for the transaction user */
  data: unknown = undefined;
  /**
   * the status of the last provisional response, 0 before one and once a final response came
   * (the response itself goes to onResponse and is not kept: it would live while the call rings)
   */
  provisionalStatus = 0;
  /** the final response (the first 2xx for an INVITE), while onResponse handles it */
  lastResponse: SipMessage | undefined = undefined;
  /** the ACK sent for a non-2xx final response, while onResponse handles it */
  ack: SipMessage | undefined = undefined;

  /** INVITE (1), reliable transport (2): one small integer rather than two fields */
  private readonly flags: number;
  private st: ClientTransactionState;
  private cancelSt: CancelState = 'none';
  private cancelHeaders: ReadonlyArray<readonly [string, string]> | undefined = undefined;
  /** the ACK for a non-2xx final, sent again for each retransmission of that final (UDP) */
  private ackBytes: string | undefined = undefined;
  private readonly ctx: TxContext;
  private handlers: ClientTransactionHandlers;
  /** Timer A or E */
  private retransmit: TimerHandle | undefined = undefined;
  private interval = 0;
  /** Timer B or F while waiting, then D, K or M */
  private end: TimerHandle | undefined = undefined;
  private timerC: TimerHandle | undefined = undefined;
  /** 64·T1 after a CANCEL or after Timer C fired */
  private guard: TimerHandle | undefined = undefined;

  constructor(ctx: TxContext, id: string, req: SipMessage, target: Target, handlers: ClientTransactionHandlers) {
    this.ctx = ctx;
    this.id = id;
    this.req = req;
    this.method = req.method;
    this.flags = (req.method === 'INVITE' ? 1 : 0) | (target.transport !== 'udp' ? 2 : 0);
    this.target = target;
    this.handlers = handlers;
    this.st = this.isInvite ? 'calling' : 'trying';
  }

  /**
   * The request; undefined once the final response has been delivered. After it was sent, a new
   * message parsed from the text that went out on each read (the transaction keeps only that).
   */
  get request(): SipMessage | undefined {
    if (this.req !== undefined) return this.req;
    const t = this.sent;
    if (t === undefined) return undefined;
    const r = tryParseMessage(Buffer.from(t, 'latin1'));
    return r.ok ? r.message : undefined;
  }

  get state(): ClientTransactionState {
    return this.st;
  }

  get isInvite(): boolean {
    return (this.flags & 1) !== 0;
  }

  /** stream transport: no retransmissions, Timers D and K are 0 */
  get reliable(): boolean {
    return (this.flags & 2) !== 0;
  }

  /** the branch of the request's top Via (the id is the branch, a line feed, and the method) */
  get branch(): string {
    return this.id.slice(0, this.id.length - this.method.length - 1);
  }

  /**
   * Hands what is left of the transaction (responses the state machine passes on, timeouts,
   * the end) to other handlers: a TU that is done with a transaction but for, say, forwarding
   * 2xx retransmissions in Accepted lets go of the state the first handlers held.
   */
  rebind(handlers: ClientTransactionHandlers): void {
    this.handlers = handlers;
  }

  /**
   * The TU is done with this finished transaction. In Accepted (an INVITE's 2xx, Timer M) and in
   * a non-INVITE's Completed (Timer K) the layer keeps what is left of it without this object
   * (the object reads 'terminated'): each later 2xx goes to the layer's onRested2xx(res, up), or
   * the stray way without `up`; anything else is absorbed. An INVITE's Completed (it sends its
   * ACK again for each retransmitted final, Timer D) stays, and absorbs with no handlers.
   */
  retire(up?: Target): void {
    const st = this.st;
    if ((st === 'accepted' || (st === 'completed' && !this.isInvite)) && this.end !== undefined) {
      const t = this.ctx.timers;
      const nominal = st === 'accepted' ? 64 * t.t1 : t.t4;
      const left = this.ctx.clock.remaining(this.end) ?? nominal;
      this.stop();
      this.ctx.clientRest(this, st === 'accepted' ? (up ?? REST_STRAY) : REST_ABSORB, left, nominal);
      return;
    }
    this.handlers = RETIRED;
  }

  get cancelState(): CancelState {
    return this.cancelSt;
  }

  /**
   * CANCELs this INVITE (§9.1) in a client transaction of its own, to the same target. Before
   * any provisional response the CANCEL waits for one; after a final response there is nothing
   * to cancel. Returns false when no CANCEL will be sent. If no final response comes within
   * 64·T1, onTimeout(tx, 'cancel-timeout') and the transaction terminates.
   */
  cancel(headers?: ReadonlyArray<readonly [name: string, value: string]>): boolean {
    if (!this.isInvite || this.cancelSt !== 'none') return false;
    if (this.st !== 'calling' && this.st !== 'proceeding') return false;
    this.cancelHeaders = headers;
    if (this.st === 'proceeding') this.sendCancel();
    else this.cancelSt = 'pending';
    return true;
  }

  /** Stops the transaction at once: no more retransmissions, responses become stray. */
  terminate(): void {
    if (this.st === 'terminated') return;
    this.stop();
    this.ctx.clientTerminated(this);
    this.notifyTerminated();
  }

  // ---- called by the layer -----------------------------------------------------------

  /** @internal sends the request and arms the first timers */
  start(): void {
    const t = this.ctx.timers;
    const req = this.req!;
    const data = this.ctx.transmit(req, this.target);
    this.sent = sentText(data, req);
    this.req = undefined;
    if (!this.reliable) {
      this.interval = t.t1;
      this.retransmit = this.ctx.clock.setTimeout(ClientTransaction.fireRetransmit, t.t1, this); // Timer A / E
    }
    this.end = this.ctx.clock.setTimeout(ClientTransaction.fireEnd, 64 * t.t1, this); // Timer B / F
  }

  /** @internal a response whose branch and CSeq method match */
  response(res: SipMessage): void {
    const s = res.status;
    switch (this.st) {
      case 'calling':
      case 'trying':
      case 'proceeding':
        if (s < 200) this.provisional(res);
        else this.final(res);
        return;
      case 'completed':
        // a retransmitted non-2xx final to an INVITE is ACKed again; everything else absorbed
        if (this.isInvite && s >= 300 && this.ackBytes !== undefined) this.ctx.transmitBytes(this.ackBytes, this.target);
        return;
      case 'accepted':
        // RFC 6026: every 2xx (retransmissions, other forks) goes to the TU, which ACKs end to end
        if (s >= 200 && s < 300) this.deliver(res);
        return;
      default:
        return;
    }
  }

  /** @internal */
  transportError(err: Error): void {
    if (this.st === 'terminated') return;
    this.stop();
    this.ctx.clientTerminated(this);
    try {
      this.handlers.onTransportError(this, err);
    } catch (e) {
      this.ctx.fail(e);
    }
    this.notifyTerminated();
  }

  /** @internal the layer is closing: stop without callbacks */
  dispose(): void {
    this.stop();
  }

  // ---- state machine ---------------------------------------------------------------

  private provisional(res: SipMessage): void {
    const t = this.ctx.timers;
    if (this.st === 'calling') {
      this.st = 'proceeding';
      // INVITE: no retransmissions and no Timer B once a provisional came (§17.1.1.2)
      this.clearRetransmit();
      this.clearEnd();
      if (t.timerC > 0) this.timerC = this.ctx.clock.setTimeout(ClientTransaction.fireC, t.timerC, this);
    } else if (this.st === 'trying') {
      this.st = 'proceeding'; // Timer E goes on, at T2 (see fireRetransmit)
    } else if (this.isInvite && s101to199(res.status) && this.timerC !== undefined) {
      // §16.7 step 2: 101–199 reset Timer C, 100 does not
      this.ctx.clock.clearTimeout(this.timerC);
      this.timerC = this.ctx.clock.setTimeout(ClientTransaction.fireC, t.timerC, this);
    }
    this.provisionalStatus = res.status;
    if (this.cancelSt === 'pending') this.sendCancel();
    this.deliver(res);
  }

  private final(res: SipMessage): void {
    const t = this.ctx.timers;
    const sent = this.sent;
    this.sent = undefined;
    this.provisionalStatus = 0;
    this.cancelHeaders = undefined;
    this.lastResponse = res;
    this.clearRetransmit();
    this.clearEnd();
    this.clearC();
    this.clearGuard();
    let wait: number;
    if (!this.isInvite) {
      this.st = 'completed';
      wait = this.reliable ? 0 : t.t4; // Timer K
    } else if (res.status < 300) {
      this.st = 'accepted';
      wait = 64 * t.t1; // Timer M
    } else {
      this.st = 'completed';
      const req = sent === undefined ? undefined : tryParseMessage(Buffer.from(sent, 'latin1'));
      if (req?.ok === true) {
        const ack = buildNon2xxAck(req.message, res);
        this.ack = ack;
        const data = this.ctx.transmit(ack, this.target);
        wait = this.reliable ? 0 : t.timerD; // Timer D
        if (wait > 0) this.ackBytes = sentText(data, ack);
      } else wait = 0;
    }
    if (wait > 0) this.end = this.ctx.clock.setTimeout(ClientTransaction.fireEnd, wait, this);
    this.deliver(res);
    this.lastResponse = undefined;
    this.ack = undefined;
    if (wait === 0) this.terminate();
  }

  private sendCancel(): void {
    this.cancelSt = 'sent';
    const req = this.request;
    if (req === undefined) return;
    const cancel = buildCancel(req, this.cancelHeaders);
    this.cancelHeaders = undefined;
    if (this.guard === undefined) this.guard = this.ctx.clock.setTimeout(ClientTransaction.fireGuard, 64 * this.ctx.timers.t1, this);
    this.ctx.sendCancel(cancel, this.target);
  }

  private deliver(res: SipMessage): void {
    try {
      this.handlers.onResponse(res, this);
    } catch (e) {
      this.ctx.fail(e);
    }
  }

  private timeout(reason: TimeoutReason): void {
    try {
      this.handlers.onTimeout(this, reason);
    } catch (e) {
      this.ctx.fail(e);
    }
  }

  // ---- timers ------------------------------------------------------------------------

  private static fireRetransmit(tx: ClientTransaction): void {
    tx.retransmit = undefined;
    const st = tx.st;
    if (st !== 'calling' && st !== 'trying' && st !== 'proceeding') return;
    tx.ctx.transmitBytes(tx.sent!, tx.target);
    const t2 = tx.ctx.timers.t2;
    // Timer A doubles without a cap; Timer E doubles up to T2, and is T2 once proceeding
    tx.interval = tx.isInvite ? 2 * tx.interval : st === 'proceeding' ? t2 : Math.min(2 * tx.interval, t2);
    tx.retransmit = tx.ctx.clock.setTimeout(ClientTransaction.fireRetransmit, tx.interval, tx);
  }

  private static fireEnd(tx: ClientTransaction): void {
    tx.end = undefined;
    const st = tx.st;
    if (st === 'calling' || st === 'trying' || st === 'proceeding') {
      // Timer B / F: no final response
      tx.stop();
      tx.ctx.clientTerminated(tx);
      tx.timeout(tx.isInvite ? 'timer-b' : 'timer-f');
      tx.notifyTerminated();
      return;
    }
    tx.terminate(); // Timer D, K, M
  }

  private static fireC(tx: ClientTransaction): void {
    tx.timerC = undefined;
    if (tx.st !== 'proceeding') return;
    // if the TU does not CANCEL (or the CANCEL brings no 487), the guard ends the transaction
    if (tx.guard === undefined) tx.guard = tx.ctx.clock.setTimeout(ClientTransaction.fireGuard, 64 * tx.ctx.timers.t1, tx);
    tx.timeout('timer-c');
  }

  private static fireGuard(tx: ClientTransaction): void {
    tx.guard = undefined;
    if (tx.st !== 'calling' && tx.st !== 'proceeding') return;
    tx.stop();
    tx.ctx.clientTerminated(tx);
    tx.timeout('cancel-timeout');
    tx.notifyTerminated();
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

  private clearC(): void {
    if (this.timerC !== undefined) {
      this.ctx.clock.clearTimeout(this.timerC);
      this.timerC = undefined;
    }
  }

  private clearGuard(): void {
    if (this.guard !== undefined) {
      this.ctx.clock.clearTimeout(this.guard);
      this.guard = undefined;
    }
  }

  private stop(): void {
    this.st = 'terminated';
    this.ackBytes = undefined;
    this.clearRetransmit();
    this.clearEnd();
    this.clearC();
    this.clearGuard();
  }

  private notifyTerminated(): void {
    const cb = this.handlers.onTerminated;
    if (cb === undefined) return;
    try {
      cb.call(this.handlers, this);
    } catch (e) {
      this.ctx.fail(e);
    }
  }
}

const s101to199 = (s: number): boolean => s > 100 && s < 200;

/** the handlers of a retired transaction that stays (see `retire`) */
const RETIRED: ClientTransactionHandlers = { onResponse: () => undefined, onTimeout: () => undefined, onTransportError: () => undefined };
