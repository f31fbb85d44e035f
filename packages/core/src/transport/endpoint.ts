// Address helpers shared by the transports: one spelling per address so that connection keys
// and ACL decisions agree whatever form the socket API reported.

import { isIP } from 'node:net';
import type { TransportName } from './types.js';

/** Strips brackets and writes an IPv4-mapped IPv6 address as IPv4. */
export function normaliseAddress(address: string): string {
  if (address.charCodeAt(0) === 0x5b /* [ */ && address.endsWith(']')) address = address.slice(1, -1);
  // '::ffff:1.2.3.4' in any case; only the dotted form is produced by Node's socket API.
  if (address.length > 7 && address.charCodeAt(0) === 0x3a && address.includes('.')) {
    const lower = address.toLowerCase();
    if (lower.startsWith('::ffff:')) return address.slice(7);
  }
  return address;
}

export function familyOf(address: string): 0 | 4 | 6 {
  return isIP(address) as 0 | 4 | 6;
}

export function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1';
}

export function isWildcard(address: string): boolean {
  return address === '0.0.0.0' || address === '::';
}

/** The index key of a connection's remote end. The port is always last, so IPv6 colons cannot collide. */
export function endpointKey(transport: TransportName, address: string, port: number): string {
  return `${transport}:${address}:${port}`;
}

/** `host:port` with IPv6 bracketed, for ids and messages. */
export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
