import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { EMBEDDED_CONFIG_PATH, loadConfig, parseConfigText, resolveConfigPath, type ParseOptions } from './load.js';

const lines = (...l: string[]) => l.join('\n');
const cwd = '/srv/sipfront';
const parse = (text: string, options: ParseOptions = {}) => parseConfigText(text, { cwd, ...options });

function problemsOf(text: string, options: ParseOptions = {}): readonly string[] {
  try {
    parse(text, options);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

const tmp = mkdtempSync(join(tmpdir(), 'sipfront-config-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('defaults', () => {
  it('gives every key its contract default for an empty file', () => {
    const { config, warnings } = parse('', { sourceName: 'empty.yaml' });
    expect(warnings).toEqual([]);
    expect(config.source).toBe('empty.yaml');
    expect(config.listen).toEqual([
      { transport: 'udp', host: '0.0.0.0', port: 5060, cert: null, key: null, allow: [], deny: [] },
      { transport: 'tcp', host: '0.0.0.0', port: 5060, cert: null, key: null, allow: [], deny: [] },
    ]);
    expect(config.advertise).toBeNull();
    expect(config.mode).toBe('stateful');
    expect(config.domains).toEqual([]);
    expect(config.store).toEqual({ kind: 'memory', path: '/srv/sipfront/data' });
    expect(config.api).toEqual({ host: '127.0.0.1', port: 8080, token: null, metricsAllow: [] });
    expect(config.dispatcher).toEqual({
      probe: { interval: 5000, timeout: 2000, downAfter: 3, upAfter: 1, accept: [200] },
      failover: { codes: [500, 502, 503, 504, 408], firstAnswer: 2000, maxTries: 3 },
      sets: [],
    });
    expect(config.registrar).toEqual({
      expires: { min: 60, max: 3600, default: 3600, belowMin: 'reject' },
      maxContacts: 0,
      maxContactsPolicy: 'refuse',
      localCalls: 'via-backends',
      keepalive: { interval: 0 },
      auth: { required: true, algorithms: ['MD5'], realm: null, nonceSecret: null },
      subscribers: [],
    });
    expect(config.security).toEqual({
      enabled: true,
      trusted: [],
      flood: { window: 2000, max: 50, ban: 300_000 },
      authFailures: { max: 5, window: 60_000, ban: 3_600_000 },
      blockUserAgents: ['friendly-scanner', 'sipvicious', 'sipcli'],
      banReply: 'drop',
    });
    expect(config.trunks).toEqual([]);
    expect(config.routes).toEqual([]);
    expect(config.trace).toEqual({ calls: 2000, maxBytes: 64 * 1024 * 1024, capture: 'all' });
    expect(config.sip).toEqual({
      t1: 500, t2: 4000, t4: 5000, timerC: 180_000, udpMtu: 0, maxMessage: 65_536,
      maxHeaders: 256, maxConnectionsPerIp: 64, dnsServers: [], maxLoad: 0.99, udpReadWindow: 1,
    });
    expect(config.workers).toBe(1);
    expect(config.log).toEqual({ level: 'info' });
  });

  it('treats an empty value as absent', () => {
    const { config } = parse(lines('api:', '  token:', 'registrar:', 'security:'));
    expect(config.api.token).toBeNull();
    expect(config.registrar.auth.required).toBe(true);
  });

  it('fills the defaults inside sets, trunks and routes', () => {
    const { config } = parse(lines(
      'dispatcher:',
      '  sets:',
      '    - id: 1',
      '      destinations: [{ uri: "sip:10.0.0.11" }]',
      'trunks:',
      '  - { id: p1, registrar: "sip:sip.provider.example:5070", user: "200200", password: s }',
      'routes:',
      '  - { match: { ruri_user: "^00" }, to: { trunk: p1 } }',
      '  - { to: { set: 1 }, from: [any] }',
      'listen:',
      '  - { transport: udp }',
      '  - { transport: tcp, port: 5080, allow: [10.0.0.1], deny: ["::/0"] }',
    ));
    expect(config.dispatcher.sets).toEqual([
      { id: 1, name: '1', algorithm: 'round-robin', destinations: [{ uri: 'sip:10.0.0.11', weight: 1, priority: 0 }] },
    ]);
    expect(config.trunks[0]).toEqual({
      id: 'p1', registrar: 'sip:sip.provider.example:5070', user: '200200', password: 's', ha1: null,
      authUser: '200200', realm: null, contactUser: '200200', domain: 'sip.provider.example', fromUser: '200200',
      outboundProxy: null, inboundFrom: [], expires: 3600, routeTo: 1,
      retry: { interval: 20_000, forbiddenInterval: 300_000, maxAttempts: 0, initialDelayMax: 2000 },
    });
    expect(config.routes).toEqual([
      {
        match: { ruriUser: '^00', ruriDomain: null, fromUser: null, fromDomain: null, method: null },
        to: { kind: 'trunk', trunk: 'p1' },
        from: ['dispatcher', 'trusted', 'authenticated'],
      },
      expect.objectContaining({ to: { kind: 'set', set: 1 }, from: ['any'] }),
    ]);
    expect(config.listen[0]).toMatchObject({ transport: 'udp', host: '0.0.0.0', port: 5060 });
    expect(config.listen[1]).toMatchObject({ port: 5080, allow: ['10.0.0.1/32'], deny: ['::/0'] });
  });

  it('is deeply frozen', () => {
    const { config } = parse('dispatcher: { sets: [{ id: 1, destinations: [{ uri: "sip:10.0.0.1" }] }] }');
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.dispatcher.sets[0]?.destinations[0])).toBe(true);
    expect(Object.isFrozen(config.listen)).toBe(true);
    expect(() => {
      (config.sip as { t1: number }).t1 = 1;
    }).toThrow(TypeError);
  });
});

