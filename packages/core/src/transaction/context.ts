// What a transaction needs from its layer. Internal: not exported from the package.
import type { SipMessage } from '../message/message.js';
import type { ClientTransaction } from './client-transaction.js';
import type { ServerTransaction } from './server-transaction.js';
import type { QueuedClock } from './clock.js';
import type { Target, TimerConfig } from './types.js';

export interface TxContext {
  readonly clock: QueuedClock;
  readonly timers: Readonly<TimerConfig>;
  /** finished server transactions leave their object (TransactionLayerOptions.compactRest) */
  readonly compactRest: boolean;
  /**
   * sends; an exception the transport should not have thrown becomes a (deferred) transport error.
   * The bytes sent, when the transport says (TransactionLayerOptions.send).
   */
  transmit(msg: SipMessage, target: Target): Buffer | undefined;
  /**
   * sends again what a finished transaction kept as text (a final response, an ACK): latin1,
   * one character a byte, held as a flat string so it pins no pooled Buffer slab
   */
  transmitBytes(data: string, target: Target): void;
  /** an ACK the server transaction does not absorb (RFC 6026 Accepted state) */
  passAck(ack: SipMessage, source: Target): void;
  /** runs the CANCEL of an INVITE client transaction in its own non-INVITE client transaction */
  sendCancel(cancel: SipMessage, target: Target): void;
  serverTerminated(tx: ServerTransaction): void;
  clientTerminated(tx: ClientTransaction): void;
  /**
   * `tx` is done but for `ms` of absorbing or replaying: the map keeps `rest` for it instead. A
   * final response to replay comes with its request (`req`), which the layer may keep it against
   * (replay.ts).
   */
  serverRest(tx: ServerTransaction, rest: string | number, ms: number, req?: SipMessage): void;
  /** the same for a client transaction; `nominal` is its timer's full duration (the queue) */
  clientRest(tx: ClientTransaction, rest: Target | number, ms: number, nominal: number): void;
  /** an exception from a callback */
  fail(err: unknown): void;
}
