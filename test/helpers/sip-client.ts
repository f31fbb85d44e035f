// A raw SIP peer for integration tests: sends text messages over UDP or TCP from 127.0.0.1 and
// hands back what arrives, parsed by our parser. Every wait is bounded.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, createServer, type Socket as TcpSocket } from 'node:net';
import { once } from 'node:events';
import { parseMessage, type SipMessage } from '@sipfront/core';

export interface SipPeer {
  port: number;
  transport: 'udp' | 'tcp';
  send(text: string | Buffer): void;
  /** the next message received (optionally the next one the predicate accepts) */
  next(timeoutMs?: number, accept?: (m: SipMessage) => boolean): Promise<SipMessage>;
  /** resolves true when nothing (accepted) arrives within ms */
  silence(ms: number, accept?: (m: SipMessage) => boolean): Promise<boolean>;
  received: SipMessage[];
  close(): Promise<void>;
}

/** Lines joined with CRLF, an empty line, then the body; Content-Length filled in when absent. */
export const sipText = (lines: string[], body = ''): string => {
  const hasCl = lines.some((l) => /^(content-length|l)\s*:/i.test(l));
  const all = hasCl ? lines : [...lines, `Content-Length: ${Buffer.byteLength(body)}`];
  return `${all.join('\r\n')}\r\n\r\n${body}`;
};

export type UdpPeer = SipPeer & { to(port: number, host?: string): UdpPeer };

/** `answerOptions`: reply 200 to every OPTIONS (a live backend for the dispatcher's probes) and keep them out of `received`. */
export async function udpPeer(opts: { answerOptions?: boolean; host?: string } = {}): Promise<UdpPeer> {
  const sock: UdpSocket = createSocket('udp4');
  sock.bind(0, opts.host ?? '127.0.0.1');
  await once(sock, 'listening');
  let target = { port: 0, host: '127.0.0.1' };
  const peer = basePeer('udp', sock.address().port, () => sock.close());
  sock.on('message', (data, rinfo) => {
    if (opts.answerOptions === true && data.subarray(0, 8).toString('latin1') === 'OPTIONS ') {
      const text = data.toString('latin1');
      const head = text.slice(0, text.indexOf('\r\n\r\n')).split('\r\n');
      const keep = head.filter((l) => /^(via|v|from|f|to|t|call-id|i|cseq)\s*:/i.test(l));
      const reply = ['SIP/2.0 200 OK', ...keep.map((l) => (/^(to|t)\s*:/i.test(l) && !/;tag=/.test(l) ? `${l};tag=opt` : l)), 'Content-Length: 0', '', ''].join('\r\n');
      sock.send(Buffer.from(reply, 'latin1'), rinfo.port, rinfo.address);
      return;
    }
    peer.push(data, true);
  });
  peer.send = (text) => sock.send(typeof text === 'string' ? Buffer.from(text, 'latin1') : text, target.port, target.host);
  const u: UdpPeer = Object.assign(peer, {
    to(port: number, host = '127.0.0.1'): UdpPeer {
      target = { port, host };
      return u;
    },
  });
  return u;
}

export async function tcpPeer(port: number, host = '127.0.0.1'): Promise<SipPeer> {
  const sock: TcpSocket = connect({ port, host });
  await once(sock, 'connect');
  const peer = basePeer('tcp', sock.localPort!, () => sock.destroy());
  attachFraming(sock, peer);
  peer.send = (text) => sock.write(typeof text === 'string' ? Buffer.from(text, 'latin1') : text);
  return peer;
}

/** A TCP SIP server peer (a backend): accepts connections, answers over the newest one. */
export async function tcpServerPeer(): Promise<SipPeer> {
  const conns: TcpSocket[] = [];
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const peer = basePeer('tcp', (srv.address() as { port: number }).port, () => {
    for (const c of conns) c.destroy();
    srv.close();
  });
  srv.on('connection', (c) => {
    conns.push(c);
    attachFraming(c, peer);
  });
  peer.send = (text) => conns[conns.length - 1]?.write(typeof text === 'string' ? Buffer.from(text, 'latin1') : text);
  return peer;
}

const attachFraming = (sock: TcpSocket, peer: { push(d: Buffer, datagram: boolean): void }): void => {
  let buf = Buffer.alloc(0);
  sock.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
      while (buf.length >= 2 && buf[0] === 13 && buf[1] === 10) buf = buf.subarray(2);
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = buf.subarray(0, end).toString('latin1');
      const m = /^(?:content-length|l)[ \t]*:[ \t]*(\d+)/im.exec(head);
      const len = end + 4 + (m ? Number(m[1]) : 0);
      if (buf.length < len) return;
      peer.push(buf.subarray(0, len), false);
      buf = buf.subarray(len);
    }
  });
  sock.on('error', () => undefined);
};

const basePeer = (transport: 'udp' | 'tcp', port: number, closeFn: () => void) => {
  const received: SipMessage[] = [];
  let waiters: Array<{ accept: (m: SipMessage) => boolean; resolve: (m: SipMessage) => void }> = [];
  let cursor = 0;
  const peer = {
    port,
    transport,
    received,
    send: (_t: string | Buffer): void => undefined,
    push(data: Buffer, datagram: boolean) {
      let m: SipMessage;
      try {
        m = parseMessage(data, { datagram, validate: false });
      } catch {
        return;
      }
      received.push(m);
      const w = waiters.find((x) => x.accept(m));
      if (w !== undefined) {
        waiters = waiters.filter((x) => x !== w);
        cursor = received.length;
        w.resolve(m);
      }
    },
    next(timeoutMs = 3000, accept: (m: SipMessage) => boolean = () => true): Promise<SipMessage> {
      for (let i = cursor; i < received.length; i++) {
        if (accept(received[i]!)) {
          cursor = i + 1;
          return Promise.resolve(received[i]!);
        }
      }
      return new Promise((resolve, reject) => {
        const w = { accept, resolve: (m: SipMessage) => { clearTimeout(t); resolve(m); } };
        const t = setTimeout(() => {
          waiters = waiters.filter((x) => x !== w);
          reject(new Error(`no SIP message within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.push(w);
      });
    },
    async silence(ms: number, accept: (m: SipMessage) => boolean = () => true): Promise<boolean> {
      try {
        await peer.next(ms, accept);
        return false;
      } catch {
        return true;
      }
    },
    async close() {
      closeFn();
    },
  };
  return peer;
};
