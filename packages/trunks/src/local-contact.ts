// Our `host:port` for a trunk's Contact, as the server computes it from its listeners: a socket of
// the trunk's transport (the family and loopback-ness of a literal registrar address preferred,
// as the transport layer picks the socket a request leaves from), written as the advertised host
// when there is one, so the provider calls back where NAT lets it in.
import { isIP } from 'node:net';
import type { ListenerInfo } from '@sipfront/core';
import { isSipUri, parseUri } from '@sipfront/core';
import { TrunkError } from './errors.js';
import { nextHop, trunkTransport } from './register-request.js';
import type { TrunkSpec } from './types.js';

const isLoopback = (ip: string): boolean => ip.startsWith('127.') || ip === '::1';

export const contactHostPort = (t: TrunkSpec, listeners: readonly ListenerInfo[], advertise?: string | null): string => {
  const transport = trunkTransport(t);
  const u = parseUri(nextHop(t));
  const host = isSipUri(u) ? u.host : '';
  const family = isIP(host);
  let ls = listeners.filter((l) => l.transport === transport);
  if (family !== 0) {
    const sameFamily = ls.filter((l) => l.family === family);
    if (sameFamily.length > 0) ls = sameFamily;
  }
  const loop = family !== 0 && isLoopback(host);
  const l = ls.find((x) => isLoopback(x.host) === loop) ?? ls[0];
  if (l === undefined) throw new TrunkError('invalid-trunk', `trunk ${t.id}: no ${transport} listener for its registrar`, { field: 'registrar' });
  const h = advertise ?? (l.family === 6 ? `[${l.host}]` : l.host);
  return `${h}:${l.port}`;
};