describe('units', () => {
  it('turns durations into ms, sizes into bytes, Expires into seconds', () => {
    const { config } = parse(lines(
      'sip: { t1: 250ms, t2: 2, t4: 0.5m, timer_c: 1h, udp_mtu: 1300, max_message: 1MB }',
      'trace: { max_bytes: 1GB }',
      'dispatcher: { probe: { interval: 1.5s, timeout: "300ms" } }',
      'registrar: { expires: { min: 30, max: 2h, default: 7200 }, keepalive: { interval: 30s } }',
      'security: { flood: { window: 500ms, ban: 5m }, ban_reply: 403 }',
    ));
    expect(config.sip).toMatchObject({ t1: 250, t2: 2000, t4: 30_000, timerC: 3_600_000, udpMtu: 1300, maxMessage: 1_048_576 });
    expect(config.trace.maxBytes).toBe(1024 ** 3);
    expect(config.dispatcher.probe).toMatchObject({ interval: 1500, timeout: 300 });
    expect(config.registrar.expires).toMatchObject({ min: 30, max: 7200, default: 7200 });
    expect(config.registrar.keepalive.interval).toBe(30_000);
    expect(config.security.flood).toMatchObject({ window: 500, ban: 300_000 });
    expect(config.security.banReply).toBe(403);
  });

  it('caps registrar.expires.default at max', () => {
    expect(parse('registrar: { expires: { max: 600 } }').config.registrar.expires.default).toBe(600);
  });
});

