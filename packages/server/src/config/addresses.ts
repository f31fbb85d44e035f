// Address checks for the config: IP addresses, CIDRs, host names and the loose SIP URI shape a
// destination or trunk registrar must have. Full SIP URI parsing belongs to @sipfront/core; this
// only decides whether a configured value can be right, once, at start-up.

import { isIP } from 'node:net';

export function isIpAddress(value: string): boolean {
  return isIP(value) !== 0;
}

const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const HOSTNAME_RE = new RegExp(`^(?=.{1,253}\\.?$)${LABEL}(?:\\.${LABEL})*\\.?$`);

/** A DNS name (RFC 1123). An all-numeric last label is refused so `10.0.0.999` is no host name. */
export function isHostname(value: string): boolean {
  if (!HOSTNAME_RE.test(value)) return false;
  const labels = value.replace(/\.$/, '').split('.');
  return !/^[0-9]+$/.test(labels[labels.length - 1] ?? '');
}

export function isHost(value: string): boolean {
  return isIpAddress(value) || isHostname(value);
}

export interface Cidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: 4 | 6;
}

/** `10.0.0.0/24`, `2001:db8::/32`; a bare address is a host route (/32 or /128). */
export function parseCidr(value: string): Cidr | null {
  const slash = value.indexOf('/');
  const address = slash < 0 ? value : value.slice(0, slash);
  const family = isIP(address);
  if (family !== 4 && family !== 6) return null;
  const max = family === 4 ? 32 : 128;
  if (slash < 0) return { address, prefix: max, family };
  const bits = value.slice(slash + 1);
  if (!/^[0-9]{1,3}$/.test(bits)) return null;
  const prefix = Number(bits);
  return prefix <= max ? { address, prefix, family } : null;
}

/** The CIDR written with its prefix length, so consumers never meet a bare address. */
export function normalizeCidr(value: string): string {
  const cidr = parseCidr(value);
  return cidr ? `${cidr.address}/${cidr.prefix}` : value;
}

export interface SipUriParts {
  readonly scheme: 'sip' | 'sips';
  readonly user: string | null;
  /** Without brackets for IPv6. */
  readonly host: string;
  readonly port: number | null;
  readonly params: Readonly<Record<string, string | null>>;
}

const SIP_URI_RE = /^(sips?):(?:([^@\s;?]+)@)?(\[[0-9A-Fa-f:.]+\]|[^\s:;[\]@?]+)(?::([0-9]{1,5}))?((?:;[^\s;?]+)*)$/i;
const PARAM_RE = /^[A-Za-z0-9\-_.!~*'%]+(?:=[^\s;=]*)?$/;
const TRANSPORTS = new Set(['udp', 'tcp', 'tls']);

/** `sip:`/`sips:` [user@] host [:port] [;params]; no headers. Null when it is not one. */
export function parseSipUri(value: string): SipUriParts | null {
  const m = SIP_URI_RE.exec(value);
  if (!m) return null;
  const [, scheme = '', user, rawHost = '', rawPort, rawParams = ''] = m;
  let host = rawHost;
  if (host.startsWith('[')) {
    host = host.slice(1, -1);
    if (isIP(host) !== 6) return null;
  } else if (!isHost(host)) {
    return null;
  }
  const port = rawPort === undefined ? null : Number(rawPort);
  if (port !== null && port > 65535) return null;
  const params: Record<string, string | null> = {};
  for (const param of rawParams.split(';').slice(1)) {
    if (!PARAM_RE.test(param)) return null;
    const eq = param.indexOf('=');
    params[(eq < 0 ? param : param.slice(0, eq)).toLowerCase()] = eq < 0 ? null : param.slice(eq + 1);
  }
  const transport = params['transport'];
  if (transport !== undefined && (transport === null || !TRANSPORTS.has(transport.toLowerCase()))) return null;
  return { scheme: scheme.toLowerCase() as 'sip' | 'sips', user: user ?? null, host, port, params };
}

/** A DNS server: `IP`, `IPv4:port` or `[IPv6]:port`. */
export function isDnsServer(value: string): boolean {
  if (isIpAddress(value)) return true;
  const m = /^(?:\[([^\]]+)\]|([0-9.]+)):([0-9]{1,5})$/.exec(value);
  if (!m) return false;
  const host = m[1] ?? m[2] ?? '';
  const family = isIP(host);
  return (m[1] !== undefined ? family === 6 : family === 4) && Number(m[3]) <= 65535;
}

export function isLoopback(host: string): boolean {
  return host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}
