// Unauthenticated routes for machines: liveness, readiness (load balancers) and Prometheus.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ApiError, RETRY_AFTER_SECONDS } from '../errors.js';
import { HealthReply, ReadyReply, errors } from '../schemas.js';
import type { InstanceService, MetricsSource } from '../services.js';

export const systemRoutes = (instance: InstanceService, metrics: MetricsSource, metricsAllowed: ((ip: string) => boolean) | undefined): FastifyPluginAsyncTypebox => async (app) => {
  const tags = ['system'];
  app.get('/health', { schema: { tags, summary: 'Liveness: the process answers', response: { 200: HealthReply } } }, async () => ({ status: 'ok' as const }));

  app.get(
    '/ready',
    { schema: { tags, summary: 'Readiness: 200 once listeners and store are up; 503 while starting, draining or stopping (never tied to backend health)', response: { 200: ReadyReply, ...errors } } },
    async (_req, reply) => {
      const r = instance.readiness();
      if (!r.ready) {
        reply.header('retry-after', String(RETRY_AFTER_SECONDS));
        throw new ApiError('not-ready', `not ready: ${r.reason ?? 'unknown'}`);
      }
      return { ready: true };
    },
  );

  app.get(
    '/metrics',
    { schema: { tags, summary: 'Prometheus metrics (text format); restricted by api.metrics_allow', produces: ['text/plain'], response: { 200: { type: 'string' }, ...errors } } },
    async (req, reply) => {
      if (metricsAllowed !== undefined && !metricsAllowed(req.ip)) throw new ApiError('forbidden', `${req.ip} may not read /metrics (api.metrics_allow)`);
      const text = await metrics.metrics();
      return reply.header('content-type', metrics.contentType).send(text);
    },
  );
};
