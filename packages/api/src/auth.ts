// Bearer token checks for /api/v1, and the rule that keeps a token-less API on loopback.
// Both sides are hashed before the constant-time comparison, so neither the token's value nor
// its length leaks through timing.
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** A checker of `Authorization` header values against one token. */
export const createTokenCheck = (token: string): ((header: string | undefined) => boolean) => {
  const expected = digest(token);
  return (header) => {
    if (header === undefined) return false;
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    // a missing or malformed header is compared too, so every refusal costs the same
    const got = digest(m?.[1] ?? '');
    return timingSafeEqual(got, expected) && m !== null;
  };
};

/** 127.0.0.0/8, ::1 and IPv4-mapped loopback; host names other than `localhost` are not trusted to be local. */
export const isLoopbackHost = (host: string): boolean => {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || /^::ffff:127\./.test(h) || /^(0{1,4}:){7}0{0,3}1$/.test(h);
  return false;
};
