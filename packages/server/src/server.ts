// The composition root: builds the transport layer, the proxy core, the dispatcher, registrar
// and security from the validated config, starts listening (SIP first, then the REST API), and
// stops in order (API, drain, let transactions finish, close).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Endpoint, ListenerInfo, ListenSpec, Proxy, ProxyOptions } from '@sipfront/core';
import { batchUnavailableReason, sendThreadFailure, createProxy, createResolver, createTransportLayer, createNonceService } from '@sipfront/core';
import type { Registrar, RegistrarStores } from '@sipfront/registrar';
import { createRegistrar, openRegistrarStores, toRouteTarget } from '@sipfront/registrar';
import type { Api, EventHub, Readiness, SipfrontMetrics } from '@sipfront/api';
import { createApi, createEventHub, createMetrics } from '@sipfront/api';
import { randomBytes } from 'node:crypto';
import type { Config } from './config/index.js';
import { loadConfig } from './config/index.js';
import { createRouter } from './router.js';
import { setsFromConfig, wireDispatcher, type DispatchWiring } from './dispatch.js';
import type { BanStore, Security } from '@sipfront/security';
import { createMemoryBanStore, createRedisBanStore, createSecurity } from '@sipfront/security';
import type { DispatcherStore, StoredSet } from './dispatcher-store.js';
import { createFileDispatcherStore, createRedisDispatcherStore, mergeYamlSets, toSetConfigs } from './dispatcher-store.js';
import { createApiServices, createDispatcherSync, type DispatcherSync } from './api-wiring.js';
import { countDrop, countingSelector, createSipObserver, observeProbe } from './metrics.js';
import { wireTrunks, type TrunkWiring } from './trunk-wiring.js';
import { wireCalls, type CallWiring } from './call-wiring.js';
import { wireKeepalive } from './keepalive-wiring.js';
import { countRelays, feedEvents, forwardEvents, openOwnSockets, shareWorkerRegistry, syncWorkerTrunks, wireWorkerSecurity, wireWorkerServices, workerSecurityConfig, type WorkerRole } from './workers/index.js';

export interface RunningServer {
  proxy: Proxy;
  trunks: TrunkWiring;
  calls: CallWiring;
  registrar: Registrar;
  stores: RegistrarStores;
  security: Security;
  dispatch: DispatchWiring;
  metrics: SipfrontMetrics;
  /** what `GET /api/v1/events` streams */
  events: EventHub;
  /** undefined in workers other than worker 0 (`workers: N`: worker 0 serves the API) */
  api: Api | undefined;
  /** the bound listeners (ports resolved when the config said 0) */
  listeners(): Array<{ transport: string; host: string; port: number }>;
  /** where the REST API listens (port resolved when the config said 0) */
  apiAddress(): { host: string; port: number };
  /** SIGHUP: the YAML's domains, subscribers and dispatcher sets are upserted again (listen, api and store need a restart) */
  reload(config: Config): Promise<void>;
  close(): Promise<void>;
}

const STOP_GRACE_MS = 5_000;

