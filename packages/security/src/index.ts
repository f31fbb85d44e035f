// sipfront's security: flood detection, auth-failure and scanner bans, trusted networks.
// The proxy asks `check()` first for every request; bans are held in memory for that hot path
// and written behind to a BanStore (memory + JSON file, or Redis shared between instances).
//
// Shape:
//   const store = createRedisBanStore({ log }, { url, prefix });   // or createMemoryBanStore({ log }, { dir })
//   const security = createSecurity({ bans: store, log, onBan, onUnban, onRefused }, config.security);
//   security.addTrusted((source) => dispatcher.isDestination(source));
//   await security.ready;
//   security.checkSource(source)       // before parsing: banned sources only
//   security.check(req, source)        // { action: 'pass' } | drop | reply 403
//   security.authFailure(source, aor)  // from the registrar / proxy auth
//   security.close(); await store.close();

export type { Ban, BanReason, BanStore, BanStoreEvent } from './ban.js';
export { BAN_REASONS, isBanReason, parseBan } from './ban.js';
export { SecurityError, isSecurityError, type SecurityErrorCode } from './errors.js';
export { canonicalIp } from './ip.js';
export { createMemoryBanStore, BANS_FILE, type MemoryBanStoreOptions } from './memory-ban-store.js';
export { createRedisBanStore, type RedisBanStoreOptions } from './redis-ban-store.js';
export {
  createSecurity,
  type RefusalReason,
  type Security,
  type SecurityDecision,
  type SecurityDeps,
  type SecurityOptions,
  type TrustMatcher,
} from './security.js';
export { createUserAgentMatcher } from './user-agent.js';
export type { Clock, SecurityLogger } from './types.js';
