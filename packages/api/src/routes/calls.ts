// Recent calls and their ladders (JSON, text or pcap), and what is captured.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { errors } from '../schemas.js';
import type { CallService } from '../services.js';
import { notFound } from './common.js';

const Summary = Type.Object({
  callId: Type.String(),
  startedAt: Type.String(),
  lastAt: Type.String(),
  endedAt: Type.Union([Type.String(), Type.Null()]),
  from: Type.String(),
  to: Type.String(),
  ruri: Type.String(),
  status: Type.Union([Type.Integer(), Type.Null()]),
  state: Type.String(),
  messages: Type.Integer(),
});
const Message = Type.Object({
  at: Type.String(),
  direction: Type.String(),
  from: Type.String(),
  to: Type.String(),
  transport: Type.String(),
  firstLine: Type.String(),
  method: Type.String(),
  status: Type.Integer(),
  cseq: Type.String(),
  text: Type.String(),
});
const Trace = Type.Object(
  {
    capture: Type.Union([Type.Literal('all'), Type.Literal('off'), Type.Literal('filtered')]),
    filter: Type.Optional(
      Type.Object(
        { match: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'AORs, users or numbers (substrings of From, To, Request-URI)' })), ips: Type.Optional(Type.Array(Type.String({ minLength: 1 }))) },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export const callRoutes = (calls: CallService): FastifyPluginAsyncTypebox => async (app) => {
  const tags = ['calls'];
  app.get('/calls', { schema: { tags, summary: 'Active and recent calls, newest first', response: { 200: Type.Object({ calls: Type.Array(Summary) }), ...errors } } }, async () => ({
    calls: await calls.list(),
  }));
  app.get(
    '/calls/:callId',
    {
      schema: {
        tags,
        summary: "One call's messages in order (the ladder)",
        params: Type.Object({ callId: Type.String({ minLength: 1 }) }),
        querystring: Type.Object({ format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('text'), Type.Literal('pcap')])) }),
        response: { 200: Type.Object({ call: Summary, messages: Type.Array(Message) }), ...errors },
      },
    },
    async (req, reply) => {
      const id = req.params.callId;
      const format = req.query.format ?? 'json';
      if (format === 'text') {
        const t = await calls.text(id);
        if (t === undefined) throw notFound(`no call ${id}`);
        return reply.type('text/plain; charset=utf-8').send(t as never);
      }
      if (format === 'pcap') {
        const p = await calls.pcap(id);
        if (p === undefined) throw notFound(`no call ${id}`);
        return reply
          .type('application/vnd.tcpdump.pcap')
          .header('content-disposition', `attachment; filename="${id.replace(/[^A-Za-z0-9._-]/g, '_')}.pcap"`)
          .send(p as never);
      }
      const c = await calls.get(id);
      if (c === undefined) throw notFound(`no call ${id}`);
      return c;
    },
  );
  app.get('/trace', { schema: { tags, summary: 'What is captured', response: { 200: Trace, ...errors } } }, async () => calls.trace());
  app.put('/trace', { schema: { tags, summary: 'Capture all calls, none, or those matching filters', body: Trace, response: { 200: Trace, ...errors } } }, async (req) =>
    calls.setTrace({ capture: req.body.capture, filter: req.body.filter ?? {} }),
  );
};
