// Public types of the transaction layer: where messages go, the timers, the clock, and the
// callbacks to the transaction user (the proxy core). No transport import: a Target is a plain
// address the injected `send` understands.
import type { SipMessage } from '../message/message.js';
import type { ClientTransaction } from './client-transaction.js';
import type { ServerTransaction } from './server-transaction.js';

/**
 * Where a message goes or came from. `connectionId` names a stream connection to reuse; `socket`
 * the id of the listener to send from (a worker's own socket), when not the transport's choice.
 */
export interface Target {
  transport: 'udp' | 'tcp' | 'tls';
  address: string;
  port: number;
  connectionId?: string;
  socket?: string;
}

/** RFC 3261 timer values in ms (§17.1.1.1, table 4). */
export interface TimerConfig {
  /** RTT estimate; default 500 */
  t1: number;
  /** longest retransmit interval for non-INVITE requests and INVITE responses; default 4000 */
  t2: number;
  /** longest time a message stays in the network; default 5000 */
  t4: number;
  /** proxy Timer C (§16.6 step 11, §16.8); default 180000; 0 turns it off */
  timerC: number;
  /** Timer D over UDP (RFC: at least 32 s); default 32000 */
  timerD: number;
}

export type TimerHandle = unknown;

/**
 * The time source. The default uses the global timers (so vitest fake timers apply) and
 * unref()s every handle. `arg` is passed to `fn`, so a transaction arms a timer without
 * allocating a closure.
 */
export interface TransactionClock {
  now(): number;
  setTimeout<A>(fn: (arg: A) => void, ms: number, arg: A): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export type ServerTransactionState = 'trying' | 'proceeding' | 'completed' | 'confirmed' | 'accepted' | 'terminated';
export type ClientTransactionState = 'calling' | 'trying' | 'proceeding' | 'completed' | 'accepted' | 'terminated';

/**
 * Why a transaction gave up:
 * - `timer-b` / `timer-f`: no response at all to an INVITE / non-INVITE request (64·T1);
 * - `timer-c`: an INVITE client transaction saw no final response within Timer C of its last
 *   provisional (§16.8). The transaction stays alive: the proxy CANCELs (or answers 408 upstream
 *   when `tx.provisionalStatus` is 0);
 * - `cancel-timeout`: no final response 64·T1 after a CANCEL was sent, or after Timer C fired
 *   (§9.1: the transaction is then considered cancelled and is destroyed);
 * - `timer-h`: a server INVITE transaction never got the ACK for its non-2xx final response.
 */
export type TimeoutReason = 'timer-b' | 'timer-f' | 'timer-c' | 'cancel-timeout' | 'timer-h';

export interface ClientTransactionHandlers {
  /** Every provisional, the final (once; non-2xx finals are ACKed by the transaction), and every 2xx. */
  onResponse(res: SipMessage, tx: ClientTransaction): void;
  onTimeout(tx: ClientTransaction, reason: TimeoutReason): void;
  onTransportError(tx: ClientTransaction, err: Error): void;
  onTerminated?(tx: ClientTransaction): void;
}

export interface TransactionLayerOptions {
  /**
   * Hands a message to the transport. Must not throw; failures come back via reportTransportError.
   * May return the bytes it sent: a client transaction keeps its request as their text (to send
   * again, to build a CANCEL or an ACK from) instead of serializing it a second time.
   */
  send(msg: SipMessage, target: Target): Buffer | void;
  /**
   * A new request. `tx` is its server transaction, or undefined for an ACK that belongs to no
   * transaction in the completed state (an ACK for a 2xx: the proxy forwards it statelessly).
   */
  onRequest(req: SipMessage, source: Target, tx: ServerTransaction | undefined): void;
  /**
   * A new request (not a retransmission, not an ACK), before the layer makes its server
   * transaction: false when the TU has answered it statelessly (a refusal under load), so no
   * transaction, timer or rest entry is made for it; a retransmission comes here again. Default:
   * every request gets its transaction.
   */
  admit?(req: SipMessage, source: Target): boolean;
  /** A response that matches no client transaction (§16.7 forwards it statelessly). */
  onStrayResponse?(res: SipMessage, source: Target): void;
  /** Where a server transaction sends its responses; default `defaultResponseTarget` (§18.2.2, RFC 3581). */
  responseTarget?(req: SipMessage, source: Target): Target;
  /** An exception thrown by a callback; without it the exception is rethrown (from a timer: uncaught). */
  onError?(err: unknown): void;
  timers?: Partial<TimerConfig>;
  clock?: TransactionClock;
  /** INVITE server transactions send 100 Trying (§16.2, §17.2.1): at once, or after tryingDelay; default true. */
  autoTrying?: boolean;
  /**
   * With autoTrying: ms an INVITE server transaction waits for its TU's first response before it
   * sends 100 Trying itself (§17.2.1: a 100 is needed unless the TU answers within 200 ms). A
   * response of the TU in that time (a forwarded 180, a 407, a final) makes the 100 needless and
   * it is never sent; a retransmitted INVITE in that time gets it at once. Default 0: at once.
   */
  tryingDelay?: number;
  /**
   * A server transaction that has sent its final response and has no hooks, no credentials and
   * RFC 3261 matching leaves the transaction object for the rest of its time: the layer keeps,
   * under its key, only what absorbing and replaying need (Timers J, I, L run as before; the
   * object reads 'terminated', and after a 2xx its respond() still passes further 2xx).
   * Default false: the object stays, its states observable.
   */
  compactRest?: boolean;
  /**
   * A 2xx for an INVITE client transaction its TU retired in Accepted with `tx.retire(up)`:
   * the TU forwards it to `up` (RFC 6026 §8.4: every 2xx goes upstream). Without this hook it
   * goes to onStrayResponse.
   */
  onRested2xx?(res: SipMessage, up: Target): void;
}

export interface TransactionLayer {
  /** Every parsed inbound message, requests and responses. */
  receive(msg: SipMessage, source: Target): void;
  /** Sends `req` (its top Via must carry the branch) and runs its client transaction. */
  createClient(req: SipMessage, target: Target, handlers: ClientTransactionHandlers): ClientTransaction;
  /** Client and server transactions sending to `target` get onTransportError and terminate. */
  reportTransportError(target: Target, err: Error): void;
  /** The INVITE server transaction a CANCEL refers to (§9.2). */
  findInviteServerTx(cancel: SipMessage): ServerTransaction | undefined;
  /** The INVITE a CANCEL refers to has had its final response (its transaction may be at rest). */
  answeredInvite(cancel: SipMessage): boolean;
  /** Live transactions, for `sipfront_transactions_active`. */
  readonly size: { server: number; client: number };
  /** Different skeletons the finals at rest are kept as (replay.ts): one copy each, however many use it. */
  readonly restSkeletons: number;
  /** Stops every transaction and timer, without callbacks. Later messages are ignored. */
  close(): void;
}
