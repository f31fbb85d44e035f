import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createTransportLayer,
  type DropReason,
  type Endpoint,
  type Inbound,
  type TransportError,
  type TransportLayer,
  type TransportOptions,
} from './index.js';

const WAIT_MS = 3000;

/** A queue whose next() waits, bounded, for the next pushed item. */
function collector<T>() {
  const items: T[] = [];
  const waiters: Array<(v: T) => void> = [];
  return {
    items,
    push(v: T): void {
      const w = waiters.shift();
      if (w !== undefined) w(v);
      else items.push(v);
    },
    next(what = 'item', timeoutMs = WAIT_MS): Promise<T> {
      if (items.length > 0) return Promise.resolve(items.shift()!);
      return new Promise<T>((resolve, reject) => {
        const waiter = (v: T): void => {
          clearTimeout(timer);
          resolve(v);
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(new Error(`timed out waiting for ${what}`));
        }, timeoutMs);
        waiters.push(waiter);
      });
    },
  };
}

interface Drop {
  reason: DropReason;
  source: Endpoint;
}

const layers: TransportLayer[] = [];
const sockets: Array<{ destroy(): void } | { close(): void }> = [];

function makeLayer(opts: Partial<TransportOptions> = {}) {
  const inbox = collector<Inbound>();
  const drops = collector<Drop>();
  const errors = collector<Error>();
  const layer = createTransportLayer({
    onMessage: (m) => inbox.push(m),
    onDrop: (reason, source) => drops.push({ reason, source }),
    onError: (err) => errors.push(err),
    ...opts,
  });
  layers.push(layer);
  return { layer, inbox, drops, errors };
}

function track<T extends { destroy(): void } | { close(): void }>(s: T): T {
  sockets.push(s);
  return s;
}

afterEach(async () => {
  for (const s of sockets.splice(0)) {
    try {
      if ('destroy' in s) s.destroy();
      else s.close();
    } catch {
      // already closed
    }
  }
  await Promise.all(layers.splice(0).map((l) => l.close()));
});

const bounded = (): { signal: AbortSignal } => ({ signal: AbortSignal.timeout(WAIT_MS) });

function request(method = 'OPTIONS', body = '', transport = 'UDP'): Buffer {
  return Buffer.from(
    [
      `${method} sip:bob@example.com SIP/2.0`,
      `Via: SIP/2.0/${transport} 192.0.2.1:5060;branch=z9hG4bK${Math.random().toString(36).slice(2)}`,
      'Max-Forwards: 70',
      'To: <sip:bob@example.com>',
      'From: <sip:alice@example.com>;tag=1928301774',
      'Call-ID: a84b4c76e66710@pc33.example.com',
      `CSeq: 1 ${method}`,
      ...(body === '' ? [] : ['Content-Type: text/plain']),
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ].join('\r\n'),
  );
}

