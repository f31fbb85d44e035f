// Accounts for digest authentication. A password or HA1 goes in; it never comes out.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ApiError } from '../errors.js';
import { Subscriber, SubscriberCreateBody, SubscriberList, SubscriberParams, SubscriberPutBody, SubscriberQuery, errors } from '../schemas.js';
import type { SubscriberCredentials, SubscriberService } from '../services.js';
import { notFound, splitUserDomain } from './common.js';

const credentialsOf = (b: SubscriberCredentials): SubscriberCredentials => {
  if (b.password === undefined && b.ha1 === undefined && b.ha1Sha256 === undefined) {
    throw new ApiError('invalid-request', 'password: one of password, ha1, ha1Sha256 is required', { field: 'password' });
  }
  return { password: b.password, ha1: b.ha1, ha1Sha256: b.ha1Sha256 };
};

export const subscriberRoutes = (subscribers: SubscriberService): FastifyPluginAsyncTypebox => async (app) => {
  const tags = ['subscribers'];
  app.get(
    '/subscribers',
    { schema: { tags, summary: 'Subscribers (optionally of one domain)', querystring: SubscriberQuery, response: { 200: SubscriberList, ...errors } } },
    async (req) => ({ subscribers: await subscribers.list(req.query.domain?.toLowerCase()) }),
  );

  app.post('/subscribers', { schema: { tags, summary: 'Create a subscriber', body: SubscriberCreateBody, response: { 201: Subscriber, ...errors } } }, async (req, reply) => {
    const { user, domain } = req.body;
    const creds = credentialsOf(req.body);
    if ((await subscribers.get(user, domain.toLowerCase())) !== undefined) {
      throw new ApiError('conflict', `user: ${user}@${domain.toLowerCase()} exists already (PUT /subscribers/${user}@${domain.toLowerCase()} replaces it)`, { field: 'user' });
    }
    return reply.code(201).send(await subscribers.put(user, domain, creds));
  });

  app.get('/subscribers/:id', { schema: { tags, summary: 'One subscriber', params: SubscriberParams, response: { 200: Subscriber, ...errors } } }, async (req) => {
    const { user, domain } = splitUserDomain(req.params.id, 'id');
    const s = await subscribers.get(user, domain);
    if (s === undefined) throw notFound(`no subscriber ${user}@${domain}`);
    return s;
  });

  app.put(
    '/subscribers/:id',
    { schema: { tags, summary: 'Create or replace a subscriber (sets password or HA1)', params: SubscriberParams, body: SubscriberPutBody, response: { 200: Subscriber, 201: Subscriber, ...errors } } },
    async (req, reply) => {
      const { user, domain } = splitUserDomain(req.params.id, 'id');
      const creds = credentialsOf(req.body);
      const existed = (await subscribers.get(user, domain)) !== undefined;
      return reply.code(existed ? 200 : 201).send(await subscribers.put(user, domain, creds));
    },
  );

  app.delete('/subscribers/:id', { schema: { tags, summary: 'Remove a subscriber', params: SubscriberParams, response: { 204: { type: 'null' }, ...errors } } }, async (req, reply) => {
    const { user, domain } = splitUserDomain(req.params.id, 'id');
    if (!(await subscribers.remove(user, domain))) throw notFound(`no subscriber ${user}@${domain}`);
    return reply.code(204).send();
  });
};