describe('problems', () => {
  it('names the YAML path and line of each problem, all at once', () => {
    const problems = problemsOf(lines(
      'dispatcher:',
      '  sets:',
      '    - id: 1',
      '      destinations:',
      '        - { uri: "sip:10.0.0.11:5060" }',
      '    - id: 2',
      '      algorithm: fastest',
      '      destinations:',
      '        - { uri: "10.0.0.12:5060" }',
      'sip: { t1: soon }',
      'api: { port: 99999 }',
    ));
    expect(problems).toEqual([
      'dispatcher.sets[1].algorithm: must be one of: round-robin, weighted, hash-callid, hash-from, hash-to, priority, least-calls, random (line 7)',
      expect.stringMatching(/^dispatcher\.sets\[1\]\.destinations\[0\]\.uri: not a SIP URI .*\(line 9\)$/),
      expect.stringMatching(/^sip\.t1: not a duration.*\(line 10\)$/),
      'api.port: not a port (0-65535) (line 11)',
    ]);
  });

  it('takes sip.max_load as a share below 1 (0 turns load shedding off)', () => {
    expect(problemsOf('sip: { max_load: 1 }')).toEqual(['sip.max_load: expected a share of the time, 0 ≤ max_load < 1 (0 = never refuse) (line 1)']);
    expect(problemsOf('sip: { max_load: -0.1 }')).toEqual(['sip.max_load: expected a share of the time, 0 ≤ max_load < 1 (0 = never refuse) (line 1)']);
    expect(parse('sip: { max_load: 0 }').config.sip.maxLoad).toBe(0);
    expect(parse('sip: { max_load: 0.8 }').config.sip.maxLoad).toBe(0.8);
  });

  it('takes sip.udp_read_window as a duration of at most 20ms (0 turns the read window off)', () => {
    expect(parse('sip: { udp_read_window: 0 }').config.sip.udpReadWindow).toBe(0);
    expect(parse('sip: { udp_read_window: 5ms }').config.sip.udpReadWindow).toBe(5);
    expect(parse('sip: { udp_read_window: 20ms }').config.sip.udpReadWindow).toBe(20);
    expect(problemsOf('sip: { udp_read_window: 21ms }')).toEqual(["sip.udp_read_window: must be at most 20ms (a datagram's reading waits up to this long) (line 1)"]);
    expect(problemsOf('sip: { udp_read_window: 1s }')).toEqual(["sip.udp_read_window: must be at most 20ms (a datagram's reading waits up to this long) (line 1)"]);
    expect(problemsOf('sip: { udp_read_window: soon }')).toEqual(['sip.udp_read_window: not a duration: a number with ms, s, m or h (a bare number is seconds) (line 1)']);
  });

  it('refuses unknown keys, suggesting the near one', () => {
    expect(problemsOf(lines('registrar:', '  expire: { min: 60 }', 'colour: blue'))).toEqual([
      'registrar.expire: unknown key (did you mean expires?) (line 2)',
      expect.stringMatching(/^colour: unknown key \(known here: listen, .*\) \(line 3\)$/),
    ]);
    expect(problemsOf('listen: [{ transport: udp, prot: 5060 }]')).toEqual([
      'listen[0].prot: unknown key (did you mean port?) (line 1)',
    ]);
  });

  it('checks listen sockets: transport, hosts, ports, tls files, CIDRs', () => {
    const cert = join(tmp, 'cert.pem');
    writeFileSync(cert, 'x');
    const problems = problemsOf(lines(
      'listen:',
      '  - { transport: sctp }',
      '  - { transport: udp, host: localhost, port: -1 }',
      `  - { transport: tls, cert: ${cert}, key: missing-key.pem }`,
      '  - { transport: tls, port: 5062 }',
      '  - { transport: udp, allow: [10.0.0.0/33], deny: ["2001:db8::/200"] }',
      '  - { transport: udp, host: "::" }',
      '  - { transport: udp, host: "::" }',
    ), { cwd: tmp });
    expect(problems).toEqual([
      'listen[0].transport: must be one of: udp, tcp, tls (line 2)',
      'listen[1].host: not an IP address (line 3)',
      'listen[1].port: not a port (0-65535) (line 3)',
      `listen[2].key: file not found: ${join(tmp, 'missing-key.pem')} (line 4)`,
      'listen[3].cert: required for transport tls (line 5)',
      'listen[3].key: required for transport tls (line 5)',
      'listen[4].allow[0]: not a CIDR (e.g. 10.0.0.0/24, 2001:db8::/32) (line 6)',
      'listen[4].deny[0]: not a CIDR (e.g. 10.0.0.0/24, 2001:db8::/32) (line 6)',
      'listen[6]: same address and port as listen[5] (line 8)',
    ]);
  });

  it('resolves tls files against the working directory', () => {
    writeFileSync(join(tmp, 'key.pem'), 'x');
    writeFileSync(join(tmp, 'full.pem'), 'x');
    const { config } = parse('listen: [{ transport: tls, cert: full.pem, key: ./key.pem }]', { cwd: tmp });
    expect(config.listen[0]).toMatchObject({ port: 5061, cert: join(tmp, 'full.pem'), key: join(tmp, 'key.pem') });
  });

  it('refuses the example API token, and an API beyond loopback without a token (the server would not open it)', () => {
    expect(problemsOf('api: { token: change-me }')).toEqual([
      expect.stringMatching(/^api\.token: the example token "change-me" must be replaced.*\(line 1\)$/),
    ]);
    expect(problemsOf('api: { host: 0.0.0.0 }')).toEqual([
      'api.host: 0.0.0.0 is not a loopback address and there is no api.token: set one (or SIPFRONT_API_TOKEN), or bind 127.0.0.1 (line 1)',
    ]);
    expect(parse('api: { host: 0.0.0.0, token: a-long-random-secret }').config.api.host).toBe('0.0.0.0');
    expect(parse('api: { host: 127.0.0.2 }').warnings).toEqual([]);
  });

  it('refuses trunks in stateless mode, saying why', () => {
    const text = lines(
      'mode: stateless',
      'dispatcher: { sets: [{ id: 1, algorithm: least-calls, destinations: [] }] }',
      'trunks:',
      '  - { id: p1, registrar: "sip:provider.example", user: "1", password: x }',
    );
    expect(problemsOf(text)).toEqual([expect.stringMatching(/^trunks: not allowed with mode: stateless: .*needs transactions.*\(line 3\)$/)]);
  });

  it('workers > 1: needs the Redis store and udp listeners only; workers: 1 needs nothing', () => {
    const udp = 'listen: [{ transport: udp, host: 127.0.0.1, port: 5060 }]';
    const redis = 'store: { kind: redis, url: "redis://127.0.0.1:6379/0" }';
    expect(parse(lines('workers: 2', udp, redis)).config.workers).toBe(2);
    expect(parse(lines('workers: auto', udp, redis)).config.workers).toBe('auto');
    expect(parse(lines('workers: 1', 'store: { kind: memory }')).config.workers).toBe(1);
    expect(problemsOf(lines('workers: 2', udp))).toEqual([expect.stringMatching(/^workers: 2 needs store\.kind redis/)]);
    expect(problemsOf(lines('workers: auto', redis))).toEqual([expect.stringMatching(/^workers: auto needs listen with udp sockets only/)]);
    expect(problemsOf(lines('workers: 2', redis, 'listen: [{ transport: udp, port: 5060 }, { transport: tcp, port: 5060 }]'))).toEqual([
      expect.stringMatching(/^listen\[1\]\.transport: tcp with workers 2: only udp is shared/),
    ]);
    expect(
      parse(lines('workers: 2', udp, redis, 'dispatcher: { sets: [{ id: 1, destinations: [] }] }', 'trunks:', '  - { id: p1, registrar: "sip:provider.example", user: "1", password: x }')).config.trunks,
    ).toHaveLength(1);
    // REDIS_URL makes the store Redis
    expect(parse(lines('workers: 2', udp), { env: { REDIS_URL: 'redis://127.0.0.1:6379/0' } }).config.workers).toBe(2);
  });

  it('warns on what stateless mode ignores', () => {
    const { warnings } = parse(lines(
      'mode: stateless',
      'dispatcher: { failover: { max_tries: 2 }, sets: [{ id: 1, algorithm: least-calls }] }',
    ));
    expect(warnings).toEqual([
      'dispatcher.failover: unused with mode: stateless (no failover without transactions) (line 2)',
      'dispatcher.sets[0].algorithm: acts as round-robin with mode: stateless (no call is tracked) (line 2)',
    ]);
  });

  it('checks sets, destinations and trunk references', () => {
    const problems = problemsOf(lines(
      'dispatcher:',
      '  probe: { accept: [200, 99] }',
      '  sets:',
      '    - { id: 1, destinations: [{ uri: "sip:a.example" }, { uri: "sip:a.example" }] }',
      '    - { id: 1, name: again }',
      '    - { id: 0 }',
      'trunks:',
      '  - { id: p1, registrar: "sip:p.example", user: "1", password: x, route_to: 4 }',
      '  - { id: p1, registrar: "sip:p.example", user: "2" }',
      '  - { id: p3, registrar: "sip:p.example", user: 3, password: x, ha1: 0123456789abcdef0123456789abcdef }',
    ));
    expect(problems).toEqual([
      'dispatcher.probe.accept[1]: not a SIP status code (100-699) (line 2)',
      'dispatcher.sets[0].destinations[1].uri: duplicate destination (also destinations[0]); a URI is its destination\'s id (line 4)',
      'dispatcher.sets[1].id: duplicate set id 1 (also dispatcher.sets[0]) (line 5)',
      'dispatcher.sets[2].id: expected a whole number ≥ 1 (line 6)',
      'trunks[0].route_to: dispatcher set 4 is not in dispatcher.sets (line 8)',
      'trunks[1]: needs password or ha1 (line 9)',
      'trunks[1].id: duplicate trunk id p1 (also trunks[0]) (line 9)',
      'trunks[2].user: expected a non-empty string (quote numbers: "1001") (line 10)',
      'trunks[2].ha1: give password or ha1, not both (line 10)',
    ]);
  });

  it('checks routes: one target, existing references, callers', () => {
    const problems = problemsOf(lines(
      'dispatcher: { sets: [{ id: 1 }] }',
      'trunks: [{ id: p1, registrar: "sip:p.example", user: "1", password: x }]',
      'routes:',
      '  - { match: { ruri_user: "^00" }, to: { trunk: p2 } }',
      '  - { to: { set: 2 } }',
      '  - { to: { set: 1, uri: "sip:10.0.0.1" } }',
      '  - { to: {} }',
      '  - { to: { trunk: p1 }, from: [trusted, trunk] }',
      '  - { to: { uri: "sip:10.0.0.1" }, from: [everyone] }',
      '  - { match: { ruri_user: "([" }, to: { set: 1 } }',
      '  - { match: { ruri_usr: x }, to: { set: 1 } }',
    ));
    expect(problems).toEqual([
      'routes[0].to.trunk: no trunk with id p2 in trunks (line 4)',
      'routes[1].to.set: no dispatcher set with id 2 in dispatcher.sets (line 5)',
      'routes[2].to: has set and uri: give exactly one of trunk, set, uri (line 6)',
      'routes[3].to: needs one of trunk, set, uri (line 7)',
      expect.stringMatching(/^routes\[4\]\.from\[1\]: trunk is not allowed on a route to a trunk.*\(line 8\)$/),
      'routes[5].from[0]: must be one of: dispatcher, trunk, trusted, authenticated, any (line 9)',
      'routes[6].match.ruri_user: not a valid regular expression (line 10)',
      'routes[7].match.ruri_usr: unknown key (did you mean ruri_user?) (line 11)',
    ]);
  });

  it('checks the registrar: algorithms, expires, subscribers; warns on auth.required false', () => {
    const problems = problemsOf(lines(
      'domains: [example.com]',
      'registrar:',
      '  expires: { min: 600, max: 60 }',
      '  auth: { required: false, algorithms: [SHA-256, MD4] }',
      '  subscribers:',
      '    - { user: "1001", domain: example.com }',
      '    - { user: "1002", domain: example.com, ha1: xyz }',
    ));
    expect(problems).toEqual([
      'registrar.expires.min: more than registrar.expires.max (line 3)',
      'registrar.auth.algorithms[1]: must be one of: MD5, SHA-256 (line 4)',
      'registrar.subscribers[0]: needs password, ha1 or ha1_sha256 (line 6)',
      'registrar.subscribers[1].ha1: expected 32 hex digits (line 7)',
    ]);
    const { warnings, config } = parse(lines(
      'domains: [example.com]',
      'registrar:',
      '  auth: { required: false, algorithms: [SHA-256, MD5] }',
      '  subscribers: [{ user: "1001", domain: other.example, password: s }]',
    ));
    expect(config.registrar.auth.algorithms).toEqual(['SHA-256', 'MD5']);
    expect(warnings).toEqual([
      expect.stringMatching(/^registrar\.auth\.required: false: .*\(line 3\)$/),
      'registrar.subscribers[0].domain: other.example is not in domains (add it there or through the API) (line 4)',
    ]);
  });

  it('takes security.enabled as a boolean, warning when it is false', () => {
    expect(parse('security: { trusted: [10.0.0.0/8] }').config.security.enabled).toBe(true);
    const { config, warnings } = parse(lines('security:', '  enabled: false', '  trusted: [10.0.0.0/8]'));
    expect(config.security.enabled).toBe(false);
    expect(config.security.trusted).toEqual(['10.0.0.0/8']);
    expect(warnings).toEqual([expect.stringMatching(/^security\.enabled: false: .*\(line 2\)$/)]);
    expect(problemsOf('security: { enabled: maybe }')).toEqual(['security.enabled: expected true or false (line 1)']);
  });

  it('reports YAML syntax errors with their line', () => {
    const problems = problemsOf(lines('mode: stateful', 'mode: stateless', 'listen: [ { transport: udp'));
    expect(problems.length).toBeGreaterThan(0);
    for (const p of problems) expect(p).toMatch(/^yaml: .*\(line \d+\)$/);
    expect(problems.some((p) => p.includes('(line 2)'))).toBe(true);
  });

  it('refuses a document that is not a mapping', () => {
    expect(problemsOf('- a\n- b')).toEqual(['(top level): expected a mapping (key: value) (line 1)']);
  });
});

