// Helpers shared by the stores: a binding's identity (contact URI comparison), ordering,
// JSON (de)serialization, and AOR / domain normalization.
import { isSipUri, parseUri } from '@sipfront/core';
import { RegistrarError } from './errors.js';
import type { Binding } from './types.js';

// URI parameters that take part in RFC 3261 §19.1.4 comparison whenever present.
const SIGNIFICANT = ['transport', 'user', 'ttl', 'method', 'maddr'];

/**
 * The identity of a contact within its AOR, after RFC 3261 §19.1.4 for SIP URIs (scheme and
 * host case-insensitive, user and port exact, the significant parameters compared); other
 * schemes compare as lower-cased text.
 */
export const contactKey = (uri: string): string => {
  const u = parseUri(uri);
  if (!isSipUri(u)) return uri.toLowerCase();
  let k = `${u.scheme}:${u.user ?? ''}@${u.host.toLowerCase()}:${u.port ?? ''}`;
  for (const name of SIGNIFICANT) {
    for (const [n, v] of u.params) if (n === name) k += `;${n}=${(v ?? '').toLowerCase()}`;
  }
  return k;
};

export const normalizeDomain = (domain: string): string => domain.trim().toLowerCase();

/** `user@domain` with the domain lower-cased; the user part is case-sensitive (RFC 3261 §19.1.4). */
export const normalizeAor = (aor: string): string => {
  const at = aor.lastIndexOf('@');
  if (at === -1) return aor.toLowerCase();
  return `${aor.slice(0, at)}@${aor.slice(at + 1).toLowerCase()}`;
};

export const splitAor = (aor: string): { user: string; domain: string } => {
  const at = aor.lastIndexOf('@');
  return at === -1 ? { user: '', domain: aor } : { user: aor.slice(0, at), domain: aor.slice(at + 1) };
};

/** Highest q first (absent = 1.0, as a proxy forks), then the most recently refreshed. */
export const compareBindings = (a: Binding, b: Binding): number =>
  (b.q ?? 1) - (a.q ?? 1) || b.receivedAt - a.receivedAt || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

export const checkBinding = (b: Binding): void => {
  if (typeof b.aor !== 'string' || b.aor.length === 0) throw new RegistrarError('invalid-binding', 'binding without AOR', { field: 'aor' });
  if (typeof b.uri !== 'string' || b.uri.length === 0) throw new RegistrarError('invalid-binding', 'binding without URI', { field: 'uri' });
  if (typeof b.key !== 'string' || b.key.length === 0) throw new RegistrarError('invalid-binding', 'binding without key', { field: 'key' });
  if (!Number.isFinite(b.expiresAt)) throw new RegistrarError('invalid-binding', 'binding without expiry', { field: 'expiresAt' });
};

export const bindingToJson = (b: Binding): string => JSON.stringify(b);

/** A binding from stored JSON; undefined when it is not one (a damaged entry is dropped, not fatal). */
export const bindingFromJson = (value: unknown): Binding | undefined => {
  let o: unknown = value;
  if (typeof value === 'string') {
    try {
      o = JSON.parse(value);
    } catch {
      return undefined;
    }
  }
  if (typeof o !== 'object' || o === null) return undefined;
  const r = o as Record<string, unknown>;
  const src = r['source'] as Record<string, unknown> | undefined;
  if (typeof r['aor'] !== 'string' || typeof r['uri'] !== 'string' || typeof r['expiresAt'] !== 'number') return undefined;
  if (typeof src !== 'object' || src === null || typeof src['address'] !== 'string') return undefined;
  const l = r['listener'] as Record<string, unknown> | undefined;
  return {
    aor: r['aor'],
    uri: r['uri'],
    key: typeof r['key'] === 'string' ? r['key'] : contactKey(r['uri']),
    expiresAt: r['expiresAt'],
    q: typeof r['q'] === 'number' ? r['q'] : undefined,
    callId: typeof r['callId'] === 'string' ? r['callId'] : '',
    cseq: typeof r['cseq'] === 'number' ? r['cseq'] : 0,
    source: { transport: (src['transport'] as Binding['source']['transport']) ?? 'udp', address: src['address'], port: Number(src['port'] ?? 5060) },
    connectionId: typeof r['connectionId'] === 'string' ? r['connectionId'] : undefined,
    instanceId: typeof r['instanceId'] === 'string' ? r['instanceId'] : '',
    listener: typeof l === 'object' && l !== null && typeof l['host'] === 'string'
      ? { id: String(l['id'] ?? ''), transport: l['transport'] as Binding['source']['transport'], host: l['host'], port: Number(l['port']) }
      : undefined,
    userAgent: typeof r['userAgent'] === 'string' ? r['userAgent'] : undefined,
    path: Array.isArray(r['path']) ? r['path'].filter((p): p is string => typeof p === 'string') : [],
    receivedAt: typeof r['receivedAt'] === 'number' ? r['receivedAt'] : 0,
  };
};
