// Scanner detection by User-Agent: a case-insensitive substring match of any configured
// pattern (friendly-scanner, sipvicious, sipcli …). One pass over the header value, indexed by
// each pattern's first character, no allocation: it runs for every request.
import { utf8ToLatin1 } from '@sipfront/core';

const fold = (c: number): number => (c >= 65 && c <= 90 ? c | 32 : c);

const matchAt = (s: string, at: number, p: string): boolean => {
  if (at + p.length > s.length) return false;
  for (let k = 1; k < p.length; k++) if (fold(s.charCodeAt(at + k)) !== p.charCodeAt(k)) return false;
  return true;
};

/**
 * A matcher over header values as the parser holds them (latin1 strings of the raw bytes);
 * null when there are no patterns, so the caller can skip the header lookup entirely.
 * ASCII letters match in any case.
 */
export const createUserAgentMatcher = (patterns: readonly string[]): ((userAgent: string) => boolean) | null => {
  const pats = [...new Set(patterns.map((p) => utf8ToLatin1(p.trim()).replace(/[A-Z]/g, (c) => c.toLowerCase())).filter((p) => p.length > 0))];
  if (pats.length === 0) return null;
  const byFirst: Array<string[] | undefined> = new Array<string[] | undefined>(256).fill(undefined);
  for (const p of pats) (byFirst[p.charCodeAt(0)] ??= []).push(p);
  return (ua) => {
    const n = ua.length;
    for (let i = 0; i < n; i++) {
      const c = fold(ua.charCodeAt(i));
      const candidates = c < 256 ? byFirst[c] : undefined;
      if (candidates === undefined) continue;
      for (let j = 0; j < candidates.length; j++) if (matchAt(ua, i, candidates[j]!)) return true;
    }
    return false;
  };
};
