// The location service: who is registered where. DELETE removes every binding of an AOR.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { AorParams, Registration, RegistrationList, errors } from '../schemas.js';
import type { RegistrationService } from '../services.js';
import { notFound, splitUserDomain } from './common.js';

export const registrationRoutes = (registrations: RegistrationService): FastifyPluginAsyncTypebox => async (app) => {
  const tags = ['registrations'];
  const aorOf = (raw: string): string => {
    const { user, domain } = splitUserDomain(raw, 'aor');
    return `${user}@${domain}`;
  };

  app.get('/registrations', { schema: { tags, summary: 'Every registered AOR with its contacts', response: { 200: RegistrationList, ...errors } } }, async () => ({
    registrations: await registrations.list(),
  }));

  app.get('/registrations/:aor', { schema: { tags, summary: "One AOR's contacts", params: AorParams, response: { 200: Registration, ...errors } } }, async (req) => {
    const aor = aorOf(req.params.aor);
    const r = await registrations.get(aor);
    if (r === undefined) throw notFound(`no registration for ${aor}`);
    return r;
  });

  app.delete('/registrations/:aor', { schema: { tags, summary: "Remove an AOR's contacts", params: AorParams, response: { 204: { type: 'null' }, ...errors } } }, async (req, reply) => {
    const aor = aorOf(req.params.aor);
    if ((await registrations.remove(aor)) === 0) throw notFound(`no registration for ${aor}`);
    return reply.code(204).send();
  });
};
