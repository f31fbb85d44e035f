// Server-Sent Events: a hub the server publishes into (destination states, registrations,
// bans…) and the `GET /api/v1/events` stream. The console reads it with fetch() and the Bearer
// header, so the stream sits behind the same auth as every other /api/v1 route.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiEvent, EventSource } from './services.js';

export interface EventHub extends EventSource {
  /** Sends to every subscriber; a listener that throws is dropped. */
  publish(type: string, data: unknown): void;
  listeners(): number;
}

export const createEventHub = (): EventHub => {
  const listeners = new Set<(e: ApiEvent) => void>();
  return {
    publish(type, data) {
      if (listeners.size === 0) return;
      const event: ApiEvent = { type, data };
      for (const fn of listeners) {
        try {
          fn(event);
        } catch {
          listeners.delete(fn);
        }
      }
    },
    subscribe(fn) {
      listeners.add(fn);
      return () => {
        listeners.delete(fn);
      };
    },
    listeners: () => listeners.size,
  };
};

/** Bytes a slow client may have queued before it is cut off. */
const MAX_BUFFERED = 1 << 20;
const HEARTBEAT_MS = 15_000;

export interface SseStreams {
  /** Serves one client until it goes away or `closeAll()`. */
  handle(request: FastifyRequest, reply: FastifyReply): void;
  closeAll(): void;
  count(): number;
}

export const createSseStreams = (source: EventSource, options: { heartbeatMs?: number } = {}): SseStreams => {
  const open = new Set<() => void>();
  const heartbeatMs = options.heartbeatMs ?? HEARTBEAT_MS;
  return {
    handle(_request, reply) {
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      let id = 0;
      let ended = false;
      const write = (text: string): void => {
        if (ended) return;
        res.write(text);
        if (res.writableLength > MAX_BUFFERED) end();
      };
      const unsubscribe = source.subscribe((e) => {
        id++;
        write(`id: ${id}\nevent: ${e.type}\ndata: ${JSON.stringify(e.data)}\n\n`);
      });
      const heartbeat = setInterval(() => write(': keep-alive\n\n'), heartbeatMs);
      heartbeat.unref();
      const end = (): void => {
        if (ended) return;
        ended = true;
        unsubscribe();
        clearInterval(heartbeat);
        open.delete(end);
        res.end();
      };
      open.add(end);
      // the response's close: the client went away (a request's own close fires once its body is read)
      res.once('close', end);
      res.once('error', end);
      // the first bytes tell the client the stream is up (and how long to wait before reconnecting)
      write('retry: 3000\n: connected\n\n');
    },
    closeAll() {
      for (const end of [...open]) end();
    },
    count: () => open.size,
  };
};
