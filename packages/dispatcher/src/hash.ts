// Hashing for the hash-* algorithms: weighted rendezvous (highest random weight) hashing. Each
// destination scores every key on its own, so when one leaves only the keys it won move, and
// they spread over all the others by their scores instead of landing on one neighbour.

// FNV-1a over UTF-16 code units, and MurmurHash3's finaliser: the core's
import { fmix32, fnv1a } from '@sipfront/core';

export { fmix32, fnv1a };

/** Per-destination seed, computed once when the destination is built. */
export const destinationSeed = (uri: string): number => fmix32(fnv1a(uri));

/**
 * Weighted rendezvous score (Schindelhauer & Schomaker): weight / -ln(u) with u uniform in
 * (0, 1) from hash(key, destination). Equal weights reduce to plain HRW; weight 0 scores 0.
 */
export function rendezvousScore(keyHash: number, seed: number, weight: number): number {
  if (weight <= 0) return 0;
  const x = fmix32(fmix32(keyHash ^ seed) + seed);
  const u = (x + 0.5) / 4294967296;
  return weight / -Math.log(u);
}

const SCHEMES = new Set(['sip', 'sips', 'tel']);

/** The part of a From/To URI that names the party: scheme, parameters, headers and brackets dropped. */
export function uriKey(uri: string): string {
  let start = 0;
  let end = uri.length;
  const lt = uri.indexOf('<'); // a name-addr: the URI is inside the brackets
  if (lt !== -1) start = lt + 1;
  const colon = uri.indexOf(':', start);
  if (colon !== -1 && colon - start <= 4 && SCHEMES.has(uri.slice(start, colon).toLowerCase())) start = colon + 1;
  for (let i = start; i < end; i++) {
    const c = uri.charCodeAt(i);
    if (c === 59 /* ; */ || c === 63 /* ? */ || c === 62 /* > */) {
      end = i;
      break;
    }
  }
  return uri.slice(start, end);
}
