// Hashing for the hash-* algorithms: weighted rendezvous (highest random weight) hashing. Each
// destination scores every key on its own, so when one leaves only the keys it won move, and
// they spread over all the others by their scores instead of landing on one neighbour.

/** FNV-1a over UTF-16 code units. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** MurmurHash3's finaliser: a bijection on 32 bits with full avalanche. */
export function fmix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

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
