// Destination sets and their destinations, each with its live health (the dispatcher's views);
// PATCH sets an operator state. Changes go through the DispatcherService, which persists them.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ApiError } from '../errors.js';
import {
  Destination,
  DestinationBody,
  DestinationList,
  DestinationParams,
  DispatcherSet,
  SetCreateBody,
  SetList,
  SetParams,
  SetPutBody,
  StateBody,
  errors,
  type TDestinationBody,
} from '../schemas.js';
import type { DestinationInput, DispatcherService } from '../services.js';
import { notFound } from './common.js';

const destinationInput = (d: TDestinationBody): DestinationInput => ({
  uri: d.uri,
  weight: d.weight ?? 1,
  priority: d.priority ?? 0,
  ...(d.state !== undefined ? { state: d.state } : {}),
});

export const dispatcherRoutes = (dispatcher: DispatcherService): FastifyPluginAsyncTypebox => async (app) => {
  const tags = ['dispatcher'];
  const mustSet = (id: number) => {
    const s = dispatcher.getSet(id);
    if (s === undefined) throw notFound(`no dispatcher set ${id}`);
    return s;
  };

  app.get('/dispatcher/sets', { schema: { tags, summary: 'Destination sets with live health', response: { 200: SetList, ...errors } } }, async () => ({
    sets: dispatcher.getSets(),
  }));

  app.post('/dispatcher/sets', { schema: { tags, summary: 'Create a set', body: SetCreateBody, response: { 201: DispatcherSet, ...errors } } }, async (req, reply) => {
    const b = req.body;
    const set = await dispatcher.createSet({
      id: b.id,
      name: b.name ?? `set-${b.id}`,
      algorithm: b.algorithm ?? 'round-robin',
      destinations: (b.destinations ?? []).map(destinationInput),
    });
    return reply.code(201).send(set);
  });

  app.get('/dispatcher/sets/:id', { schema: { tags, summary: 'One set', params: SetParams, response: { 200: DispatcherSet, ...errors } } }, async (req) => mustSet(req.params.id));

  app.put(
    '/dispatcher/sets/:id',
    {
      schema: {
        tags,
        summary: 'Create or replace a set',
        description: 'Fields left out keep their value (a new set: name set-<id>, round-robin, no destinations). Destinations kept (same URI) keep their health and counters.',
        params: SetParams,
        body: SetPutBody,
        response: { 200: DispatcherSet, 201: DispatcherSet, ...errors },
      },
    },
    async (req, reply) => {
      const id = req.params.id;
      const b = req.body;
      if (b.id !== undefined && b.id !== id) throw new ApiError('invalid-request', `id: ${b.id} differs from the id in the path (${id})`, { field: 'id' });
      const old = dispatcher.getSet(id);
      const set = await dispatcher.putSet({
        id,
        name: b.name ?? old?.name ?? `set-${id}`,
        algorithm: b.algorithm ?? old?.algorithm ?? 'round-robin',
        destinations:
          b.destinations !== undefined
            ? b.destinations.map(destinationInput)
            : (old?.destinations ?? []).map((d) => ({ uri: d.uri, weight: d.weight, priority: d.priority })),
      });
      return reply.code(old === undefined ? 201 : 200).send(set);
    },
  );

  app.delete('/dispatcher/sets/:id', { schema: { tags, summary: 'Remove a set', params: SetParams, response: { 204: { type: 'null' }, ...errors } } }, async (req, reply) => {
    await dispatcher.removeSet(req.params.id);
    return reply.code(204).send();
  });

  app.post('/dispatcher/reload', { schema: { tags, summary: "Re-read the YAML and upsert its sets (the YAML wins for what it names; operator states are kept)", response: { 200: SetList, ...errors } } }, async () => {
    if (dispatcher.reload === undefined) throw new ApiError('not-implemented', 'this server cannot reload');
    return { sets: await dispatcher.reload() };
  });

  app.get(
    '/dispatcher/sets/:id/destinations',
    { schema: { tags, summary: 'Destinations of a set, with live health', params: SetParams, response: { 200: DestinationList, ...errors } } },
    async (req) => ({ destinations: mustSet(req.params.id).destinations }),
  );

  app.post(
    '/dispatcher/sets/:id/destinations',
    { schema: { tags, summary: 'Add a destination', params: SetParams, body: DestinationBody, response: { 201: Destination, ...errors } } },
    async (req, reply) => reply.code(201).send(await dispatcher.addDestination(req.params.id, destinationInput(req.body))),
  );

  app.get(
    '/dispatcher/sets/:id/destinations/:destId',
    { schema: { tags, summary: 'One destination', params: DestinationParams, response: { 200: Destination, ...errors } } },
    async (req) => {
      mustSet(req.params.id);
      const d = dispatcher.getDestination(req.params.id, req.params.destId);
      if (d === undefined) throw notFound(`no destination ${req.params.destId} in set ${req.params.id}`);
      return d;
    },
  );

  app.patch(
    '/dispatcher/sets/:id/destinations/:destId',
    {
      schema: {
        tags,
        summary: "Set a destination's operator state",
        description: 'disabled: no new calls, whatever the probes say; draining: no new calls, ends in disabled at 0 calls; active: back to the probes.',
        params: DestinationParams,
        body: StateBody,
        response: { 200: Destination, ...errors },
      },
    },
    async (req) => dispatcher.setState(req.params.id, req.params.destId, req.body.state),
  );

  app.delete(
    '/dispatcher/sets/:id/destinations/:destId',
    { schema: { tags, summary: 'Remove a destination', params: DestinationParams, response: { 204: { type: 'null' }, ...errors } } },
    async (req, reply) => {
      await dispatcher.removeDestination(req.params.id, req.params.destId);
      return reply.code(204).send();
    },
  );
};
