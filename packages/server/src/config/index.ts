// The sipfront configuration: YAML in, one validated, deeply frozen `Config` out.

export { ConfigError, type ConfigErrorCode } from '../errors.js';
export {
  EMBEDDED_CONFIG_PATH, loadConfig, parseConfigText, resolveConfigPath,
  type Env, type LoadedConfig, type ParseOptions,
} from './load.js';
export type * from './types.js';
export {
  DIGEST_ALGORITHMS, DISPATCHER_ALGORITHMS, LOG_LEVELS, ROUTE_CALLERS, TRANSPORTS,
} from './schema.js';
export { parseDuration, parseSize } from './units.js';