describe('environment', () => {
  it('REDIS_URL switches the store to Redis', () => {
    const { config } = parse('store: { kind: memory, path: ./state }', { env: { REDIS_URL: 'redis://10.0.0.5:6379/1' } });
    expect(config.store).toEqual({ kind: 'redis', url: 'redis://10.0.0.5:6379/1', prefix: 'sipfront:' });
    const keep = parse('store: { kind: redis, prefix: "sf2:" }', { env: { REDIS_URL: 'rediss://r.example' } });
    expect(keep.config.store).toEqual({ kind: 'redis', url: 'rediss://r.example', prefix: 'sf2:' });
  });

  it('a Redis store needs a URL from the file or REDIS_URL', () => {
    expect(problemsOf('store: { kind: redis }')).toEqual(['store.url: required for kind redis (or set REDIS_URL) (line 1)']);
    expect(problemsOf('', { env: { REDIS_URL: 'localhost:6379' } })).toEqual([
      'REDIS_URL (environment): not a Redis URL (redis://host:port/db or rediss://…)',
    ]);
  });

  it('SIPFRONT_API_TOKEN and SIPFRONT_LOG_LEVEL override the file', () => {
    const { config, warnings } = parse('api: { host: 0.0.0.0, token: from-file }\nlog: { level: warn }', {
      env: { SIPFRONT_API_TOKEN: 'from-env', SIPFRONT_LOG_LEVEL: 'debug', REDIS_URL: '' },
    });
    expect(config.api.token).toBe('from-env');
    expect(config.log.level).toBe('debug');
    expect(config.store.kind).toBe('memory');
    expect(warnings).toEqual([]);
    expect(problemsOf('', { env: { SIPFRONT_LOG_LEVEL: 'loud' } })).toEqual([
      'SIPFRONT_LOG_LEVEL (environment): must be one of: fatal, error, warn, info, debug, trace, silent',
    ]);
  });

  it('SIPFRONT_CONFIG names the file when --config is absent', () => {
    expect(resolveConfigPath('a.yaml', { SIPFRONT_CONFIG: 'b.yaml' }, '/x')).toBe('/x/a.yaml');
    expect(resolveConfigPath(undefined, { SIPFRONT_CONFIG: 'b.yaml' }, '/x')).toBe('/x/b.yaml');
    expect(resolveConfigPath(undefined, {}, tmp)).toBe(EMBEDDED_CONFIG_PATH);
  });
});

