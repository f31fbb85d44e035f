// A call's messages as a pcap file (LINKTYPE_RAW: IPv4/IPv6 + UDP or TCP headers synthesised
// around each SIP message), so Wireshark can show the call with its own SIP dissector.
import { isIPv4 } from 'node:net';
import type { TracedMessage } from './trace.js';

const ipv4 = (a: string): Buffer => Buffer.from(a.split('.').map(Number));
const ipv6 = (a: string): Buffer => {
  const [head, tail] = a.split('::') as [string, string | undefined];
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const b = Buffer.alloc(16);
  groups.forEach((g: string, i: number) => b.writeUInt16BE(parseInt(g || '0', 16), i * 2));
  return b;
};

const checksum = (buf: Buffer): number => {
  let sum = 0;
  for (let i = 0; i + 1 < buf.length; i += 2) sum += buf.readUInt16BE(i);
  if (buf.length % 2 === 1) sum += buf[buf.length - 1]! << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return ~sum & 0xffff;
};

const packet = (m: TracedMessage, seq: Map<string, number>): Buffer => {
  const payload = m.bytes;
  const tcp = m.transport !== 'udp';
  let l4: Buffer;
  if (tcp) {
    const key = `${m.from}>${m.to}`;
    const s = seq.get(key) ?? 1;
    seq.set(key, s + payload.length);
    l4 = Buffer.alloc(20);
    l4.writeUInt16BE(m.src.port, 0);
    l4.writeUInt16BE(m.dst.port, 2);
    l4.writeUInt32BE(s >>> 0, 4);
    l4.writeUInt32BE(0, 8);
    l4.writeUInt8(5 << 4, 12);
    l4.writeUInt8(0x18, 13); // PSH, ACK
    l4.writeUInt16BE(65535, 14);
  } else {
    l4 = Buffer.alloc(8);
    l4.writeUInt16BE(m.src.port, 0);
    l4.writeUInt16BE(m.dst.port, 2);
    l4.writeUInt16BE(8 + payload.length, 4);
  }
  const v4 = isIPv4(m.src.address) && isIPv4(m.dst.address);
  if (v4) {
    const ip = Buffer.alloc(20);
    ip.writeUInt8(0x45, 0);
    ip.writeUInt16BE(20 + l4.length + payload.length, 2);
    ip.writeUInt8(64, 8);
    ip.writeUInt8(tcp ? 6 : 17, 9);
    ipv4(m.src.address).copy(ip, 12);
    ipv4(m.dst.address).copy(ip, 16);
    ip.writeUInt16BE(checksum(ip), 10);
    return Buffer.concat([ip, l4, payload]);
  }
  const ip = Buffer.alloc(40);
  ip.writeUInt32BE(0x60000000, 0);
  ip.writeUInt16BE(l4.length + payload.length, 4);
  ip.writeUInt8(tcp ? 6 : 17, 6);
  ip.writeUInt8(64, 7);
  ipv6(m.src.address.includes(':') ? m.src.address : `::ffff:${m.src.address}`).copy(ip, 8);
  ipv6(m.dst.address.includes(':') ? m.dst.address : `::ffff:${m.dst.address}`).copy(ip, 24);
  return Buffer.concat([ip, l4, payload]);
};

export const callPcap = (messages: readonly TracedMessage[]): Buffer => {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(65535, 16);
  header.writeUInt32LE(101, 20); // LINKTYPE_RAW
  const parts: Buffer[] = [header];
  const seq = new Map<string, number>();
  for (const m of messages) {
    const p = packet(m, seq);
    const rec = Buffer.alloc(16);
    rec.writeUInt32LE(Math.floor(m.at / 1000), 0);
    rec.writeUInt32LE((m.at % 1000) * 1000, 4);
    rec.writeUInt32LE(p.length, 8);
    rec.writeUInt32LE(p.length, 12);
    parts.push(rec, p);
  }
  return Buffer.concat(parts);
};
