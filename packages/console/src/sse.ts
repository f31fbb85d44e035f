// Server-Sent Events over fetch(): the browser's EventSource cannot send an Authorization header,
// and the API never takes a token from a query string, so the console reads `/api/v1/events`
// as a byte stream, parses it per the WHATWG "event stream" rules and reconnects with backoff.

export interface SseEvent {
  /** `message` when the stream named none */
  type: string;
  data: string;
  lastEventId: string;
}

export interface SseParser {
  /** Feeds the next decoded chunk; chunks may split lines, even a CRLF pair. */
  push(chunk: string): void;
  /** The stream ended: an event without its blank line is dropped, as the spec says. */
  end(): void;
}

export interface SseParserHandlers {
  onEvent(event: SseEvent): void;
  /** a `retry:` field: the reconnection time the server asks for, in ms */
  onRetry?(ms: number): void;
}

export const createSseParser = (handlers: SseParserHandlers): SseParser => {
  let buffer = '';
  let first = true;
  // a chunk that ended in CR: a LF at the start of the next one belongs to that line end
  let skipLf = false;
  let type = '';
  let data: string[] = [];
  let lastEventId = '';

  const dispatch = (): void => {
    if (data.length === 0) {
      type = '';
      return;
    }
    const event: SseEvent = { type: type === '' ? 'message' : type, data: data.join('\n'), lastEventId };
    type = '';
    data = [];
    handlers.onEvent(event);
  };

  const line = (l: string): void => {
    if (l === '') {
      dispatch();
      return;
    }
    if (l.startsWith(':')) return;
    const colon = l.indexOf(':');
    const field = colon === -1 ? l : l.slice(0, colon);
    let value = colon === -1 ? '' : l.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        type = value;
        break;
      case 'data':
        data.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) lastEventId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) handlers.onRetry?.(Number(value));
        break;
      default:
        // unknown fields are ignored
        break;
    }
  };

  return {
    push(chunk) {
      if (chunk === '') return;
      if (first) {
        first = false;
        if (chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
      }
      if (skipLf && chunk.startsWith('\n')) chunk = chunk.slice(1);
      skipLf = false;
      buffer += chunk;
      let start = 0;
      for (let i = 0; i < buffer.length; i++) {
        const c = buffer.charCodeAt(i);
        if (c !== 10 && c !== 13) continue;
        line(buffer.slice(start, i));
        if (c === 13) {
          if (i + 1 === buffer.length) skipLf = true;
          else if (buffer.charCodeAt(i + 1) === 10) i++;
        }
        start = i + 1;
      }
      buffer = buffer.slice(start);
    },
    end() {
      buffer = '';
      type = '';
      data = [];
    },
  };
};

/** Exponential backoff with ±20% jitter, so a restarted server is not hit by every tab at once. */
export const backoffDelay = (attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number => {
  const raw = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt));
  return Math.round(raw * (0.8 + 0.4 * random()));
};

export type StreamStatus =
  | { kind: 'connecting' }
  | { kind: 'open' }
  | { kind: 'waiting'; retryAt: number; reason: string }
  | { kind: 'unauthorized' }
  | { kind: 'closed' };

export interface EventStreamOptions {
  url: string;
  /** null: the API runs without a token (loopback only) */
  token: string | null;
  onEvent(event: SseEvent): void;
  onStatus(status: StreamStatus): void;
  fetch?: typeof fetch;
  /** first reconnection delay unless the server sent `retry:` */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** no byte (not even the server's heartbeat comment) for this long: reconnect */
  stallMs?: number;
  random?: () => number;
  now?: () => number;
}

export interface EventStream {
  close(): void;
}

/** Keeps one event stream open until `close()`, reconnecting after every failure. */
export const connectEventStream = (options: EventStreamOptions): EventStream => {
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const maxDelay = options.maxDelayMs ?? 30_000;
  const stallMs = options.stallMs ?? 45_000;
  const now = options.now ?? Date.now;
  let baseDelay = options.baseDelayMs ?? 1000;
  let attempt = 0;
  let closed = false;
  let lastEventId = '';
  let controller: AbortController | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const retryLater = (reason: string): void => {
    if (closed) return;
    const delay = backoffDelay(attempt, baseDelay, maxDelay, options.random);
    attempt++;
    options.onStatus({ kind: 'waiting', retryAt: now() + delay, reason });
    timer = setTimeout(() => void run(), delay);
  };

  const run = async (): Promise<void> => {
    if (closed) return;
    controller = new AbortController();
    const signal = controller.signal;
    options.onStatus({ kind: 'connecting' });
    const headers: Record<string, string> = { accept: 'text/event-stream', 'cache-control': 'no-cache' };
    if (options.token !== null) headers['authorization'] = `Bearer ${options.token}`;
    if (lastEventId !== '') headers['last-event-id'] = lastEventId;
    let stall: ReturnType<typeof setTimeout> | undefined;
    let openedAt: number | undefined;
    // a stream that stayed up a while was healthy: its failure starts the backoff again
    const healthy = (): void => {
      if (openedAt !== undefined && now() - openedAt > 5000) attempt = 0;
    };
    const armStall = (): void => {
      if (stall !== undefined) clearTimeout(stall);
      stall = setTimeout(() => controller?.abort(), stallMs);
    };
    try {
      const res = await doFetch(options.url, { headers, signal, cache: 'no-store' });
      if (res.status === 401) {
        closed = true;
        options.onStatus({ kind: 'unauthorized' });
        return;
      }
      if (!res.ok || res.body === null) {
        retryLater(`the server answered ${res.status}`);
        return;
      }
      options.onStatus({ kind: 'open' });
      const parser = createSseParser({
        onEvent: (e) => {
          lastEventId = e.lastEventId;
          options.onEvent(e);
        },
        onRetry: (ms) => {
          baseDelay = ms;
        },
      });
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      openedAt = now();
      armStall();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        armStall();
        parser.push(decoder.decode(value, { stream: true }));
      }
      parser.end();
      if (stall !== undefined) clearTimeout(stall);
      healthy();
      retryLater('the server ended the stream');
    } catch (err) {
      if (stall !== undefined) clearTimeout(stall);
      if (closed) return;
      healthy();
      retryLater(signal.aborted ? 'the stream went quiet' : `cannot reach the server (${err instanceof Error ? err.message : String(err)})`);
    }
  };

  void run();
  return {
    close() {
      if (closed) return;
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      controller?.abort();
      options.onStatus({ kind: 'closed' });
    },
  };
};
