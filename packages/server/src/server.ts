// The composition root: builds the transport layer, the proxy core and the router from the
// validated config, starts listening, and stops in order (drain, let transactions finish, close).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Endpoint, ListenSpec, Proxy, SipMessage } from '@sipfront/core';
import { createProxy, createResolver, createTransportLayer, createNonceService } from '@sipfront/core';
import type { Registrar, RegistrarStores } from '@sipfront/registrar';
import { createRegistrar, openRegistrarStores, toRouteTarget } from '@sipfront/registrar';
import { randomBytes } from 'node:crypto';
import type { Config } from './config/index.js';
import { createRouter } from './router.js';
import { wireDispatcher, type DispatchWiring } from './dispatch.js';
import type { BanStore, Security } from '@sipfront/security';
import { createMemoryBanStore, createRedisBanStore, createSecurity } from '@sipfront/security';

export interface RunningServer {
  proxy: Proxy;
  registrar: Registrar;
  stores: RegistrarStores;
  security: Security;
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
  const secLog = log.child({ component: 'security' });
  const bans: BanStore =
    config.store.kind === 'redis'
      ? createRedisBanStore({ log: secLog }, { url: config.store.url, prefix: config.store.prefix })
      : createMemoryBanStore({ log: secLog }, { dir: config.store.path });
  const security: Security = createSecurity(
    {
      bans,
      log: secLog,
      onBan: (ban, origin) => secLog.warn({ ip: ban.ip, reason: ban.reason, until: new Date(ban.expiresAt).toISOString(), origin }, 'banned'),
    },
    config.security,
  );
  security.addTrusted((s) => dispatch.selector.isDestination(s));
  await security.ready;
  const regLog = log.child({ component: 'registrar' });
  const instanceId = randomBytes(6).toString('hex');
  const stores: RegistrarStores = await openRegistrarStores(
    { log: regLog, instanceId, ...(config.registrar.auth.realm !== null ? { realm: config.registrar.auth.realm } : {}) },
    config.store.kind === 'redis'
      ? { kind: 'redis', url: config.store.url, prefix: config.store.prefix, readyTimeoutMs: 3000 }
      : { kind: 'memory', path: config.store.path },
  );
  await seedStores(config, stores, regLog);
  const registrar: Registrar = createRegistrar(
    {
      ...stores,
      nonces: createNonceService({
        ...(config.registrar.auth.nonceSecret !== null ? { secret: config.registrar.auth.nonceSecret } : {}),
        lifetimeMs: 300_000,
      }),
      log: regLog,
      instanceId,
      onAuthFailure: (source, aor) => {
        regLog.info({ source, aor }, 'authentication failed');
        security.authFailure(source, aor);
      },
      localDomainFor: (host) => (proxy?.local.isLocal(host, undefined) === true || proxy?.local.listeners.some((l) => l.host === host) === true ? config.domains[0] : undefined),
    },
    {
      expires: config.registrar.expires,
      maxContacts: config.registrar.maxContacts,
      maxContactsPolicy: config.registrar.maxContactsPolicy,
      auth: {
        required: config.registrar.auth.required,
        algorithms: config.registrar.auth.algorithms,
        ...(config.registrar.auth.realm !== null ? { realm: config.registrar.auth.realm } : {}),
      },
    },
  );
  const router = createRouter({
    config,
    sets: dispatch.selector,
    isTrusted: (s) => security.isTrusted(s),
    registrar: {
      handleRegister: (req, ctx) => registrar.handleRegister(req, ctx),
      lookup: (aor) => registrar.lookup(aor),
      verifyProxyAuth: (req, source) => registrar.verifyProxyAuth(req, source),
      isServed: (d) => stores.domains.has(d),
      hasSubscriber: async (user, domain) => (await stores.subscribers.get(user, domain)) !== undefined,
      toTarget: (b) => toRouteTarget(b as Parameters<typeof toRouteTarget>[0]),
    },
  });
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
    dialogSecret: loadDialogSecret(config, log),
    screenSource: (source) => security.checkSource(source),
    screenRequest: (req, source) => security.check(req, source),
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
    registrar,
    stores,
    security,
    dispatch,
    listeners: () => transport.listeners().map((l) => ({ transport: l.transport, host: l.host, port: l.port })),
    async close() {
      if (closed) return;
      closed = true;
      const p = proxy!;
      // stop taking new calls, let pending ones finish (bounded), cancel the rest, close sockets
      await p.shutdown(STOP_GRACE_MS);
      dispatch.close();
      p.close();
      await transport.close();
      security.close();
      await bans.close();
      await stores.close();
      log.info({}, 'stopped');
    },
  };
}

/** Authorization values never reach the logs. */
const redact = (data: Buffer): string =>
  data.toString('latin1').replace(/^((?:Proxy-)?Authorization[ \t]*:).*$/gim, '$1 <redacted>');


/** The YAML's domains and subscribers go into the store at start (the YAML wins for what it names). */
const seedStores = async (config: Config, stores: RegistrarStores, log: Logger): Promise<void> => {
  try {
    for (const d of config.domains) await stores.domains.add(d);
    for (const s of config.registrar.subscribers) {
      await stores.subscribers.put({
        user: s.user,
        domain: s.domain,
        ...(s.password !== null ? { password: s.password } : {}),
        ...(s.ha1 !== null ? { ha1: s.ha1 } : {}),
        ...(s.ha1Sha256 !== null ? { ha1Sha256: s.ha1Sha256 } : {}),
      });
    }
  } catch (err) {
    log.error({ err: err instanceof Error ? err.message : String(err) }, 'seeding the store failed; the YAML entries will be written when it is back');
  }
};

/**
 * The key of the `;sf=` dialog tokens. It must outlive restarts (a BYE for a call set up before
 * a restart must still pass) and be shared by instances: derived from `registrar.auth.nonce_secret`
 * when set, else kept in the memory store's folder; with Redis and no nonce_secret it is per process.
 */
const loadDialogSecret = (config: Config, log: Logger): Buffer => {
  if (config.registrar.auth.nonceSecret !== null) return createHash('sha256').update('sipfront-dialog\u0000').update(config.registrar.auth.nonceSecret).digest();
  if (config.store.kind === 'memory') {
    const file = join(config.store.path, 'dialog-secret');
    try {
      const hex = readFileSync(file, 'utf8').trim();
      if (/^[0-9a-f]{64}$/.test(hex)) return Buffer.from(hex, 'hex');
    } catch {
      // first start: made below
    }
    const secret = randomBytes(32);
    try {
      mkdirSync(config.store.path, { recursive: true });
      writeFileSync(file, secret.toString('hex'), { mode: 0o600 });
    } catch (err) {
      log.warn({ err: err instanceof Error ? err.message : String(err), file }, 'cannot keep the dialog secret: dialogs will not survive a restart');
    }
    return secret;
  }
  log.warn({}, 'registrar.auth.nonce_secret is not set: in-dialog requests will not pass after a restart or through another instance');
  return randomBytes(32);
};