export async function startServer(config: Config, log: Logger, worker?: WorkerRole): Promise<RunningServer> {
  // workers: N — worker 0 serves the API and runs keep-alives; the others only handle SIP
  const lead = worker === undefined || worker.index === 0;
  // set as they are built; the closures below (metrics, transport) run only once they are
  let proxy: Proxy | undefined = undefined;
  let dispatch: DispatchWiring | undefined = undefined;
  let security: Security | undefined = undefined;
  let stores: RegistrarStores | undefined = undefined;
  // workers: worker 0 serves the feed; the others' call events reach it while someone listens
  const hub = createEventHub();
  const events = worker !== undefined && lead ? feedEvents(hub, worker.rpc) : hub;
  if (worker !== undefined && !lead) forwardEvents(hub, worker.rpc, new Set(['call']));
  // the gauges read the parts built below, at scrape time
  const metrics = createMetrics({
    activeTransactions: () => proxy?.activeTransactions() ?? 0,
    contacts: () => stores?.contacts.count() ?? Promise.resolve(0),
    activeBans: () => security?.activeBans() ?? 0,
    destinations: () => {
      const out: Array<{ setId: number; uri: string; up: boolean }> = [];
      for (const s of dispatch?.dispatcher.getSets() ?? []) for (const d of s.destinations) out.push({ setId: s.id, uri: d.uri, up: d.state === 'active' });
      return out;
    },
  }, worker !== undefined && lead ? { scrape: () => worker.clusterMetrics() } : {});
  if (worker !== undefined) {
    countRelays(metrics.registry, worker.index, worker.relay);
    shareWorkerRegistry(metrics.registry);
  }
  const transport = createTransportLayer({
    onMessage: (m) => proxy?.handleInbound(m),
    onDrop: (reason, source) => {
      countDrop(metrics, reason);
      log.debug({ reason, source }, 'transport drop');
    },
    onError: (err) => log.warn({ err: err.message }, 'transport error'),
    maxMessageSize: config.sip.maxMessage,
    udpBatch: { readWindowMs: config.sip.udpReadWindow },
    ...(config.sip.maxConnectionsPerIp > 0 ? { maxConnectionsPerIp: config.sip.maxConnectionsPerIp } : { maxConnectionsPerIp: Number.MAX_SAFE_INTEGER }),
    ...(worker !== undefined ? { affinity: worker.relay } : {}),
  });
  worker?.relay.attach(transport);
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
  const udpBound = bound.filter((l) => l.transport === 'udp');
  if (udpBound.length > 0) {
    const batched = udpBound.every((l) => transport.udpBatched(l.id));
    if (batched) {
      log.debug('UDP read and sent in batches (recvmmsg/sendmmsg)');
      // a reason only when the thread was asked for (SIPFRONT_UDP_SEND_THREAD not 0) and did not start
      if (sendThreadFailure() !== '') {
        log.info({ reason: sendThreadFailure() }, 'UDP sender thread off: sendmmsg runs on the main thread');
      }
    }
    else log.info({ reason: batchUnavailableReason() }, 'UDP batching off: each datagram goes through node:dgram (more CPU per call)');
  }
  // workers: a UDP socket of each worker's own per listen address, for requests to the backends
  let ownSockets = new Map<string, ListenerInfo>();
  if (worker !== undefined && config.mode === 'stateful' && config.advertise === null) {
    try {
      ownSockets = await openOwnSockets(transport, bound, specs);
    } catch (err) {
      await transport.close().catch(() => undefined);
      throw err;
    }
  }
  // workers share one instance id: a phone registered through any of them is "ours"
  const instanceId = worker?.instanceId ?? randomBytes(6).toString('hex');
  // ...but each reloads the dispatcher sets another one saved
  const storeInstanceId = worker !== undefined ? `${instanceId}.w${worker.index}` : instanceId;

  // dispatcher sets: the stored list (API-made sets, operator states) with the YAML's upserted
  const dstore: DispatcherStore =
    config.store.kind === 'redis'
      ? createRedisDispatcherStore({ url: config.store.url, prefix: config.store.prefix, instanceId: storeInstanceId, log: log.child({ component: 'dispatcher-store' }) })
      : createFileDispatcherStore(config.store.path, storeInstanceId);
  let initialSets: { sets: StoredSet[]; synced: boolean };
  try {
    initialSets = await loadDispatcherSets(config, dstore, log);
  } catch (err) {
    await dstore.close().catch(() => undefined);
    await transport.close().catch(() => undefined);
    throw err;
  }
  // probes start at once, before the proxy exists: the first ones wait for it (bounded by the probe timeout)
  let proxyUp: (p: Proxy) => void = () => undefined;
  const proxyBuilt = new Promise<Proxy>((resolve) => (proxyUp = resolve));
  const prober: Pick<Proxy, 'originate'> = { originate: async (req, destination, timeoutMs) => (proxy ?? (await proxyBuilt)).originate(req, destination, timeoutMs) };
  dispatch = wireDispatcher(
    config,
    () => prober,
    log,
    {
      onStateChange: (c) => events.publish('destination', { setId: c.setId, uri: c.uri, from: c.from, to: c.to, cause: c.cause }),
      onProbe: (e) => observeProbe(metrics, e),
    },
    toSetConfigs(initialSets.sets),
  );
  const sync: DispatcherSync = createDispatcherSync(dispatch, dstore, log.child({ component: 'dispatcher-store' }));
  const secLog = log.child({ component: 'security' });
  const bans: BanStore =
    config.store.kind === 'redis'
      ? createRedisBanStore({ log: secLog }, { url: config.store.url, prefix: config.store.prefix })
      : createMemoryBanStore({ log: secLog }, { dir: config.store.path });
  security = createSecurity(
    {
      bans,
      log: secLog,
      onBan: (ban, origin) => {
        secLog.warn({ ip: ban.ip, reason: ban.reason, until: new Date(ban.expiresAt).toISOString(), origin }, 'banned');
        events.publish('ban', { ip: ban.ip, reason: ban.reason, createdAt: new Date(ban.createdAt).toISOString(), expiresAt: new Date(ban.expiresAt).toISOString(), origin });
      },
      onUnban: (ban, cause) => events.publish('unban', { ip: ban.ip, reason: ban.reason, cause }),
    },
    workerSecurityConfig(config.security, worker),
  );
  const dispatchRef = dispatch;
  const securityRef = security;
  const authFailure =
    worker !== undefined ? wireWorkerSecurity(worker, securityRef, metrics, config.security.enabled) : (source: Endpoint, aor: string | undefined) => void securityRef.authFailure(source, aor);
  security.addTrusted((s) => dispatchRef.selector.isDestination(s));
  await security.ready;
  const regLog = log.child({ component: 'registrar' });
  stores = await openRegistrarStores(
    { log: regLog, instanceId, ...(config.registrar.auth.realm !== null ? { realm: config.registrar.auth.realm } : {}) },
    config.store.kind === 'redis'
      ? { kind: 'redis', url: config.store.url, prefix: config.store.prefix, readyTimeoutMs: 3000 }
      : { kind: 'memory', path: config.store.path },
  );
  const storesRef = stores;
  await seedStores(config, stores, regLog);
  const unwatchContacts = stores.contacts.onChange((c) => events.publish('registration', { aor: c.aor, reason: c.reason, instanceId: c.instanceId }));
  const registrar: Registrar = createRegistrar(
    {
      ...stores,
      nonces: createNonceService({
        ...(config.registrar.auth.nonceSecret !== null ? { secret: config.registrar.auth.nonceSecret } : {}),
        lifetimeMs: 300_000,
        // workers: a nonce is valid only in the worker that issued it (its nonce-counts live there)
        ...(worker !== undefined ? { issuer: `w${worker.index}` } : {}),
      }),
      log: regLog,
      instanceId,
      onAuthFailure: (source, aor) => {
        metrics.authFailure();
        regLog.info({ source, aor }, 'authentication failed');
        if (config.security.enabled) authFailure(source, aor);
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
  // NAT keep-alive of the bindings this instance holds; the first pings wait for the proxy
  const keepalive = lead
    ? wireKeepalive({ config, contacts: storesRef.contacts, instanceId, proxy: async () => proxy ?? (await proxyBuilt), log: regLog })
    : { close: () => undefined };
  const resolver = createResolver({ servers: config.sip.dnsServers });
  // workers: worker 0 registers the trunks and hands the others its trunks and their state
  let trunkSync: { push(): void; close(): void } | undefined;
  const pushTrunks = (): void => trunkSync?.push();
  const trunks: TrunkWiring = wireTrunks({
    config,
    proxy: async () => proxy ?? (await proxyBuilt),
    // the listen sockets (not a worker's own send sockets): the Contact names one of them
    listeners: () => bound,
    resolver,
    log: log.child({ component: 'trunks' }),
    ...(worker !== undefined && !lead ? { follower: true } : {}),
    onState: (t, registered) => {
      metrics.trunkRegistered(t.id, registered);
      events.publish('trunk', t);
      pushTrunks();
    },
    onResponse: (trunk, code) => {
      if (code !== null) metrics.trunkResponse(trunk, code);
    },
  });
  // a registered provider sends many calls: never flood-banned
  securityRef.addTrusted((s) => trunks.isTrunkSource(s));
  if (worker !== undefined) trunkSync = syncWorkerTrunks(worker, trunks.manager);
  const calls: CallWiring = wireCalls(config, events, worker?.count ?? 1);
  const router = createRouter({
    config,
    sets: countingSelector(dispatch.selector, metrics, config.dispatcher.failover.codes),
    trunks: trunks.port,
    onProxyAuth: (result) => metrics.proxyAuth(result),
    registrar: {
      handleRegister: (req, ctx) => registrar.handleRegister(req, ctx),
      lookup: (aor) => registrar.lookup(aor),
      verifyProxyAuth: (req, source) => registrar.verifyProxyAuth(req, source),
      isServed: (d) => storesRef.domains.has(d),
      hasSubscriber: async (user, domain) => (await storesRef.subscribers.get(user, domain)) !== undefined,
      toTarget: (b) => {
        const binding = b as Parameters<typeof toRouteTarget>[0];
        // registered through another instance: only its socket reaches the phone (NAT, TCP), so the
        // request goes through it with a signed Route telling it where the phone is
        const l = binding.listener;
        const relay = binding.instanceId !== instanceId && l !== undefined ? proxy?.relayParams(binding.source) : undefined;
        if (relay !== undefined && l !== undefined) {
          const owner = `sip:${l.host.includes(':') ? `[${l.host}]` : l.host}:${l.port}${l.transport === 'udp' ? '' : `;transport=${l.transport}`}`;
          return { destination: owner, requestUri: binding.uri, route: [`<${owner};lr${relay}>`] };
        }
        return toRouteTarget(binding);
      },
    },
  });
  // security.enabled: false leaves requests unscreened (no ban, flood or scanner checks), e.g. to measure their cost
  const screening: Pick<ProxyOptions, 'screenSource' | 'screenRequest'> = config.security.enabled
    ? { screenSource: (source) => securityRef.checkSource(source), screenRequest: (req, source) => securityRef.check(req, source) }
    : {};
  const sipLog = log.child({ component: 'sip' });
  const p = createProxy({
    mode: config.mode,
    transport,
    router,
    resolver,
    log: sipLog,
    ...(config.advertise !== null ? { advertise: config.advertise.host } : {}),
    timers: { t1: config.sip.t1, t2: config.sip.t2, t4: config.sip.t4, timerC: config.sip.timerC },
    udpMtu: config.sip.udpMtu,
    maxHeaders: config.sip.maxHeaders,
    maxLoad: config.sip.maxLoad,
    failover: { codes: config.dispatcher.failover.codes, maxTries: config.dispatcher.failover.maxTries, firstAnswerMs: config.dispatcher.failover.firstAnswer },
    dialogSecret: loadDialogSecret(config, log),
    ...screening,
    // towards the dispatcher's backends only: a phone behind NAT or a provider must see requests
    // come from the listen port it knows
    ...(worker !== undefined ? { worker: worker.index, sendSocket: (out: ListenerInfo, to: Endpoint) => (dispatchRef.selector.isDestination(to) ? ownSockets.get(out.id) : undefined) } : {}),
    // workers: what the others hand this one waits in its relay socket
    ...(worker !== undefined ? { backlogSockets: () => [worker.relay.socket], takeBacklogDelay: (minSpanMs: number) => worker.relay.takeQueueDelay(minSpanMs) } : {}),
    observer: calls.observe(createSipObserver({ metrics, onRequest: (m) => dispatchRef.onRequest(m), log: sipLog, redact })),
  });
  proxy = p;
  proxyUp(p);
  p.updateListeners();
  // workers: worker 0 registers; the others' managers are followers (start does nothing there)
  trunks.start();
  log.info({ listeners: bound.map((l) => `${l.transport}:${l.host}:${l.port}`), mode: config.mode }, 'listening');

  // another instance changed the sets (Redis), or the store is back after an outage
  const storeLog = log.child({ component: 'dispatcher-store' });
  let yamlSynced = initialSets.synced;
  dstore.onChange((cause) => {
    void (async () => {
      try {
        const stored = await dstore.load();
        if (!yamlSynced) {
          // the store was down at start: the YAML's sets go in now
          const merged = mergeYamlSets(stored ?? sync.snapshot(), setsFromConfig(config));
          sync.apply(merged);
          await dstore.save(merged);
          yamlSynced = true;
        } else if (stored !== undefined) sync.apply(stored);
        events.publish('dispatcher', { cause });
        storeLog.info({ cause }, 'dispatcher sets reloaded from the store');
      } catch (err) {
        storeLog.warn({ err: err instanceof Error ? err.message : String(err), cause }, 'dispatcher sets not reloaded');
      }
    })();
  });

  let state: 'starting' | 'running' | 'stopping' = 'starting';
  const readiness = (): Readiness => {
    if (state === 'stopping') return { ready: false, reason: 'stopping' };
    if (p.draining) return { ready: false, reason: 'draining' };
    if (state === 'starting') return { ready: false, reason: 'starting' };
    if (!storesRef.isUp() || !dstore.isUp()) return { ready: false, reason: 'store-down' };
    return { ready: true };
  };
  const services = createApiServices({
    dispatch,
    sync,
    stores,
    security,
    proxy: p,
    events,
    metrics,
    readiness,
    yamlSets: () => setsFromConfig(rereadConfig(config, log)),
  });
  services.trunks = trunks.service;
  services.calls = calls.service;
  if (worker !== undefined) wireWorkerServices(worker, services, { calls: calls.service, maxCalls: config.trace.calls, pushTrunks, setDraining: (on) => p.setDraining(on) });

  let closed = false;
  const closeSip = async (): Promise<void> => {
    trunkSync?.close();
    // stop taking new calls, let pending ones finish (bounded), cancel the rest, close sockets
    // trunks unregister first: Expires: 0 needs the proxy and sockets
    await trunks.close().catch((err: unknown) => log.warn({ err: err instanceof Error ? err.message : String(err) }, 'trunks: unregistering failed'));
    keepalive.close();
    await p.shutdown(STOP_GRACE_MS);
    dispatchRef.close();
    p.close();
    await transport.close();
    securityRef.close();
    unwatchContacts();
    await bans.close();
    await storesRef.close();
    await dstore.close();
    await worker?.relay.close();
  };

  // the API comes up last, once SIP listens and the stores are open
  let api: Api | undefined;
  let apiAddress: { host: string; port: number } = { host: config.api.host, port: 0 };
  if (lead) {
    try {
      api = createApi(services, { host: config.api.host, port: config.api.port, token: config.api.token, metricsAllow: config.api.metricsAllow, log: log.child({ component: 'api' }) });
      apiAddress = await api.listen();
    } catch (err) {
      closed = true;
      await closeSip().catch(() => undefined);
      throw err;
    }
    log.info({ api: `http://${apiAddress.host.includes(':') ? `[${apiAddress.host}]` : apiAddress.host}:${apiAddress.port}`, token: config.api.token !== null }, 'api listening');
  }
  state = 'running';

  return {
    proxy: p,
    trunks,
    calls,
    registrar,
    stores,
    security,
    dispatch,
    metrics,
    events,
    api,
    // the listen sockets (a worker's own send sockets are not listen sockets)
    listeners: () => bound.map((l) => ({ transport: l.transport, host: l.host, port: l.port })),
    apiAddress: () => apiAddress,
    async reload(next: Config) {
      await seedStores(next, storesRef, regLog);
      await sync.reload(setsFromConfig(next));
      trunks.reload(next);
      pushTrunks();
    },
    async close() {
      if (closed) return;
      closed = true;
      state = 'stopping';
      await api?.close().catch((err: unknown) => log.warn({ err: err instanceof Error ? err.message : String(err) }, 'api close failed'));
      await closeSip();
      log.info({}, 'stopped');
    },
  };
}

/**
 * The stored dispatcher sets with the YAML's upserted, written back; the YAML alone when the
 * store cannot be read (`synced: false`: they are merged once it is back). A damaged store
 * stops the start, as the registrar's does.
 */
const loadDispatcherSets = async (config: Config, store: DispatcherStore, log: Logger): Promise<{ sets: StoredSet[]; synced: boolean }> => {
  const yaml = setsFromConfig(config);
  await store.waitReady?.(3000);
  let stored: StoredSet[] | undefined;
  try {
    stored = await store.load();
  } catch (err) {
    if ((err as { code?: string }).code === 'STORE_CORRUPT') throw err;
    log.warn({ err: err instanceof Error ? err.message : String(err) }, 'dispatcher sets: the store is unavailable; starting with the YAML only');
    return { sets: mergeYamlSets(undefined, yaml), synced: false };
  }
  const sets = mergeYamlSets(stored, yaml);
  try {
    await store.save(sets);
  } catch (err) {
    log.warn({ err: err instanceof Error ? err.message : String(err) }, 'dispatcher sets: cannot write the store');
  }
  return { sets, synced: true };
};

/** The config file as it is now (POST /dispatcher/reload); the running config when it cannot be read. */
const rereadConfig = (config: Config, log: Logger): Config => {
  if (!existsSync(config.source)) return config;
  try {
    return loadConfig(config.source, process.env).config;
  } catch (err) {
    const problems = (err as { problems?: readonly string[] }).problems;
    log.error({ problems, err: err instanceof Error ? err.message : String(err) }, 'reload: the config file has problems');
    throw Object.assign(new Error(`${config.source}: ${problems?.join('; ') ?? 'cannot be read'}`), { code: 'CONFIG_INVALID', httpStatus: 422 });
  }
};

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
