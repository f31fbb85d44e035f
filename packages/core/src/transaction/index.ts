// The SIP transaction layer (RFC 3261 §17, RFC 6026) for a proxy. It sits between the parser
// and the proxy core, never imports the transport: messages leave through the injected `send`.
//
// API
//   createTransactionLayer(options: TransactionLayerOptions): TransactionLayer
//     options.send(msg, target)                 never throws; failures come back through
//                                               layer.reportTransportError(target, err)
//     options.onRequest(req, source, tx)        a new request with its ServerTransaction; tx is
//                                               undefined for an ACK no transaction absorbs (ACK
//                                               for a 2xx, also one that matches an Accepted tx)
//     options.onStrayResponse?(res, source)     a response matching no client transaction
//     options.responseTarget?(req, source)      default defaultResponseTarget (§18.2.2, RFC 3581)
//     options.onError?(err)                     a callback threw; without it the error is rethrown
//     options.timers?: Partial<TimerConfig>     ms: t1 500, t2 4000, t4 5000, timerC 180000 (0 = off),
//                                               timerD 32000
//     options.clock?: TransactionClock          default realClock (global timers, unref()'d, so
//                                               vitest fake timers apply). The layer queues the
//                                               timers of each duration (queuedClock): due times
//                                               run on performance.now() for the real clock, on
//                                               now() for a clock of your own, which must move with
//                                               its timers; switching fake/real timers under a live
//                                               layer is not supported
//     options.autoTrying?: boolean              INVITE server transactions answer 100 (default true)
//     options.tryingDelay?: number              ms the 100 waits for a response of the TU, which makes
//                                               it needless (§17.2.1); a retransmission gets it at once
//                                               (default 0: at once; the proxy: min(200, T1/2))
//     options.compactRest?: boolean             a finished server transaction (no hooks, no credentials,
//                                               RFC 3261 matching) leaves its object: the layer keeps
//                                               under its key only the final to replay or a mark, for
//                                               the same Timer J, I or L (default false; the proxy: true),
//                                               in a RestTable (typed arrays, found by a 64-bit hash)
//     options.onRested2xx?(res, up)             a 2xx for an INVITE client transaction retired with up
//   layer.receive(msg, source) · createClient(req, target, handlers) · reportTransportError(target, err)
//   layer.findInviteServerTx(cancel) · layer.answeredInvite(cancel) (true also at rest)
//   layer.size → { server, client } (at rest included) · layer.close()
//
// ServerTransaction: id, method, isInvite, request, source, responseTarget, reliable,
//   state, finalStatus, lastResponse, data (free for the TU); respond(res); terminate().
//   `request` and `lastResponse` (the last provisional) are undefined once the final response is
//   sent: a finished transaction keeps its key, state, timer and, to replay it, the final as bytes.
//   The last provisional is kept as the text sent (`lastResponse` parses it again on each read).
//   hooks onAck(tx, ack), onTimeout(tx, 'timer-h'), onTransportError(tx, err), onTerminated(tx).
//   A CANCEL is a request of its own (its own server transaction, through onRequest); the TU finds
//   the INVITE with findInviteServerTx(cancel) (§9.2).
// ClientTransaction: id, method, isInvite, request, target, branch, reliable, state,
//   provisionalStatus, lastResponse, ack, data, cancelState; cancel(headers?) → boolean; terminate();
//   rebind(handlers) (a TU that keeps only what forwarding late responses needs); retire(up?) (the
//   TU is done: Accepted and a non-INVITE's Completed rest in the layer without the object, each
//   later 2xx to options.onRested2xx(res, up) or the stray way; see rest.ts).
//   Once sent, the request is kept as the text that went out (sent again as is; `request` parses it
//   again on each read; CANCEL and the non-2xx ACK are built from it).
//   `request` is undefined and `provisionalStatus` 0 once the final response came; `lastResponse`
//   and `ack` are set only while onResponse handles the final (a non-2xx keeps its ACK as bytes).
//   The request's top Via must carry the branch (the proxy writes its Via before createClient).
//   handlers: onResponse(res, tx), onTimeout(tx, reason), onTransportError(tx, err), onTerminated?(tx).
//
// Timer C (§16.8): armed when an INVITE client transaction gets its first provisional, re-armed by
// each 101–199 (§16.7: not by 100). When it fires: onTimeout(tx, 'timer-c') and the transaction
// stays in Proceeding; the proxy CANCELs (tx.cancel()). If no final response follows within 64·T1
// (after Timer C or after a CANCEL, §9.1): onTimeout(tx, 'cancel-timeout') and it terminates.
//
// Matching: responses by top Via branch + CSeq method (§17.1.3). Requests whose branch is
// `z9hG4bK` plus an id by branch + sent-by + method, ACK matching INVITE (§17.2.3); otherwise (RFC
// 2543, or the bare cookie of RFC 4475 badbranch) by Request-URI, From tag, Call-ID, CSeq number, top Via and To tag (an ACK: the To
// tag of the final response). A request re-sent with other Authorization/Proxy-Authorization is
// a new request, not a retransmission (CONTRACT "Interop"; with a cookie this applies once the
// first transaction has a final response, which it then gives way to the new one).
export * from './types.js';
export * from './errors.js';
export { realClock, DEFAULT_TIMERS, resolveTimers } from './clock.js';
export { buildTrying, buildNon2xxAck, buildCancel, defaultResponseTarget, sameTarget } from './build.js';
export { ServerTransaction } from './server-transaction.js';
export { ClientTransaction } from './client-transaction.js';
export type { CancelState } from './client-transaction.js';
export { createTransactionLayer } from './layer.js';
export { fresh, freshOpt } from './retain.js';
