// Endpoints of the contract that this build does not serve yet: they answer 501 in the
// contract's error shape, so clients can tell "not here yet" from "no such thing".
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ApiError } from '../errors.js';
import { errors } from '../schemas.js';

const PENDING: ReadonlyArray<readonly ['GET' | 'POST' | 'PUT' | 'DELETE', string, string]> = [
  ['GET', '/trunks', 'trunks'],
  ['POST', '/trunks', 'trunks'],
  ['GET', '/trunks/:id', 'trunks'],
  ['PUT', '/trunks/:id', 'trunks'],
  ['DELETE', '/trunks/:id', 'trunks'],
  ['POST', '/trunks/:id/register', 'trunks'],
  ['GET', '/calls', 'calls'],
  ['GET', '/calls/:callId', 'calls'],
  ['GET', '/trace', 'trace'],
  ['PUT', '/trace', 'trace'],
];

export const pendingRoutes = (missing: { trunks: boolean; calls: boolean }): FastifyPluginAsyncTypebox => async (app) => {
  for (const [method, url, tag] of PENDING) {
    if (tag === 'trunks' ? !missing.trunks : !missing.calls) continue;
    app.route({
      method,
      url,
      schema: { tags: [tag], summary: 'Not implemented yet (501)', response: errors },
      handler: async () => {
        throw new ApiError('not-implemented', `${method} /api/v1${url} is not implemented yet`);
      },
    });
  }
};
