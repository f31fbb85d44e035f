// The composition root: builds the transport layer, the proxy core and the router from the
// validated config, starts listening, and stops in order (drain, let transactions finish, close).
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Endpoint, ListenSpec, Proxy, SipMessage } from '@sipfront/core';
import { createProxy, createResolver, createTransportLayer } from '@sipfront/core';
import type { Config } from './config/index.js';
import { createRouter } from './router.js';
import { wireDispatcher, type DispatchWiring } from './dispatch.js';

export interface RunningServer {
  proxy: Proxy;
  dispatch: DispatchWiring;
  /** the bound listeners (ports resolved when the config said 0) */
  listeners(): Array<{ transport: string; host: string; port: number }>;
  close(): Promise<void>;
}

const STOP_GRACE_MS = 5_000;

export async function startServer(config: Config, log: Logger): Promise<RunningServer> {
  let proxy: Proxy | undefined;
  const transport = createTransportLayer({
    onMessage: (m) => proxy?.handleInbound(m),
    onDrop: (reason, source) => log.debug({ reason, source }, 'transport drop'),
    onError: (err) => log.warn({ err: err.message }, 'transport error'),
    maxMessageSize: config.sip.maxMessage,
    ...(config.sip.maxConnectionsPerIp > 0 ? { maxConnectionsPerIp: config.sip.maxConnectionsPerIp } : { maxConnectionsPerIp: Number.MAX_SAFE_INTEGER }),
  });
  const specs: ListenSpec[] = config.listen.map((l) => ({
    transport: l.transport,
    host: l.host,
    port: l.port,
    ...(l.cert !== null ? { cert: readFileSync(l.cert, 'utf8') } : {}),
    ...(l.key !== null ? { key: readFileSync(l.key, 'utf8') } : {}),
    allow: l.allow,
    deny: l.deny,
  }));
  const bound = await transport.listen(specs);

  const dispatch: DispatchWiring = wireDispatcher(config, () => proxy!, log);
  const router = createRouter({ config, sets: dispatch.selector });
  const sipLog = log.child({ component: 'sip' });
  const traceMessages = sipLog.isLevelEnabled('debug');
  proxy = createProxy({
    mode: config.mode,
    transport,
    router,
    resolver: createResolver({ servers: config.sip.dnsServers }),
    log: sipLog,
    ...(config.advertise !== null ? { advertise: config.advertise.host } : {}),
    timers: { t1: config.sip.t1, t2: config.sip.t2, t4: config.sip.t4, timerC: config.sip.timerC },
    udpMtu: config.sip.udpMtu,
    maxHeaders: config.sip.maxHeaders,
    failover: { codes: config.dispatcher.failover.codes, maxTries: config.dispatcher.failover.maxTries },
    observer: traceMessages
      ? {
          requestIn: (m: SipMessage) => dispatch.onRequest(m),
          received: (_m: SipMessage, source: Endpoint, data: Buffer) => sipLog.debug({ source, message: redact(data) }, 'SIP in'),
          sent: (_m: SipMessage, target: Endpoint, data: Buffer) => sipLog.debug({ target, message: redact(data) }, 'SIP out'),
          parseError: (source: Endpoint, err: Error) => sipLog.debug({ source, err: err.message }, 'malformed SIP'),
        }
      : { requestIn: (m: SipMessage) => dispatch.onRequest(m) },
  });
  proxy.updateListeners();
  log.info({ listeners: bound.map((l) => `${l.transport}:${l.host}:${l.port}`), mode: config.mode }, 'listening');

  let closed = false;
  return {
    proxy,
    dispatch,
    listeners: () => transport.listeners().map((l) => ({ transport: l.transport, host: l.host, port: l.port })),
    async close() {
      if (closed) return;
      closed = true;
      const p = proxy!;
      p.setDraining(true);
      // let transactions finish (bounded), then close sockets
      const until = Date.now() + STOP_GRACE_MS;
      while (p.activeTransactions() > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      dispatch.close();
      p.close();
      await transport.close();
      log.info({}, 'stopped');
    },
  };
}

/** Authorization values never reach the logs. */
const redact = (data: Buffer): string =>
  data.toString('latin1').replace(/^((?:Proxy-)?Authorization[ \t]*:).*$/gim, '$1 <redacted>');

