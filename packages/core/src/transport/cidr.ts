// A small CIDR matcher for listener allow/deny lists: IPv4 and IPv6, plain prefix matching.
// IPv4-mapped IPv6 addresses and prefixes (::ffff:0:0/96 and longer) are treated as IPv4.

import { TransportError } from './errors.js';

export interface Cidr {
  /** 4 bytes for IPv4, 16 for IPv6. */
  readonly bytes: Uint8Array;
  readonly prefix: number;
}

function parseIPv4(text: string): Uint8Array | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (p.length === 0 || p.length > 3 || !/^[0-9]+$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    out[i] = n;
  }
  return out;
}

function parseIPv6(text: string): Uint8Array | null {
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  const groups: number[] = [];
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const parseHalf = (half: string, isLast: boolean): number[] | null => {
    if (half === '') return [];
    const out: number[] = [];
    const parts = half.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (isLast && i === parts.length - 1 && p.includes('.')) {
        const tail = parseIPv4(p);
        if (tail === null) return null;
        out.push((tail[0]! << 8) | tail[1]!, (tail[2]! << 8) | tail[3]!);
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return null;
      out.push(parseInt(p, 16));
    }
    return out;
  };
  const head = parseHalf(halves[0]!, halves.length === 1);
  if (head === null) return null;
  if (halves.length === 1) {
    if (head.length !== 8) return null;
    groups.push(...head);
  } else {
    const rest = parseHalf(halves[1]!, true);
    if (rest === null || head.length + rest.length > 7) return null;
    groups.push(...head, ...new Array<number>(8 - head.length - rest.length).fill(0), ...rest);
  }
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[i * 2] = groups[i]! >> 8;
    out[i * 2 + 1] = groups[i]! & 0xff;
  }
  return out;
}

function isV4Mapped(b: Uint8Array): boolean {
  if (b.length !== 16) return false;
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

/** The bytes of an IP literal (brackets and zone allowed), IPv4-mapped IPv6 as 4 bytes; null if not an IP. */
export function parseIp(text: string): Uint8Array | null {
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1);
  const b = text.includes(':') ? parseIPv6(text) : parseIPv4(text);
  if (b !== null && isV4Mapped(b)) return b.subarray(12);
  return b;
}

/** `a.b.c.d/n`, `x::y/n`, or a bare address (a host route); null when malformed. */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text.trim() : text.slice(0, slash).trim();
  let b = addr.includes(':') ? parseIPv6(addr.startsWith('[') && addr.endsWith(']') ? addr.slice(1, -1) : addr) : parseIPv4(addr);
  if (b === null) return null;
  let prefix = b.length * 8;
  if (slash >= 0) {
    const p = text.slice(slash + 1).trim();
    if (!/^[0-9]{1,3}$/.test(p)) return null;
    prefix = Number(p);
    if (prefix > b.length * 8) return null;
  }
  if (b.length === 16 && isV4Mapped(b) && prefix >= 96) {
    b = b.subarray(12);
    prefix -= 96;
  }
  return { bytes: b, prefix };
}

export function cidrContains(cidr: Cidr, ip: Uint8Array): boolean {
  if (ip.length !== cidr.bytes.length) return false;
  const full = cidr.prefix >> 3;
  for (let i = 0; i < full; i++) if (ip[i] !== cidr.bytes[i]) return false;
  const rem = cidr.prefix & 7;
  if (rem === 0) return true;
  const mask = (0xff << (8 - rem)) & 0xff;
  return (ip[full]! & mask) === (cidr.bytes[full]! & mask);
}

/** Parses a CIDR list once; throws TransportError TRANSPORT_INVALID_CIDR naming `path[i]`. */
export function parseCidrList(list: readonly string[], path: string): Cidr[] {
  return list.map((text, i) => {
    const c = parseCidr(text);
    if (c === null) throw new TransportError('TRANSPORT_INVALID_CIDR', `${path}[${i}]: not a CIDR: ${text}`);
    return c;
  });
}

const ACL_CACHE_MAX = 4096;

/**
 * Whether an address is in any of the CIDRs. Answers are cached per address string (bounded, as
 * the listeners' ACL): the trusted-network test runs on every request, and sources repeat.
 */
export function createCidrMatcher(list: readonly string[], path = 'cidrs'): (address: string) => boolean {
  const cidrs = parseCidrList(list, path);
  if (cidrs.length === 0) return () => false;
  return cachedByAddress((address) => {
    const ip = parseIp(address);
    if (ip === null) return false;
    for (const c of cidrs) if (cidrContains(c, ip)) return true;
    return false;
  });
}

/** `decide`, its answers kept per address string (at most ACL_CACHE_MAX, then started over) */
function cachedByAddress(decide: (address: string) => boolean): (address: string) => boolean {
  const cache = new Map<string, boolean>();
  return (address) => {
    let ok = cache.get(address);
    if (ok === undefined) {
      ok = decide(address);
      if (cache.size >= ACL_CACHE_MAX) cache.clear();
      cache.set(address, ok);
    }
    return ok;
  };
}

/**
 * A listener's access check: deny wins over allow, an empty allow list admits everyone.
 * Null when both lists are empty, so the hot path can skip the check. Decisions are cached
 * per address string (bounded) because datagram sources repeat.
 */
export function createAcl(
  allow: readonly string[] | undefined,
  deny: readonly string[] | undefined,
  path = 'listen',
): ((address: string) => boolean) | null {
  const allowList = parseCidrList(allow ?? [], `${path}.allow`);
  const denyList = parseCidrList(deny ?? [], `${path}.deny`);
  if (allowList.length === 0 && denyList.length === 0) return null;
  return cachedByAddress((address) => {
    const ip = parseIp(address);
    if (ip === null) return false;
    for (const c of denyList) if (cidrContains(c, ip)) return false;
    if (allowList.length === 0) return true;
    for (const c of allowList) if (cidrContains(c, ip)) return true;
    return false;
  });
}
