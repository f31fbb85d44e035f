// GET/POST /domains, DELETE /domains/:domain: the registrar's served domains.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ApiError } from '../errors.js';
import { Domain, DomainBody, DomainList, DomainParams, errors } from '../schemas.js';
import type { DomainService } from '../services.js';
import { notFound } from './common.js';

export const domainRoutes = (domains: DomainService): FastifyPluginAsyncTypebox => async (app) => {
  const tags = ['domains'];
  app.get('/domains', { schema: { tags, summary: 'Served domains', response: { 200: DomainList, ...errors } } }, async () => ({
    domains: (await domains.list()).map((domain) => ({ domain })),
  }));

  app.post('/domains', { schema: { tags, summary: 'Serve a domain', body: DomainBody, response: { 201: Domain, ...errors } } }, async (req, reply) => {
    const domain = req.body.domain.toLowerCase();
    if (!(await domains.add(domain))) throw new ApiError('conflict', `domain: ${domain} is served already`, { field: 'domain' });
    return reply.code(201).send({ domain });
  });

  app.delete('/domains/:domain', { schema: { tags, summary: 'Stop serving a domain', params: DomainParams, response: { 204: { type: 'null' }, ...errors } } }, async (req, reply) => {
    if (!(await domains.remove(req.params.domain.toLowerCase()))) throw notFound(`no domain ${req.params.domain}`);
    return reply.code(204).send();
  });
};
