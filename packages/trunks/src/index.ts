// @sipfront/trunks: outbound registration to providers (Kamailio's uac, Asterisk's outbound
// registration), the provider addresses whose calls go to a trunk's set, and the credentials
// and dialog fix-ups for calls sent out through a trunk. Socket-free: the server wires `send`
// to the proxy's originate() and plugs matching and challenge answering into routing.
export type {
  ChallengeAnswer,
  OutboundOptions,
  OutboundPlan,
  TrunkClock,
  TrunkInput,
  TrunkLogger,
  TrunkManagerDeps,
  TrunkMatch,
  TrunkResolver,
  TrunkResponseEvent,
  TrunkSender,
  TrunkSendResult,
  TrunkSpec,
  TrunkStateEvent,
  TrunkStateName,
  TrunkView,
  TrunkMirror,
} from './types.js';
export { TrunkError, isTrunkError, type TrunkErrorCode } from './errors.js';
export { TRUNK_DEFAULTS, normalizeTrunk, validateTrunk, redactTrunk } from './spec.js';
export { createTrunkManager, ruriUserOf, type TrunkManager } from './manager.js';
export { OUTBOUND_REMOVED_HEADERS, answerTrunkChallenge, dialledUser, outboundDecision, planOutbound } from './outbound.js';
export { createTrunkDialogs, type TrunkDialogs, type TrunkDialogsOptions } from './dialogs.js';
export { classifyFailure, grantedExpires, retryAfter, minExpires, nextHop, trunkTransport, type FailureClass } from './register-request.js';
export { contactHostPort } from './local-contact.js';
export { realTrunkClock } from './clock.js';
