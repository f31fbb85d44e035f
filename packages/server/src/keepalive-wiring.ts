// Connects the registrar's NAT keep-alive to SIP: each ping is an OPTIONS the proxy originates
// to where the REGISTER came from (over UDP the NAT binding, over TCP/TLS the phone's own
// connection, which the transport finds by remote endpoint), with the Contact as Request-URI.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Proxy } from '@sipfront/core';
import { SipMessage } from '@sipfront/core';
import type { Binding, ContactStore } from '@sipfront/registrar';
import { createKeepalive, toRouteTarget } from '@sipfront/registrar';
import type { Config } from './config/index.js';

export interface KeepaliveWiring {
  /** bindings pinged now (0 when the keep-alive is off) */
  watched(): number;
  close(): void;
}

/** A ping may take half the interval, at most 5 s (enough for the first UDP retransmissions). */
export const keepaliveTimeout = (interval: number): number => Math.max(1, Math.min(5_000, Math.floor(interval / 2)));

export const wireKeepalive = (deps: {
  config: Config;
  contacts: ContactStore;
  instanceId: string;
  proxy: () => Promise<Pick<Proxy, 'originate'>>;
  log: Logger;
}): KeepaliveWiring => {
  const { config } = deps;
  const interval = config.registrar.keepalive.interval;
  if (interval <= 0) return { watched: () => 0, close: () => undefined };
  const fromUri = `sip:sipfront@${config.advertise?.host ?? 'sipfront.invalid'}`;
  const options = (b: Binding): SipMessage => {
    const m = SipMessage.request('OPTIONS', b.uri);
    const id = randomBytes(8).toString('hex');
    m.append('From', `<${fromUri}>;tag=${id.slice(0, 8)}`);
    m.append('To', `<${b.uri}>`);
    m.append('Call-ID', `keepalive-${id}`);
    m.append('CSeq', '1 OPTIONS');
    m.append('User-Agent', 'sipfront');
    m.append('Content-Length', '0');
    return m;
  };
  const keepalive = createKeepalive(
    {
      contacts: deps.contacts,
      instanceId: deps.instanceId,
      log: deps.log,
      ping: async (b, timeoutMs) => {
        const r = await (await deps.proxy()).originate(options(b), toRouteTarget(b).destination, timeoutMs);
        return { code: r.code, error: r.error };
      },
    },
    { interval, timeout: keepaliveTimeout(interval), maxFailures: 2 },
  );
  void keepalive.start();
  deps.log.info({ interval }, 'registrar: NAT keep-alive on');
  return { watched: () => keepalive.watched(), close: () => keepalive.close() };
};
