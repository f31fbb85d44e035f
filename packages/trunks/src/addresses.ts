// The provider addresses a trunk's calls come from: the resolved registrar and outbound proxy
// (any port, any transport: providers call from other ports than they register on) plus the
// `inbound_from` CIDRs. Addresses compare as bytes, so `::ffff:192.0.2.1` is 192.0.2.1.
import { createCidrMatcher, isSipUri, parseIp, parseUri } from '@sipfront/core';
import type { TrunkResolver, TrunkSpec } from './types.js';

/** A comparable key of an IP literal; undefined when it is not one. */
export const addressKey = (address: string): string | undefined => {
  const b = parseIp(address);
  return b === null ? undefined : Buffer.from(b).toString('hex');
};

/** The CIDR test of `inbound_from` (throws TransportError on a bad CIDR: validate first). */
export const inboundMatcher = (t: TrunkSpec): ((address: string) => boolean) =>
  t.inboundFrom.length === 0 ? () => false : createCidrMatcher(t.inboundFrom, `trunks.${t.id}.inbound_from`);

/** The URIs whose addresses count as the provider's. */
export const providerUris = (t: TrunkSpec): string[] => (t.outboundProxy === null ? [t.registrar] : [t.registrar, t.outboundProxy]);

/** The host of a URI when it is an IP literal (no resolver needed). */
const literalHost = (uri: string): string | undefined => {
  const u = parseUri(uri);
  return isSipUri(u) && parseIp(u.host) !== null ? u.host : undefined;
};

/**
 * Address keys of the provider's URIs. A URI that does not resolve (or no resolver for a host
 * name) keeps what `previous` had for it: a DNS hiccup must not cut the trunk's calls off.
 */
export const resolveProvider = async (
  t: TrunkSpec,
  resolver: TrunkResolver | undefined,
  previous: ReadonlyMap<string, ReadonlySet<string>>,
  timeoutMs: number,
): Promise<{ byUri: Map<string, Set<string>>; errors: Array<{ uri: string; error: string }> }> => {
  const byUri = new Map<string, Set<string>>();
  const errors: Array<{ uri: string; error: string }> = [];
  for (const uri of providerUris(t)) {
    const lit = literalHost(uri);
    if (lit !== undefined) {
      byUri.set(uri, new Set([addressKey(lit)!]));
      continue;
    }
    if (resolver === undefined) {
      byUri.set(uri, new Set(previous.get(uri) ?? []));
      errors.push({ uri, error: 'no resolver for a host name' });
      continue;
    }
    try {
      const r = resolver.resolve(uri);
      const eps = Array.isArray(r) ? r : await withTimeout(r, timeoutMs);
      const keys = new Set<string>();
      for (const e of eps) {
        const k = addressKey(e.address);
        if (k !== undefined) keys.add(k);
      }
      byUri.set(uri, keys.size > 0 ? keys : new Set(previous.get(uri) ?? []));
    } catch (err) {
      byUri.set(uri, new Set(previous.get(uri) ?? []));
      errors.push({ uri, error: err instanceof Error ? err.message : String(err) });
    }
  }
  return { byUri, errors };
};

const withTimeout = <T>(p: Promise<T>, ms: number): Promise<T> =>
  new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    (timer as { unref?: () => void }).unref?.();
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
