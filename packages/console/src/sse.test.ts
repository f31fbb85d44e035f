import { describe, expect, it } from 'vitest';
import { backoffDelay, connectEventStream, createSseParser, type SseEvent, type StreamStatus } from './sse.js';

const parse = (chunks: string[]): { events: SseEvent[]; retries: number[] } => {
  const events: SseEvent[] = [];
  const retries: number[] = [];
  const p = createSseParser({ onEvent: (e) => events.push(e), onRetry: (ms) => retries.push(ms) });
  for (const c of chunks) p.push(c);
  p.end();
  return { events, retries };
};

describe('SSE parser', () => {
  it('parses the stream the API writes: retry, comments, named events with ids', () => {
    const { events, retries } = parse([
      'retry: 3000\n: connected\n\n',
      'id: 1\nevent: destination\ndata: {"setId":1,"uri":"sip:10.0.0.11:5060","from":"active","to":"inactive"}\n\n',
      ': keep-alive\n\n',
    ]);
    expect(retries).toEqual([3000]);
    expect(events).toEqual([{ type: 'destination', data: '{"setId":1,"uri":"sip:10.0.0.11:5060","from":"active","to":"inactive"}', lastEventId: '1' }]);
  });

  it('joins data lines with LF, defaults the type to message, strips one leading space only', () => {
    const { events } = parse(['data:  two spaces\ndata:second\n\n', 'data\n\n']);
    expect(events).toEqual([
      { type: 'message', data: ' two spaces\nsecond', lastEventId: '' },
      { type: 'message', data: '', lastEventId: '' },
    ]);
  });

  it('handles lines and CRLF pairs split across chunks, CR-only line ends and a BOM', () => {
    const { events } = parse(['\uFEFFevent: ba', 'n\r', '\ndata: {"ip":"203.0.113.7"}\r', '\r', 'event: unban\rdata: x\r\r']);
    expect(events.map((e) => [e.type, e.data])).toEqual([
      ['ban', '{"ip":"203.0.113.7"}'],
      ['unban', 'x'],
    ]);
  });

  it('feeds byte by byte the same as in one piece', () => {
    const text = 'id: 7\r\nevent: registration\r\ndata: {"aor":"1001@example.com"}\r\n\r\nevent: call\ndata: a\ndata: b\n\n';
    expect(parse([...text]).events).toEqual(parse([text]).events);
    expect(parse([text]).events).toHaveLength(2);
  });

  it('ignores events without data, unknown fields, bad retry values and ids with NUL; keeps the last id', () => {
    const { events, retries } = parse(['event: nothing\n\n', 'foo: bar\nretry: soon\nid: a\0b\ndata: x\n\n', 'id: 9\n\ndata: y\n\n']);
    expect(retries).toEqual([]);
    expect(events).toEqual([
      { type: 'message', data: 'x', lastEventId: '' },
      { type: 'message', data: 'y', lastEventId: '9' },
    ]);
  });

  it('drops an event the stream ended before its blank line', () => {
    expect(parse(['event: call\ndata: half']).events).toEqual([]);
  });
});

describe('event stream reconnection', () => {
  it('backs off exponentially with jitter, up to the maximum', () => {
    expect(backoffDelay(0, 1000, 30_000, () => 0.5)).toBe(1000);
    expect(backoffDelay(3, 1000, 30_000, () => 0.5)).toBe(8000);
    expect(backoffDelay(10, 1000, 30_000, () => 0.5)).toBe(30_000);
    expect(backoffDelay(1, 1000, 30_000, () => 0)).toBe(1600);
    expect(backoffDelay(1, 1000, 30_000, () => 1)).toBe(2400);
  });

  it('sends the Bearer header, delivers events, and reconnects after the stream ends', async () => {
    const calls: Array<Record<string, string>> = [];
    const bodies = ['retry: 10\n\nevent: ban\ndata: {"ip":"1"}\n\n', 'event: unban\ndata: {"ip":"1"}\n\n'];
    const fakeFetch = (async (_url: string, init: RequestInit) => {
      calls.push(init.headers as Record<string, string>);
      const body = bodies.shift();
      if (body === undefined) return new Promise<Response>(() => undefined);
      return new Response(new Blob([body]).stream(), { status: 200, headers: { 'content-type': 'text/event-stream' } });
    }) as unknown as typeof fetch;
    const events: string[] = [];
    const statuses: StreamStatus['kind'][] = [];
    const s = connectEventStream({
      url: '/api/v1/events',
      token: 's3cret',
      fetch: fakeFetch,
      random: () => 0.5,
      onEvent: (e) => events.push(e.type),
      onStatus: (st) => statuses.push(st.kind),
    });
    const deadline = Date.now() + 2000;
    while (events.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    s.close();
    expect(events).toEqual(['ban', 'unban']);
    expect(calls[0]).toMatchObject({ authorization: 'Bearer s3cret', accept: 'text/event-stream' });
    expect(calls.length).toBeGreaterThanOrEqual(2);
    expect(statuses.slice(0, 4)).toEqual(['connecting', 'open', 'waiting', 'connecting']);
    expect(statuses.at(-1)).toBe('closed');
  });

  it('stops on 401 instead of retrying with a refused token', async () => {
    let n = 0;
    const fakeFetch = (async () => {
      n++;
      return new Response('{}', { status: 401 });
    }) as unknown as typeof fetch;
    const statuses: string[] = [];
    connectEventStream({ url: '/e', token: 'bad', fetch: fakeFetch, baseDelayMs: 1, onEvent: () => undefined, onStatus: (s) => statuses.push(s.kind) });
    await new Promise((r) => setTimeout(r, 50));
    expect(n).toBe(1);
    expect(statuses).toEqual(['connecting', 'unauthorized']);
  });
});
