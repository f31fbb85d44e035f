// One spelling per IP address, so a ban made through the API (`2001:DB8::0:1`) matches the
// address the transport reports (`2001:db8::1`). IPv6 is written as libuv writes socket
// addresses (RFC 5952: lower case, the longest run of two or more zero groups compressed);
// IPv4-mapped IPv6 becomes plain IPv4, as the transport's endpoints already are.
import { parseIp } from '@sipfront/core';

export const canonicalIp = (text: string): string | undefined => {
  const b = parseIp(text.trim());
  if (b === null) return undefined;
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((b[i]! << 8) | b[i + 1]!);
  let bestBase = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestBase = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) bestBase = -1;
  // libuv (like BIND) writes an IPv4-compatible address (::a.b.c.d) with its dotted tail
  if (bestBase === 0 && bestLen === 6) return `::${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestBase) {
      out += '::';
      i += bestLen - 1;
      continue;
    }
    if (out !== '' && !out.endsWith(':')) out += ':';
    out += words[i]!.toString(16);
  }
  return out;
};
