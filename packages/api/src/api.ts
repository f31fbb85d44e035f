// The REST API server: Fastify with TypeBox schemas (validation and the OpenAPI document at
// /docs/json, browsable at /docs), Bearer auth on /api/v1, errors in the contract's shape, the
// SSE stream, the unauthenticated /health, /ready and /metrics, and the console's files.
import { fastify, LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { createCidrMatcher } from '@sipfront/core';
import { createTokenCheck, isLoopbackHost } from './auth.js';
import { registerConsole, type ConsoleOptions } from './console.js';
import { ApiError, toErrorReply } from './errors.js';
import { createSseStreams } from './events.js';
import type { ApiServices } from './services.js';
import { banRoutes } from './routes/bans.js';
import { dispatcherRoutes } from './routes/dispatcher.js';
import { domainRoutes } from './routes/domains.js';
import { instanceRoutes } from './routes/instance.js';
import { pendingRoutes } from './routes/pending.js';
import { trunkRoutes } from './routes/trunks.js';
import { callRoutes } from './routes/calls.js';
import { registrationRoutes } from './routes/registrations.js';
import { subscriberRoutes } from './routes/subscribers.js';
import { systemRoutes } from './routes/system.js';

export interface ApiOptions {
  host: string;
  /** 0 = any free port (tests) */
  port: number;
  /** Bearer token for /api/v1; null = none, and then only a loopback host is accepted. */
  token: string | null;
  /** CIDRs that may read /metrics; empty = anyone who reaches the API. */
  metricsAllow: readonly string[];
  /** pino-shaped; requests are logged at debug */
  log?: FastifyBaseLogger;
  /** shown in the OpenAPI document */
  version?: string;
  /** the web console at /console/ (default: packages/console/dist); false = not served */
  console?: ConsoleOptions | false;
}

export interface Api {
  readonly app: FastifyInstance;
  /** Binds the socket; resolves with the address it is bound to. */
  listen(): Promise<{ host: string; port: number }>;
  /** Ends the event streams, then stops the server. */
  close(): Promise<void>;
}

export const API_PREFIX = '/api/v1';

export const createApi = (services: ApiServices, options: ApiOptions): Api => {
  if (options.token === null && !isLoopbackHost(options.host)) {
    throw new ApiError('insecure-bind', `api.host: ${options.host} is not a loopback address and api.token is not set: set a token (or SIPFRONT_API_TOKEN) or bind 127.0.0.1`, { field: 'api.host' });
  }
  const metricsAllowed = options.metricsAllow.length > 0 ? createCidrMatcher(options.metricsAllow, 'api.metrics_allow') : undefined;
  const tokenOk = options.token !== null ? createTokenCheck(options.token) : undefined;
  const app = fastify({
    ...(options.log !== undefined ? { loggerInstance: options.log } : { logger: false }),
    // requests are logged at debug by the onResponse hook below, not at info by Fastify
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1 << 20,
    // unknown properties are errors, not silently dropped; path parameters are coerced to their types
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false } },
    return503OnClosing: true,
  }).withTypeProvider<TypeBoxTypeProvider>();
  const sse = createSseStreams(services.events);

  // an empty body with a JSON content type (a bare `POST /drain` from a script) is no body, not an error
  const json = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') done(null, undefined);
    else json(req, text, done);
  });

  app.setErrorHandler((err, req, reply) => {
    const m = toErrorReply(err);
    if (m.body.error.code === 'internal') req.log.error({ err, url: req.url, method: req.method }, 'api: request failed');
    if (m.retryAfter !== undefined) void reply.header('retry-after', String(m.retryAfter));
    return reply.code(m.status).send(m.body);
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: { code: 'not-found', message: `no route ${req.method} ${req.url.split('?')[0]}` } }));
  app.addHook('onResponse', async (req, reply) => {
    req.log.debug({ method: req.method, url: req.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'api request');
  });
  // open event streams would hold close() for ever
  app.addHook('preClose', async () => sse.closeAll());

  void app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'sipfront REST API', version: options.version ?? '1', description: 'Manage a running sipfront: domains, dispatcher sets, subscribers, registrations, bans. Errors: `{ "error": { "code", "message", "field"? } }`.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });
  void app.register(swaggerUi, { routePrefix: '/docs' });

  void app.register(systemRoutes(services.instance, services.metrics, metricsAllowed));
  if (options.console !== false) registerConsole(app, options.console ?? {});
  void app.register(
    async (v1) => {
      v1.addHook('onRoute', (route) => {
        if (route.schema !== undefined) (route.schema as Record<string, unknown>)['security'] = [{ bearer: [] }];
      });
      if (tokenOk !== undefined) {
        v1.addHook('onRequest', async (req, reply) => {
          if (!tokenOk(req.headers.authorization)) {
            void reply.header('www-authenticate', 'Bearer realm="sipfront"');
            throw new ApiError('unauthorized', req.headers.authorization === undefined ? 'a Bearer token is required' : 'wrong token');
          }
        });
      }
      await v1.register(domainRoutes(services.domains));
      await v1.register(dispatcherRoutes(services.dispatcher));
      await v1.register(subscriberRoutes(services.subscribers));
      await v1.register(registrationRoutes(services.registrations));
      await v1.register(banRoutes(services.bans));
      await v1.register(instanceRoutes(services.instance, sse));
      if (services.trunks !== undefined) await v1.register(trunkRoutes(services.trunks));
      if (services.calls !== undefined) await v1.register(callRoutes(services.calls));
      await v1.register(pendingRoutes({ trunks: services.trunks === undefined, calls: services.calls === undefined }));
    },
    { prefix: API_PREFIX },
  );

  let closed = false;
  return {
    app,
    async listen() {
      await app.listen({ host: options.host, port: options.port });
      const a = app.server.address();
      if (a === null || typeof a === 'string') return { host: options.host, port: options.port };
      return { host: a.address, port: a.port };
    },
    async close() {
      if (closed) return;
      closed = true;
      sse.closeAll();
      await app.close();
    },
  };
};
