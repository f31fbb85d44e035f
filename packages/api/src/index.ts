// @sipfront/api: the REST API (Fastify, TypeBox, OpenAPI), Server-Sent Events and the
// Prometheus metrics. It talks to the rest of sipfront only through the service interfaces
// declared in services.ts; the server package implements them over the live objects.
export { createApi, API_PREFIX, type Api, type ApiOptions } from './api.js';
export { ApiError, isApiError, toErrorReply, fieldOfPath, validationField, RETRY_AFTER_SECONDS, type ApiErrorCode, type ErrorBody } from './errors.js';
export { registerConsole, consolePlugin, DEFAULT_CONSOLE_DIR, CONSOLE_CSP, type ConsoleOptions } from './console.js';
export { createEventHub, createSseStreams, type EventHub, type SseStreams } from './events.js';
export { createTokenCheck, isLoopbackHost } from './auth.js';
export {
  createMetrics,
  KNOWN_METHODS,
  METRIC_NAMES,
  REFUSED_REASONS,
  type MetricsOptions,
  type MetricsSources,
  type ProxyAuthResult,
  type RefusedReason,
  type SipfrontMetrics,
} from './metrics.js';
export type * from './services.js';
