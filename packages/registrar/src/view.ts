// What others make of bindings: the REST shape of a registration (CONTRACT.md) and the
// RouteTarget the router forwards to.
import type { Endpoint, RouteTarget } from '@sipfront/core';
import type { Binding } from './types.js';

const hostPart = (address: string): string => (address.includes(':') ? `[${address}]` : address);

/** `udp:203.0.113.7:5060` (IPv6 in brackets). */
export const formatSource = (e: Endpoint): string => `${e.transport}:${hostPart(e.address)}:${e.port}`;

export interface RegistrationView {
  aor: string;
  contacts: Array<{
    uri: string;
    expiresIn: number;
    source: string;
    userAgent: string | null;
    q: number | null;
    callId: string;
    path: string[];
    instanceId: string;
  }>;
}

/** `{ aor, contacts: [{ uri, expiresIn, source, userAgent, q, callId, path }] }` as GET /registrations returns it. */
export const registrationView = (aor: string, bindings: readonly Binding[], now: number): RegistrationView => ({
  aor,
  contacts: bindings.map((b) => ({
    uri: b.uri,
    expiresIn: Math.max(0, Math.ceil((b.expiresAt - now) / 1000)),
    source: formatSource(b.source),
    userAgent: b.userAgent ?? null,
    q: b.q ?? null,
    callId: b.callId,
    path: b.path,
    instanceId: b.instanceId,
  })),
});

/**
 * Where a request for this binding goes: to the address the REGISTER came from (NAT), with the
 * contact as Request-URI and the Path as Route set. A binding held by another instance
 * (`binding.instanceId`) is not reachable this way; see `binding.listener`.
 */
export const toRouteTarget = (b: Binding): RouteTarget => {
  const target: RouteTarget = {
    destination: `sip:${hostPart(b.source.address)}:${b.source.port};transport=${b.source.transport}`,
    requestUri: b.uri,
  };
  if (b.path.length > 0) target.route = [...b.path];
  return target;
};
