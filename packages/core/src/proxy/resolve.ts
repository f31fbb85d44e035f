// Turns a destination SIP URI into transport addresses (RFC 3263, simplified: the transport
// comes from the URI; a host name without a port is looked up by SRV first, then A/AAAA).
import { Resolver, lookup as systemLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { SipUri } from '../message/uri.js';
import { getParam } from '../message/params.js';
import { isSipUri, parseUri, uriTransport } from '../message/uri.js';
import type { Endpoint, TransportName } from '../transport/types.js';

export class ResolveError extends Error {
  readonly code = 'resolve-failed';
}

interface CacheEntry { until: number; endpoints: Endpoint[] }

export interface DestinationResolver {
  /** Literal addresses resolve synchronously; names return a promise. */
  resolve(uri: string | SipUri): Endpoint[] | Promise<Endpoint[]>;
}

const TRANSPORTS: ReadonlySet<string> = new Set(['udp', 'tcp', 'tls']);

export const createResolver = (opts: { servers?: readonly string[]; cacheMs?: number } = {}): DestinationResolver => {
  const resolver = new Resolver({ timeout: 2000, tries: 2 });
  if (opts.servers !== undefined && opts.servers.length > 0) resolver.setServers([...opts.servers]);
  const cache = new Map<string, CacheEntry>();
  const cacheMs = opts.cacheMs ?? 30_000;

  const lookup = async (host: string, port: number | undefined, transport: TransportName, scheme: string): Promise<Endpoint[]> => {
    const key = `${transport}|${host}|${port ?? ''}`;
    const hit = cache.get(key);
    if (hit !== undefined && hit.until > Date.now()) return hit.endpoints;
    const out: Endpoint[] = [];
    if (port === undefined) {
      const service = scheme === 'sips' || transport === 'tls' ? `_sips._tcp.${host}` : `_sip._${transport}.${host}`;
      try {
        const srv = await resolver.resolveSrv(service);
        srv.sort((a, b) => a.priority - b.priority || b.weight - a.weight);
        for (const r of srv) for (const a of await addresses(r.name)) out.push({ transport, address: a, port: r.port });
      } catch {
        // no SRV records: fall through to A/AAAA
      }
    }
    if (out.length === 0) for (const a of await addresses(host)) out.push({ transport, address: a, port: port ?? (transport === 'tls' ? 5061 : 5060) });
    if (out.length === 0) throw new ResolveError(`cannot resolve ${host}`);
    cache.set(key, { until: Date.now() + cacheMs, endpoints: out });
    return out;
  };

  const addresses = async (name: string): Promise<string[]> => {
    const [v4, v6] = await Promise.allSettled([resolver.resolve4(name), resolver.resolve6(name)]);
    const found = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
    if (found.length > 0 || (opts.servers !== undefined && opts.servers.length > 0)) return found;
    // names DNS does not know but the system does (/etc/hosts, container links)
    try {
      return (await systemLookup(name, { all: true })).map((a) => a.address);
    } catch {
      return [];
    }
  };

  return {
    resolve(uri) {
      const u = typeof uri === 'string' ? parseUri(uri) : uri;
      if (!isSipUri(u)) throw new ResolveError(`not a SIP URI: ${String(uri)}`);
      const maddr = getParam(u.params, 'maddr');
      const host = typeof maddr === 'string' ? maddr : u.host;
      const t = uriTransport(u);
      if (!TRANSPORTS.has(t)) throw new ResolveError(`unsupported transport ${t}`);
      const transport = t as TransportName;
      if (isIP(host) !== 0) return [{ transport, address: host, port: u.port ?? (transport === 'tls' ? 5061 : 5060) }];
      return lookup(host.toLowerCase(), u.port, transport, u.scheme);
    },
  };
};