function response(): Buffer {
  return Buffer.from(
    [
      'SIP/2.0 200 OK',
      'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc',
      'To: <sip:bob@example.com>;tag=xyz',
      'From: <sip:alice@example.com>;tag=1928301774',
      'Call-ID: a84b4c76e66710@pc33.example.com',
      'CSeq: 1 OPTIONS',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );
}

/** Reads a stream socket into a growing buffer; until() waits for enough of it. */
function reader(socket: net.Socket) {
  let data = Buffer.alloc(0);
  const changed = collector<void>();
  socket.on('data', (chunk: Buffer) => {
    data = Buffer.concat([data, chunk]);
    changed.push();
  });
  return {
    get data() {
      return data;
    },
    async until(pred: (d: Buffer) => boolean, what = 'data'): Promise<Buffer> {
      while (!pred(data)) await changed.next(what);
      return data;
    },
  };
}

async function udpClient(host: string): Promise<dgram.Socket> {
  const s = track(dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4'));
  s.bind(0, host);
  await once(s, 'listening', bounded());
  return s;
}

async function tcpClient(host: string, port: number): Promise<net.Socket> {
  const s = track(net.connect({ host, port, noDelay: true }));
  s.on('error', () => {});
  await once(s, 'connect', bounded());
  return s;
}

/** A plain TCP server on 127.0.0.1 for the layer to connect to: its accepted sockets, port, and the layer's target for it. */
async function tcpPeer() {
  const accepted = collector<net.Socket>();
  const server = track(net.createServer((s) => accepted.push(s)));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening', bounded());
  const port = (server.address() as net.AddressInfo).port;
  const target: Endpoint = { transport: 'tcp', address: '127.0.0.1', port };
  return { accepted, port, target };
}

async function closedPromise(s: net.Socket): Promise<void> {
  if (s.destroyed && s.closed) return;
  await once(s, 'close', bounded());
}

describe('UDP', () => {
  for (const host of ['127.0.0.1', '::1']) {
    it(`delivers a datagram with its source and sends back to it (${host})`, async () => {
      const { layer, inbox } = makeLayer();
      const [listener] = await layer.listen([{ transport: 'udp', host, port: 0 }]);
      expect(listener).toMatchObject({ transport: 'udp', host, family: host === '::1' ? 6 : 4 });
      const client = await udpClient(host);
      const msg = request('OPTIONS');
      client.send(msg, listener!.port, host);
      const got = await inbox.next('datagram');
      expect(got.data.equals(msg)).toBe(true);
      expect(got.source).toEqual({ transport: 'udp', address: host, port: client.address().port });
      expect(got.listener).toBe(listener);
      expect(got.connectionId).toBeUndefined();

      const reply = once(client, 'message', bounded());
      layer.send(got.source, response());
      const [data, rinfo] = (await reply) as [Buffer, dgram.RemoteInfo];
      expect(data.equals(response())).toBe(true);
      expect(rinfo.port).toBe(listener!.port);
    });
  }

  it('ignores CRLF keep-alives and drops oversized datagrams', async () => {
    const { layer, inbox, drops } = makeLayer({ maxMessageSize: 400 });
    const [listener] = await layer.listen([{ transport: 'udp', host: '127.0.0.1', port: 0 }]);
    const client = await udpClient('127.0.0.1');
    client.send(Buffer.from('\r\n\r\n'), listener!.port, '127.0.0.1');
    client.send(Buffer.alloc(500, 0x41), listener!.port, '127.0.0.1');
    const drop = await drops.next('too-large drop');
    expect(drop).toEqual({ reason: 'too-large', source: { transport: 'udp', address: '127.0.0.1', port: client.address().port } });
    const msg = request();
    client.send(msg, listener!.port, '127.0.0.1');
    expect((await inbox.next('datagram')).data.equals(msg)).toBe(true);
    expect(inbox.items).toEqual([]);
  });

  it('drops a datagram from a denied source', async () => {
    const { layer, inbox, drops } = makeLayer();
    const [listener] = await layer.listen([{ transport: 'udp', host: '127.0.0.1', port: 0, deny: ['127.0.0.0/8'] }]);
    const client = await udpClient('127.0.0.1');
    client.send(request(), listener!.port, '127.0.0.1');
    expect(await drops.next('acl drop')).toMatchObject({ reason: 'acl', source: { address: '127.0.0.1' } });
    expect(inbox.items).toEqual([]);
  });

  it('admits only allowed sources; deny wins over allow', async () => {
    const { layer, inbox, drops } = makeLayer();
    const [open, closedL] = await layer.listen([
      { transport: 'udp', host: '127.0.0.1', port: 0, allow: ['127.0.0.1/32'] },
      { transport: 'udp', host: '127.0.0.1', port: 0, allow: ['127.0.0.0/8'], deny: ['127.0.0.1'] },
    ]);
    const client = await udpClient('127.0.0.1');
    client.send(request(), closedL!.port, '127.0.0.1');
    expect((await drops.next('acl drop')).reason).toBe('acl');
    client.send(request(), open!.port, '127.0.0.1');
    expect((await inbox.next('allowed datagram')).listener).toBe(open);
  });
});

describe('TCP', () => {
  for (const host of ['127.0.0.1', '::1']) {
    it(`delivers a message with body and answers over the same connection (${host})`, async () => {
      const { layer, inbox } = makeLayer();
      const [listener] = await layer.listen([{ transport: 'tcp', host, port: 0 }]);
      const client = await tcpClient(host, listener!.port);
      const read = reader(client);
      const msg = request('MESSAGE', 'hello, world', 'TCP');
      client.write(msg);
      const got = await inbox.next('message');
      expect(got.data.equals(msg)).toBe(true);
      expect(got.source).toEqual({ transport: 'tcp', address: host, port: client.localPort });
      expect(got.connectionId).toEqual(expect.any(String));

      layer.send(got.source, response(), { connectionId: got.connectionId! });
      await read.until((d) => d.length >= response().length, 'response');
      expect(read.data.equals(response())).toBe(true);
    });
  }

  it('frames a message written in many small pieces, and two messages in one write', async () => {
    const { layer, inbox } = makeLayer();
    const [listener] = await layer.listen([{ transport: 'tcp', host: '127.0.0.1', port: 0 }]);
    const client = await tcpClient('127.0.0.1', listener!.port);
    const msg = request('MESSAGE', 'split body', 'TCP');
    for (let i = 0; i < msg.length; i += 7) {
      client.write(msg.subarray(i, i + 7));
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    expect((await inbox.next('split message')).data.equals(msg)).toBe(true);

    const a = request('MESSAGE', 'first', 'TCP');
    const b = request('OPTIONS', '', 'TCP');
    client.write(Buffer.concat([a, b]));
    expect((await inbox.next('first')).data.equals(a)).toBe(true);
    expect((await inbox.next('second')).data.equals(b)).toBe(true);
  });

  it('answers a CRLFCRLF ping with a CRLF pong and delivers nothing for it', async () => {
    const { layer, inbox } = makeLayer();
    const [listener] = await layer.listen([{ transport: 'tcp', host: '127.0.0.1', port: 0 }]);
    const client = await tcpClient('127.0.0.1', listener!.port);
    const read = reader(client);
    client.write('\r\n\r\n');
    await read.until((d) => d.length >= 2, 'pong');
    expect(read.data.toString()).toBe('\r\n');
    const msg = request('OPTIONS', '', 'TCP');
    client.write(msg);
    expect((await inbox.next('message after ping')).data.equals(msg)).toBe(true);
    expect(inbox.items).toEqual([]);
  });

  it('closes a connection whose Content-Length exceeds maxMessageSize', async () => {
    const { layer, drops, inbox } = makeLayer({ maxMessageSize: 1000 });
    const [listener] = await layer.listen([{ transport: 'tcp', host: '127.0.0.1', port: 0 }]);
    const client = await tcpClient('127.0.0.1', listener!.port);
    const clientPort = client.localPort;
    const closed = closedPromise(client);
    client.write(request('MESSAGE', '', 'TCP').toString().replace('Content-Length: 0', 'Content-Length: 5000'));
    await closed;
    expect(await drops.next('drop')).toMatchObject({ reason: 'too-large', source: { transport: 'tcp', port: clientPort } });
    expect(inbox.items).toEqual([]);
  });

  it('closes a connection with a malformed Content-Length', async () => {
    const { layer, drops } = makeLayer();
    const [listener] = await layer.listen([{ transport: 'tcp', host: '127.0.0.1', port: 0 }]);
    const client = await tcpClient('127.0.0.1', listener!.port);
    const closed = closedPromise(client);
    client.write(request('MESSAGE', '', 'TCP').toString().replace('Content-Length: 0', 'Content-Length: -1'));
    await closed;
    expect((await drops.next('drop')).reason).toBe('framing');
  });

  it('refuses connections beyond maxConnectionsPerIp', async () => {
    const { layer, drops, inbox } = makeLayer({ maxConnectionsPerIp: 2 });
    const [listener] = await layer.listen([{ transport: 'tcp', host: '127.0.0.1', port: 0 }]);
    const first = await tcpClient('127.0.0.1', listener!.port);
    const second = await tcpClient('127.0.0.1', listener!.port);
    first.write(request('OPTIONS', '', 'TCP'));
    second.write(request('OPTIONS', '', 'TCP'));
    await inbox.next('first');
    await inbox.next('second'); // both are accepted before the third arrives
    const third = await tcpClient('127.0.0.1', listener!.port);
    const thirdPort = third.localPort;
    await closedPromise(third);
    expect(await drops.next('limit drop')).toMatchObject({ reason: 'connection-limit', source: { port: thirdPort } });
    const msg = request('MESSAGE', 'still here', 'TCP');
    first.write(msg);
    expect((await inbox.next('message on a kept connection')).data.equals(msg)).toBe(true);
  });

  it('closes idle connections', async () => {
    const closedIds = collector<string>();
    const { layer, drops } = makeLayer({ idleTimeoutMs: 150, onConnectionClosed: (id) => closedIds.push(id) });
    const [listener] = await layer.listen([{ transport: 'tcp', host: '127.0.0.1', port: 0 }]);
    const client = await tcpClient('127.0.0.1', listener!.port);
    const clientPort = client.localPort;
    await closedPromise(client);
    expect(await drops.next('idle drop')).toMatchObject({ reason: 'idle', source: { port: clientPort } });
    expect(await closedIds.next('close notice')).toEqual(expect.any(String));
  });

  it('survives an onMessage that throws, reporting it through onError', async () => {
    const { layer, errors } = makeLayer({
      onMessage: () => {
        throw new Error('boom');
      },
    });
    const [listener] = await layer.listen([{ transport: 'tcp', host: '127.0.0.1', port: 0 }]);
    const client = await tcpClient('127.0.0.1', listener!.port);
    client.write(request('OPTIONS', '', 'TCP'));
    expect(((await errors.next('callback error')) as TransportError).code).toBe('TRANSPORT_CALLBACK_THREW');
  });
});

describe('connection reuse', () => {
  it('sends to a remote endpoint over the connection it came in on', async () => {
    const { layer, inbox } = makeLayer();
    const [listener] = await layer.listen([{ transport: 'tcp', host: '127.0.0.1', port: 0 }]);
    const client = await tcpClient('127.0.0.1', listener!.port);
    const read = reader(client);
    client.write(request('REGISTER', '', 'TCP'));
    const got = await inbox.next('request');
    // No connectionId: found by the remote endpoint alone.
    const req = request('OPTIONS', '', 'TCP');
    layer.send({ transport: 'tcp', address: '127.0.0.1', port: client.localPort! }, req);
    await read.until((d) => d.length >= req.length, 'request to client');
    expect(read.data.equals(req)).toBe(true);
    expect(got.source.port).toBe(client.localPort);
  });

  it('opens a connection when none exists, then reuses it both ways', async () => {
    const { layer, inbox } = makeLayer();
    const [listener] = await layer.listen([{ transport: 'tcp', host: '127.0.0.1', port: 0 }]);
    const { accepted, target } = await tcpPeer();

    const a = request('INVITE', 'v=0', 'TCP');
    const b = request('BYE', '', 'TCP');
    layer.send(target, a);
    layer.send(target, b); // queued behind the connect
    const peer = await accepted.next('accepted connection');
    peer.on('error', () => {});
    track(peer);
    expect(peer.remoteAddress).toBe(listener!.host);
    const read = reader(peer);
    await read.until((d) => d.length >= a.length + b.length, 'two requests');
    expect(read.data.equals(Buffer.concat([a, b]))).toBe(true);

    peer.write(response());
    const got = await inbox.next('response over the opened connection');
    expect(got.data.equals(response())).toBe(true);
    expect(got.source).toEqual(target);
    expect(got.listener).toBe(listener);

    const c = request('OPTIONS', '', 'TCP');
    layer.send(target, c, { connectionId: got.connectionId! });
    await read.until((d) => d.length >= a.length + b.length + c.length, 'third request');
    expect(accepted.items).toEqual([]);
  });

  it('writes what one turn sends to a connection in one writev, whole and in order', async () => {
    const { layer } = makeLayer();
    await layer.listen([{ transport: 'tcp', host: '127.0.0.1', port: 0 }]);
    const { accepted, port, target } = await tcpPeer();
    const first = request('OPTIONS', '', 'TCP');
    layer.send(target, first);
    const peer = track(await accepted.next('accepted connection'));
    peer.on('error', () => {});
    const read = reader(peer);
    await read.until((d) => d.length >= first.length, 'first request');

    // count the writes the layer's socket to this peer makes in one turn of 20 sends
    const proto = net.Socket.prototype as unknown as Record<'_write' | '_writev', (...a: unknown[]) => unknown>;
    const saved = { _write: proto._write, _writev: proto._writev };
    const calls = { _write: 0, _writev: 0 };
    for (const k of ['_write', '_writev'] as const) {
      proto[k] = function (this: net.Socket, ...a: unknown[]) {
        if (this.remotePort === port) calls[k]++;
        return saved[k].apply(this, a);
      };
    }
    const many = Array.from({ length: 20 }, (_, i) => request(i % 2 === 0 ? 'INVITE' : 'BYE', 'x'.repeat(i), 'TCP'));
    const failed: Error[] = [];
    try {
      for (const [i, m] of many.entries()) layer.send(target, m, i === 7 ? { onError: (e) => failed.push(e) } : undefined);
      await read.until((d) => d.length >= first.length + many.reduce((n, m) => n + m.length, 0), 'twenty requests');
    } finally {
      Object.assign(proto, saved);
    }
    expect(read.data.equals(Buffer.concat([first, ...many]))).toBe(true);
    expect(calls).toEqual({ _write: 0, _writev: 1 });
    expect(failed).toEqual([]);
  });

  it('reports a failed connect through onError, never synchronously', async () => {
    const { layer } = makeLayer();
    await layer.listen([{ transport: 'tcp', host: '127.0.0.1', port: 0 }]);
    const probe = net.createServer();
    probe.listen(0, '127.0.0.1');
    await once(probe, 'listening', bounded());
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));

    const failed = collector<Error>();
    let returned = false;
    layer.send({ transport: 'tcp', address: '127.0.0.1', port }, request('OPTIONS', '', 'TCP'), {
      onError: (err) => {
        expect(returned).toBe(true);
        failed.push(err);
      },
    });
    returned = true;
    const err = (await failed.next('connect failure')) as TransportError;
    expect(err.code).toBe('TRANSPORT_CONNECT_FAILED');
    expect(err.sipStatus).toBe(503);
  });

  it('fails a send with no listener of the target family', async () => {
    const { layer } = makeLayer();
    await layer.listen([{ transport: 'tcp', host: '127.0.0.1', port: 0 }]);
    const failed = collector<Error>();
    layer.send({ transport: 'tcp', address: '::1', port: 5060 }, request(), { onError: (e) => failed.push(e) });
    layer.send({ transport: 'udp', address: '127.0.0.1', port: 5060 }, request(), { onError: (e) => failed.push(e) });
    layer.send({ transport: 'tcp', address: 'example.com', port: 5060 }, request(), { onError: (e) => failed.push(e) });
    const codes = [await failed.next(), await failed.next(), await failed.next()].map((e) => (e as TransportError).code);
    expect(codes).toEqual(['TRANSPORT_NO_LISTENER', 'TRANSPORT_NO_LISTENER', 'TRANSPORT_BAD_ADDRESS']);
  });
});

describe('TLS', () => {
  let dir = '';
  let cert = '';
  let key = '';

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sipfront-tls-'));
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost'],
      { stdio: 'ignore' },
    );
    cert = fs.readFileSync(path.join(dir, 'cert.pem'), 'utf8');
    key = fs.readFileSync(path.join(dir, 'key.pem'), 'utf8');
  });

  afterAll(() => {
    if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
  });

  it('delivers a message received over TLS and answers over the same connection', async () => {
    const { layer, inbox } = makeLayer();
    const [listener] = await layer.listen([{ transport: 'tls', host: '127.0.0.1', port: 0, cert, key }]);
    const client = track(tls.connect({ host: '127.0.0.1', port: listener!.port, rejectUnauthorized: false }));
    client.on('error', () => {});
    await once(client, 'secureConnect', bounded());
    const read = reader(client);
    const msg = request('MESSAGE', 'over tls', 'TLS');
    client.write(msg);
    const got = await inbox.next('tls message');
    expect(got.data.equals(msg)).toBe(true);
    expect(got.source).toEqual({ transport: 'tls', address: '127.0.0.1', port: client.localPort });
    layer.send(got.source, response(), { connectionId: got.connectionId! });
    await read.until((d) => d.length >= response().length, 'tls response');
    expect(read.data.equals(response())).toBe(true);
  });

  it('opens a verified TLS connection with a given CA and server name', async () => {
    const { layer } = makeLayer({ tlsClient: { ca: cert } });
    await layer.listen([{ transport: 'tls', host: '127.0.0.1', port: 0, cert, key }]);
    const got = collector<Buffer>();
    const server = track(
      tls.createServer({ cert, key }, (s) => {
        s.on('error', () => {});
        s.on('data', (d: Buffer) => got.push(d));
      }),
    );
    server.listen(0, '127.0.0.1');
    await once(server, 'listening', bounded());
    const msg = request('OPTIONS', '', 'TLS');
    const failed = collector<Error>();
    layer.send({ transport: 'tls', address: '127.0.0.1', port: (server.address() as net.AddressInfo).port }, msg, {
      tlsServerName: 'localhost',
      onError: (e) => failed.push(e),
    });
    expect((await got.next('tls request')).equals(msg)).toBe(true);
    expect(failed.items).toEqual([]);
  });

  it('refuses an unverifiable server certificate by default', async () => {
    const { layer } = makeLayer();
    await layer.listen([{ transport: 'tls', host: '127.0.0.1', port: 0, cert, key }]);
    const server = track(tls.createServer({ cert, key }, (s) => s.on('error', () => {})));
    server.on('tlsClientError', () => {});
    server.listen(0, '127.0.0.1');
    await once(server, 'listening', bounded());
    const failed = collector<Error>();
    layer.send({ transport: 'tls', address: '127.0.0.1', port: (server.address() as net.AddressInfo).port }, request(), {
      onError: (e) => failed.push(e),
    });
    expect(((await failed.next('verification failure')) as TransportError).code).toBe('TRANSPORT_CONNECT_FAILED');
  });

  it('rejects a TLS listener without PEM contents', async () => {
    const { layer } = makeLayer();
    await expect(layer.listen([{ transport: 'tls', host: '127.0.0.1', port: 0, cert: '/etc/cert.pem', key }])).rejects.toMatchObject({
      code: 'TRANSPORT_LISTEN_FAILED',
      message: expect.stringContaining('listen[0].cert'),
    });
  });
});

