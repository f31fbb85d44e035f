// Security bans: list, a manual ban, lifting one.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Ban, BanBody, BanList, IpParams, errors } from '../schemas.js';
import type { BanRecord, BanService } from '../services.js';
import { notFound } from './common.js';

const view = (b: BanRecord, now: number) => ({
  ip: b.ip,
  reason: b.reason,
  createdAt: new Date(b.createdAt).toISOString(),
  expiresAt: new Date(b.expiresAt).toISOString(),
  expiresIn: Math.max(0, Math.ceil((b.expiresAt - now) / 1000)),
});

export const banRoutes = (bans: BanService): FastifyPluginAsyncTypebox => async (app) => {
  const tags = ['bans'];
  app.get('/bans', { schema: { tags, summary: 'Active bans', response: { 200: BanList, ...errors } } }, async () => {
    const now = Date.now();
    return { bans: bans.list().map((b) => view(b, now)) };
  });

  app.post(
    '/bans',
    { schema: { tags, summary: 'Ban an address (manual)', description: 'Replaces a ban the address has. Trusted networks are never banned (409).', body: BanBody, response: { 201: Ban, ...errors } } },
    async (req, reply) => reply.code(201).send(view(bans.ban(req.body.ip, req.body.seconds, req.body.reason ?? 'manual'), Date.now())),
  );

  app.delete('/bans/:ip', { schema: { tags, summary: 'Lift a ban', params: IpParams, response: { 204: { type: 'null' }, ...errors } } }, async (req, reply) => {
    if (!bans.unban(req.params.ip)) throw notFound(`${req.params.ip} is not banned`);
    return reply.code(204).send();
  });
};
