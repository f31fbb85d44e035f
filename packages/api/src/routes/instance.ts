// This instance: drain (POST /drain) and the event stream (GET /events).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { SseStreams } from '../events.js';
import { DrainBody, DrainReply, errors } from '../schemas.js';
import type { InstanceService } from '../services.js';

export const instanceRoutes = (instance: InstanceService, sse: SseStreams): FastifyPluginAsyncTypebox => async (app) => {
  app.post(
    '/drain',
    {
      schema: {
        tags: ['instance'],
        summary: 'Drain this instance',
        description: 'OPTIONS and new dialogs get 503, in-dialog requests flow, /ready answers 503. `{ "draining": false }` ends the drain.',
        body: DrainBody,
        response: { 200: DrainReply, ...errors },
      },
    },
    async (req) => {
      await instance.drain(req.body?.draining ?? true);
      return { draining: instance.draining() };
    },
  );

  app.get(
    '/drain',
    { schema: { tags: ['instance'], summary: 'Whether this instance is draining', response: { 200: DrainReply, ...errors } } },
    async () => ({ draining: instance.draining() }),
  );

  app.get(
    '/events',
    {
      schema: {
        tags: ['events'],
        summary: 'Server-Sent Events',
        description:
          'text/event-stream. Events: `destination` {setId, uri, from, to, cause}; `registration` {aor, reason, instanceId}; ' +
          '`ban` {ip, reason, createdAt, expiresAt, origin}; `unban` {ip, cause}; `dispatcher` {cause} after sets change; ' +
          '`trunk` {the trunk}; `call` {event: start|end, ...summary}; `instance` {draining}. ' +
          'Use fetch() with the Bearer header: a token is never taken from the query string.',
        produces: ['text/event-stream'],
        response: { 200: { description: 'an endless event stream', type: 'string' }, ...errors },
      },
    },
    (req, reply) => {
      sse.handle(req, reply);
    },
  );
};