describe('listeners', () => {
  it('expands 0.0.0.0 into one socket per local IPv4 address on one port', async () => {
    const { layer } = makeLayer();
    const infos = await layer.listen([{ transport: 'udp', host: '0.0.0.0', port: 0 }]);
    expect(infos.map((l) => l.host)).toContain('127.0.0.1');
    expect(new Set(infos.map((l) => l.port)).size).toBe(1);
    expect(new Set(infos.map((l) => l.id)).size).toBe(infos.length);
    expect(layer.listeners()).toEqual(infos);
    expect(layer.listenerFor({ transport: 'udp', address: '127.0.0.1', port: 5060 })?.host).toBe('127.0.0.1');
    const external = layer.listenerFor({ transport: 'udp', address: '203.0.113.9', port: 5060 });
    if (infos.length > 1) expect(external?.host).not.toBe('127.0.0.1');
    expect(layer.listenerFor({ transport: 'tcp', address: '127.0.0.1', port: 5060 })).toBeUndefined();
    const other = infos.find((l) => l.host !== '127.0.0.1');
    if (other !== undefined) expect(layer.listenerFor({ transport: 'udp', address: '127.0.0.1', port: 1 }, other)).toBe(other);
  });

  it('rejects a bad CIDR naming its path, binding nothing', async () => {
    const { layer } = makeLayer();
    await expect(layer.listen([{ transport: 'udp', host: '127.0.0.1', port: 0, allow: ['10.0.0.0/40'] }])).rejects.toMatchObject({
      code: 'TRANSPORT_INVALID_CIDR',
      message: expect.stringContaining('listen[0].allow[0]'),
    });
    expect(layer.listeners()).toEqual([]);
  });

  it('close() closes listeners and connections; later sends fail', async () => {
    const { layer } = makeLayer();
    const [listener] = await layer.listen([{ transport: 'tcp', host: '::1', port: 0 }]);
    const client = await tcpClient('::1', listener!.port);
    const clientPort = client.localPort!;
    const closed = closedPromise(client);
    await layer.close();
    await closed;
    const failed = collector<Error>();
    layer.send({ transport: 'tcp', address: '::1', port: clientPort }, request(), { onError: (e) => failed.push(e) });
    expect(((await failed.next('closed failure')) as TransportError).code).toBe('TRANSPORT_CLOSED');
    await expect(new Promise((resolve, reject) => net.connect(listener!.port, '::1').on('connect', resolve).on('error', reject))).rejects.toMatchObject({
      code: 'ECONNREFUSED',
    });
  });
});