describe('files', () => {
  it('loads the embedded default config clean, as the contract describes it', () => {
    const { config, warnings } = loadConfig(EMBEDDED_CONFIG_PATH, {}, cwd);
    expect(warnings).toEqual([]);
    expect(config.listen.map((l) => `${l.transport}:${l.host}:${l.port}`)).toEqual(['udp:0.0.0.0:5060', 'tcp:0.0.0.0:5060']);
    expect(config.api).toMatchObject({ host: '127.0.0.1', port: 8080, token: null });
    expect(config.security.trusted).toEqual(['127.0.0.1/32', '::1/128']);
    expect(config.dispatcher.sets).toEqual([
      { id: 1, name: 'asterisk', algorithm: 'round-robin', destinations: [{ uri: 'sip:127.0.0.1:5080', weight: 1, priority: 0 }] },
    ]);
    expect(config.registrar.subscribers).toEqual([]);
    expect(config.store).toEqual({ kind: 'memory', path: '/srv/sipfront/data' });
    expect(config.source).toBe(EMBEDDED_CONFIG_PATH);
  });

  it('reports an unreadable file as one problem', () => {
    try {
      loadConfig(join(tmp, 'nope.yaml'), {});
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).code).toBe('CONFIG_UNREADABLE');
      expect((err as ConfigError).problems).toEqual(['file not found']);
    }
  });
});
