// Outbound registrations to providers (trunks): list, create, replace, delete, register now.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { errors } from '../schemas.js';
import type { TrunkService } from '../services.js';
import { ApiError } from '../errors.js';
import { notFound } from './common.js';

const Seconds = Type.Number({ minimum: 0, description: 'seconds' });
const TrunkBody = Type.Object(
  {
    id: Type.String({ minLength: 1, maxLength: 64 }),
    registrar: Type.String({ minLength: 5, description: 'SIP URI of the provider registrar (RFC 3263 resolution)' }),
    user: Type.String({ minLength: 1 }),
    password: Type.Optional(Type.String({ minLength: 1, description: 'never returned' })),
    ha1: Type.Optional(Type.String({ pattern: '^[0-9a-fA-F]{32}$', description: 'MD5(auth_user:realm:password); never returned' })),
    authUser: Type.Optional(Type.String({ minLength: 1 })),
    realm: Type.Optional(Type.String({ minLength: 1 })),
    contactUser: Type.Optional(Type.String({ minLength: 1 })),
    domain: Type.Optional(Type.String({ minLength: 1 })),
    fromUser: Type.Optional(Type.String({ minLength: 1 })),
    outboundProxy: Type.Optional(Type.String({ minLength: 5 })),
    inboundFrom: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    expires: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400 })),
    routeTo: Type.Optional(Type.Integer({ minimum: 1 })),
    retry: Type.Optional(
      Type.Object(
        { interval: Type.Optional(Seconds), forbiddenInterval: Type.Optional(Seconds), maxAttempts: Type.Optional(Type.Integer({ minimum: 0 })), initialDelayMax: Type.Optional(Seconds) },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
const TrunkReply = Type.Object(
  {
    id: Type.String(),
    registrar: Type.String(),
    user: Type.String(),
    state: Type.String(),
    registeredUntil: Type.Union([Type.String(), Type.Null()]),
    lastCode: Type.Union([Type.Integer(), Type.Null()]),
    lastReason: Type.Union([Type.String(), Type.Null()]),
    nextAttemptAt: Type.Union([Type.String(), Type.Null()]),
  },
  { additionalProperties: true },
);
const IdParams = Type.Object({ id: Type.String({ minLength: 1 }) });

export const trunkRoutes = (trunks: TrunkService): FastifyPluginAsyncTypebox => async (app) => {
  const tags = ['trunks'];
  app.get('/trunks', { schema: { tags, summary: 'Trunks and their registration state', response: { 200: Type.Object({ trunks: Type.Array(TrunkReply) }), ...errors } } }, async () => ({
    trunks: trunks.list(),
  }));
  app.post('/trunks', { schema: { tags, summary: 'Add a trunk (registers at once)', body: TrunkBody, response: { 201: TrunkReply, ...errors } } }, async (req, reply) => {
    if (trunks.get(req.body.id) !== undefined) throw new ApiError('conflict', `trunk ${req.body.id} exists`, { field: 'id' });
    return reply.code(201).send(await trunks.create(req.body));
  });
  app.get('/trunks/:id', { schema: { tags, summary: 'One trunk', params: IdParams, response: { 200: TrunkReply, ...errors } } }, async (req) => {
    const t = trunks.get(req.params.id);
    if (t === undefined) throw notFound(`no trunk ${req.params.id}`);
    return t;
  });
  app.put(
    '/trunks/:id',
    { schema: { tags, summary: 'Replace a trunk (password / ha1 kept when omitted)', params: IdParams, body: TrunkBody, response: { 200: TrunkReply, ...errors } } },
    async (req) => {
      if (req.body.id !== req.params.id) throw new ApiError('invalid-request', 'id: must equal the id in the path', { field: 'id' });
      if (trunks.get(req.params.id) === undefined) throw notFound(`no trunk ${req.params.id}`);
      return trunks.replace(req.params.id, req.body);
    },
  );
  app.delete('/trunks/:id', { schema: { tags, summary: 'Remove a trunk (unregisters it)', params: IdParams, response: { 204: { type: 'null' }, ...errors } } }, async (req, reply) => {
    if (!(await trunks.remove(req.params.id))) throw notFound(`no trunk ${req.params.id}`);
    return reply.code(204).send();
  });
  app.post('/trunks/:id/register', { schema: { tags, summary: 'Register now', params: IdParams, response: { 202: TrunkReply, ...errors } } }, async (req, reply) => {
    if (trunks.get(req.params.id) === undefined) throw notFound(`no trunk ${req.params.id}`);
    return reply.code(202).send(trunks.register(req.params.id));
  });
};
