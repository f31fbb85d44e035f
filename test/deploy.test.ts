// deploy/: the files that hand sipfront to Docker, compose, systemd, Kubernetes, Prometheus and
// Grafana are checked here, since no Docker engine or cluster runs on these machines: their YAML
// parses, the configs they give sipfront pass check-config, the ports they publish are the ones
// the config listens on, the metric names they query are the contract's, promtool and
// systemd-analyze accept them, and the production bundle the image runs starts and answers.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText, type Config } from '@sipfront/server';
import { sipText, udpPeer } from './helpers/sip-client.js';
import { freeSipPort } from './helpers/sipfront.js';

const REPO = fileURLToPath(new URL('../', import.meta.url));
const DEPLOY = join(REPO, 'deploy');
const CLI = join(REPO, 'packages/server/dist/cli.js');

// `yaml` is a dependency of the server package, not of this one: load it from there.
interface YamlDoc { errors: Array<{ message: string }>; toJS(): unknown }
interface YamlModule {
  parse(text: string): unknown;
  parseAllDocuments(text: string): YamlDoc[] | { errors: Array<{ message: string }> };
  parseDocument(text: string): { setIn(path: unknown[], value: unknown): void; toString(): string };
}
const YAML = createRequire(join(REPO, 'packages/server/package.json'))('yaml') as YamlModule;

type Rec = Record<string, unknown>;
const read = (...p: string[]): string => readFileSync(join(DEPLOY, ...p), 'utf8');
const yamlOf = (...p: string[]): Rec => YAML.parse(read(...p)) as Rec;
const docsOf = (...p: string[]): Rec[] => {
  const docs = YAML.parseAllDocuments(read(...p));
  if (!Array.isArray(docs)) throw new Error(docs.errors.map((e) => e.message).join('; '));
  return docs.map((d) => d.toJS() as Rec).filter((d) => d !== null);
};

const tmp = mkdtempSync(join(tmpdir(), 'sipfront-deploy-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

/** Every config that a deployment hands to sipfront, with the environment it gets there. */
function deployConfigs(): Array<{ name: string; text: string; env: Record<string, string> }> {
  const k8sConfigMap = docsOf('k8s', 'configmap.yaml').find((d) => d['kind'] === 'ConfigMap')!;
  return [
    { name: 'config/sipfront.yaml (the image)', text: readFileSync(join(REPO, 'config/sipfront.yaml'), 'utf8'), env: {} },
    { name: 'deploy/compose/sipfront.yaml', text: read('compose', 'sipfront.yaml'), env: { SIPFRONT_API_TOKEN: 'from-dot-env-0123456789' } },
    { name: 'deploy/systemd/sipfront.yaml', text: read('systemd', 'sipfront.yaml'), env: { SIPFRONT_API_TOKEN: 'from-sipfront-env-0123456789' } },
    { name: 'deploy/k8s/configmap.yaml', text: (k8sConfigMap['data'] as Rec)['sipfront.yaml'] as string, env: { SIPFRONT_API_TOKEN: 'from-the-secret-0123456789' } },
  ];
}
const configOf = (c: { text: string; env: Record<string, string> }): Config => parseConfigText(c.text, { env: c.env, cwd: tmp, sourceName: 'x.yaml' }).config;

// CONTRACT.md, "Prometheus metrics", plus what Prometheus and prom-client add.
const CONTRACT_METRICS = [
  'sipfront_sip_requests_total', 'sipfront_sip_responses_total', 'sipfront_transactions_active',
  'sipfront_dispatcher_destination_up', 'sipfront_dispatcher_selected_total', 'sipfront_dispatcher_failover_total',
  'sipfront_dispatcher_probe_rtt_seconds', 'sipfront_registrar_contacts', 'sipfront_auth_failures_total',
  'sipfront_security_bans_active', 'sipfront_parse_errors_total', 'sipfront_trunk_registered',
  'sipfront_trunk_register_responses_total', 'sipfront_proxy_auth_total', 'sipfront_requests_refused_total',
];
const PROCESS_METRICS = ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_start_time_seconds'];
const HISTOGRAM_SUFFIX = /_(bucket|sum|count)$/;

function dashboardExprs(): string[] {
  const dash = JSON.parse(read('grafana', 'sipfront-dashboard.json')) as { panels: Array<{ targets?: Array<{ expr: string }> }> };
  return dash.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
}
function alertRules(): Array<{ alert: string; expr: string; for?: string }> {
  const rules = yamlOf('prometheus', 'alerts.yml') as { groups: Array<{ rules: Array<{ alert: string; expr: string; for?: string }> }> };
  return rules.groups.flatMap((g) => g.rules);
}
/** Metric names an expression reads: identifiers that are neither functions, keywords nor labels. */
function metricNames(expr: string): string[] {
  const noStrings = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""').replace(/\{[^}]*\}/g, '{}').replace(/\[[^\]]*\]/g, '[]');
  const words = noStrings.match(/[a-zA-Z_:][a-zA-Z0-9_:]*/g) ?? [];
  return words.filter((w) => /^(sipfront_|process_)/.test(w) || w === 'up');
}
/** A histogram's `_bucket` / `_sum` / `_count` series belong to the histogram's name. */
const baseName = (n: string): string => {
  const base = n.replace(HISTOGRAM_SUFFIX, '');
  return base !== n && CONTRACT_METRICS.includes(base) ? base : n;
};

function need(bin: string, pkg: string): void {
  const r = spawnSync('sh', ['-c', `command -v ${bin}`]);
  if (r.status !== 0) throw new Error(`missing: ${bin}; install the Debian package ${pkg} (apt-get install -y ${pkg})`);
}
function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeout?: number } = {}): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { cwd: opts.cwd ?? REPO, env: opts.env ?? process.env, encoding: 'utf8', timeout: opts.timeout ?? 60_000 });
  return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

describe('deploy/ files', () => {
  it('every YAML file parses, every JSON file parses', () => {
    const files = walk(DEPLOY).filter((f) => /\.(ya?ml|json)$/.test(f));
    expect(files.length).toBeGreaterThan(15);
    for (const f of files) {
      const text = readFileSync(f, 'utf8');
      if (f.endsWith('.json')) {
        expect(() => JSON.parse(text), relative(REPO, f)).not.toThrow();
        continue;
      }
      const docs = YAML.parseAllDocuments(text);
      const errors = Array.isArray(docs) ? docs.flatMap((d) => d.errors.map((e) => e.message)) : docs.errors.map((e) => e.message);
      expect(errors, relative(REPO, f)).toEqual([]);
    }
  });

  it('the Kubernetes manifests are objects of known kinds, with names, and kustomization lists them all', () => {
    const kust = yamlOf('k8s', 'kustomization.yaml') as { resources: string[] };
    const files = readdirSync(join(DEPLOY, 'k8s')).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    expect([...kust.resources].sort()).toEqual(files.filter((f) => f !== 'servicemonitor.yaml').sort());
    const kinds = new Set<string>();
    for (const f of files) {
      for (const d of docsOf('k8s', f)) {
        expect(typeof d['apiVersion'], f).toBe('string');
        expect((d['metadata'] as Rec)['name'], f).toMatch(/^[a-z0-9-]+$/);
        kinds.add(d['kind'] as string);
      }
    }
    expect([...kinds].sort()).toEqual(['ConfigMap', 'Deployment', 'Namespace', 'PodDisruptionBudget', 'Secret', 'Service', 'ServiceMonitor', 'StatefulSet']);
  });

  it('the configs that the image, compose, systemd and Kubernetes hand to sipfront pass check-config', () => {
    for (const c of deployConfigs()) {
      const file = join(tmp, `${c.name.replace(/[^a-z0-9]+/gi, '-')}.yaml`);
      writeFileSync(file, c.text);
      const r = run(process.execPath, [CLI, 'check-config', file], { env: { ...process.env, SIPFRONT_CONFIG: '', REDIS_URL: '', SIPFRONT_LOG_LEVEL: '', SIPFRONT_API_TOKEN: '', ...c.env } });
      expect(r, c.name).toMatchObject({ status: 0 });
      expect(r.out, c.name).toBe(`${file}: ok\n`);
    }
  });

  it('compose publishes the ports its sipfront.yaml listens on, Prometheus scrapes the API port, sipfront uses Redis', () => {
    const compose = yamlOf('compose', 'compose.yaml') as { services: Record<string, Rec> };
    const config = configOf(deployConfigs()[1]!);
    const sf = compose.services['sipfront']!;
    const published = (sf['ports'] as string[]).map((p) => p.replace(/^127\.0\.0\.1:/, ''));
    for (const l of config.listen) {
      const proto = l.transport === 'udp' ? 'udp' : 'tcp';
      expect(published, `${l.transport} ${l.port}`).toContain(`${l.port}:${l.port}/${proto}`);
    }
    expect(published).toContain(`${config.api.port}:${config.api.port}/tcp`);
    expect(config.api.host).toBe('0.0.0.0');
    expect((sf['environment'] as Rec)['SIPFRONT_HEALTH_URL']).toBe(`http://127.0.0.1:${config.api.port}/health`);
    expect((sf['environment'] as Rec)['SIPFRONT_CONFIG']).toBe('/etc/sipfront/sipfront.yaml');
    expect(sf['volumes']).toContain('./sipfront.yaml:/etc/sipfront/sipfront.yaml:ro');
    expect(config.store).toEqual({ kind: 'redis', url: 'redis://redis:6379/0', prefix: 'sipfront:' });
    // set 1 = both Asterisk services, by name
    const names = Object.keys(compose.services);
    expect(config.dispatcher.sets[0]!.destinations.map((d) => d.uri)).toEqual(['sip:asterisk1:5060', 'sip:asterisk2:5060']);
    expect(names).toEqual(expect.arrayContaining(['sipfront', 'redis', 'asterisk1', 'asterisk2', 'prometheus', 'grafana']));
    for (const a of ['asterisk1', 'asterisk2']) expect(compose.services[a]!['image']).toMatch(/andrius\/asterisk/);
    const prom = yamlOf('compose', 'prometheus.yml') as { scrape_configs: Array<{ static_configs: Array<{ targets: string[] }>; metrics_path: string }> };
    expect(prom.scrape_configs[0]!.static_configs[0]!.targets).toEqual([`sipfront:${config.api.port}`]);
    expect(prom.scrape_configs[0]!.metrics_path).toBe('/metrics');
    // the address Asterisk trusts and dials is the one compose gives sipfront
    const ip = ((sf['networks'] as Rec)['sip'] as Rec)['ipv4_address'] as string;
    const pjsip = read('compose', 'asterisk', 'pjsip.conf');
    expect(pjsip).toContain(`match=${ip}\n`);
    expect(pjsip).toContain(`contact=sip:${ip}:5060\n`);
    for (const opt of ['rewrite_contact=yes', 'force_rport=yes', 'direct_media=no', 'trust_id_inbound=yes', 'identify_by=ip']) expect(pjsip).toContain(`${opt}\n`);
    expect(read('compose', 'asterisk', 'extensions.conf')).toContain('Dial(PJSIP/${EXTEN}@sipfront');
  });

  it('Kubernetes: container ports are the listen and API ports, probes /health and /ready, preStop drains, the token comes from the Secret', () => {
    const config = configOf(deployConfigs()[3]!);
    const dep = docsOf('k8s', 'deployment.yaml')[0]! as { spec: { template: { spec: { containers: Rec[] } } } };
    const c = dep.spec.template.spec.containers[0]!;
    const ports = c['ports'] as Array<{ name: string; containerPort: number; protocol: string }>;
    for (const l of config.listen) {
      expect(ports, `${l.transport} ${l.port}`).toContainEqual(expect.objectContaining({ containerPort: l.port, protocol: l.transport === 'udp' ? 'UDP' : 'TCP' }));
    }
    expect(ports).toContainEqual({ name: 'http', containerPort: config.api.port, protocol: 'TCP' });
    expect((c['livenessProbe'] as Rec)['httpGet']).toEqual({ path: '/health', port: 'http' });
    expect((c['readinessProbe'] as Rec)['httpGet']).toEqual({ path: '/ready', port: 'http' });
    expect(JSON.stringify(c['lifecycle'])).toContain('sipfront ctl drain');
    expect(c['env']).toContainEqual({ name: 'SIPFRONT_API_TOKEN', valueFrom: { secretKeyRef: { name: 'sipfront-api', key: 'token' } } });
    expect(config.store.kind).toBe('redis');
    expect(config.api.host).toBe('0.0.0.0');
    const svc = docsOf('k8s', 'service-sip.yaml')[0]! as { spec: Rec & { ports: Array<{ port: number; protocol: string; targetPort: string }> } };
    expect(svc.spec['externalTrafficPolicy']).toBe('Local');
    const named = new Map(ports.map((p) => [p.name, p]));
    for (const p of svc.spec.ports) {
      expect(named.get(p.targetPort), p.targetPort).toMatchObject({ containerPort: p.port, protocol: p.protocol });
    }
    expect(svc.spec.ports.map((p) => p.protocol).sort()).toEqual(['TCP', 'UDP']);
  });

  it('the Dockerfile: node 20, pnpm as package.json pins it, the bundle script, a non-root user, the data volume, the ports of the embedded config, a HEALTHCHECK on /health', () => {
    const df = read('docker', 'Dockerfile');
    const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { packageManager: string };
    expect(`pnpm@${/ARG PNPM_VERSION=(\S+)/.exec(df)?.[1]}`).toBe(pkg.packageManager);
    expect(df).toMatch(/^ARG NODE_IMAGE=node:20-/m);
    expect(df).toContain('deploy/docker/bundle.sh /out');
    // the launcher the bundle writes, with node's options for the server
    expect(df).toMatch(/^ENTRYPOINT \["\/app\/bin\/sipfront"\]$/m);
    expect(df).toMatch(/^USER sipfront/m);
    expect(df).toMatch(/^VOLUME \["\/app\/data"\]/m);
    const embedded = configOf(deployConfigs()[0]!);
    const exposed = /^EXPOSE (.*)$/m.exec(df)![1]!.split(/\s+/);
    for (const l of embedded.listen) expect(exposed).toContain(`${l.port}/${l.transport === 'udp' ? 'udp' : 'tcp'}`);
    expect(exposed).toEqual(expect.arrayContaining(['5061/tcp', `${embedded.api.port}/tcp`]));
    expect(df).toContain(`SIPFRONT_HEALTH_URL=http://127.0.0.1:${embedded.api.port}/health`);
    expect(df).toContain('SIPFRONT_CONFIG=/app/config/sipfront.yaml');
    const ignore = readFileSync(join(REPO, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
    expect(ignore).toEqual(expect.arrayContaining(['**/node_modules', '**/dist', '.git']));
    for (const needed of ['config', 'deploy', 'packages', 'pnpm-lock.yaml', 'package.json']) expect(ignore, needed).not.toContain(needed);
  });

  it('the HEALTHCHECK one-liner exits 0 on a 200 from /health and 1 on a 503 or no answer', async () => {
    const df = read('docker', 'Dockerfile');
    const cmd = JSON.parse(/HEALTHCHECK[^\n]*\\\n\s*CMD (\[.*\])$/m.exec(df)![1]!) as string[];
    expect(cmd.slice(0, 2)).toEqual(['node', '-e']);
    let status = 200;
    const srv = createServer((req, res) => res.writeHead(req.url === '/health' ? status : 404).end());
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(srv.address() as { port: number }).port}/health`;
    const check = (u: string) =>
      new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, ['-e', cmd[2]!], { env: { ...process.env, SIPFRONT_HEALTH_URL: u }, stdio: 'ignore' });
        child.on('close', resolve);
      });
    try {
      expect(await check(url)).toBe(0);
      status = 503;
      expect(await check(url)).toBe(1);
    } finally {
      srv.close();
    }
    expect(await check(url)).toBe(1);
  });

  it('the dashboard and the alert rules query only the contract\'s metrics, and the dashboard shows every one of them', () => {
    const exprs = [...dashboardExprs(), ...alertRules().map((r) => r.expr)];
    const allowed = new Set([...CONTRACT_METRICS, ...PROCESS_METRICS, 'up']);
    const used = new Set(exprs.flatMap(metricNames).map(baseName));
    for (const n of used) expect(allowed, `${n} is not a contract metric`).toContain(n);
    const onDashboard = new Set(dashboardExprs().flatMap(metricNames).map(baseName));
    for (const n of CONTRACT_METRICS) expect(onDashboard, `the dashboard does not show ${n}`).toContain(n);
    const alerts = alertRules();
    expect(alerts.find((a) => a.alert === 'SipfrontDestinationDown')).toMatchObject({ expr: 'sipfront_dispatcher_destination_up == 0', for: '1m' });
    for (const name of ['SipfrontSetAllDestinationsDown', 'SipfrontFailoverRateHigh', 'SipfrontBanStorm', 'SipfrontAuthFailureSpike', 'SipfrontParseErrorsRising', 'SipfrontTrunkUnregistered', 'SipfrontRegistrationsDropped']) {
      expect(alerts.map((a) => a.alert)).toContain(name);
    }
  });

  it('the compose stack provisions the dashboard and a Prometheus datasource whose uid the dashboard can pick', () => {
    const compose = yamlOf('compose', 'compose.yaml') as { services: Record<string, { volumes: string[] }> };
    const provider = yamlOf('compose', 'grafana', 'provisioning', 'dashboards', 'sipfront.yaml') as { providers: Array<{ options: { path: string } }> };
    const mount = compose.services['grafana']!.volumes.find((v) => v.startsWith('../grafana/sipfront-dashboard.json:'))!;
    expect(mount.split(':')[1]).toBe(`${provider.providers[0]!.options.path}/sipfront-dashboard.json`);
    const ds = yamlOf('compose', 'grafana', 'provisioning', 'datasources', 'prometheus.yaml') as { datasources: Array<{ type: string; url: string }> };
    expect(ds.datasources[0]).toMatchObject({ type: 'prometheus', url: 'http://prometheus:9090' });
    const dash = JSON.parse(read('grafana', 'sipfront-dashboard.json')) as { uid: string; templating: { list: Array<{ name: string; type: string }> } };
    expect(dash.uid).toBe('sipfront');
    expect(dash.templating.list[0]).toMatchObject({ name: 'datasource', type: 'datasource' });
  });
});

describe('promtool and systemd-analyze', () => {
  it('promtool check rules, test rules (the destination-down alert fires after 1m of up == 0) and check config pass', () => {
    need('promtool', 'prometheus');
    let r = run('promtool', ['check', 'rules', join(DEPLOY, 'prometheus', 'alerts.yml')]);
    expect(r.out).toContain('SUCCESS');
    expect(r.status, r.out).toBe(0);
    r = run('promtool', ['test', 'rules', 'alerts.test.yml'], { cwd: join(DEPLOY, 'prometheus') });
    expect(r.status, r.out).toBe(0);
    // the compose Prometheus config, with the rule file where the container mounts it
    const cfg = join(tmp, 'prometheus.yml');
    writeFileSync(cfg, read('compose', 'prometheus.yml').replace('/etc/prometheus/alerts.yml', join(DEPLOY, 'prometheus', 'alerts.yml')));
    r = run('promtool', ['check', 'config', cfg]);
    expect(r.status, r.out).toBe(0);
  });

  it('every dashboard query is valid PromQL (promtool checks them as recording rules)', () => {
    need('promtool', 'prometheus');
    const rules = dashboardExprs().map((expr, i) => ({
      record: `sipfront:dashboard_query_${i}`,
      expr: expr.replace(/\$__rate_interval/g, '5m').replace(/\$instance|\$job/g, '.*'),
    }));
    const file = join(tmp, 'dashboard-rules.yml');
    writeFileSync(file, JSON.stringify({ groups: [{ name: 'dashboard', rules }] }));
    const r = run('promtool', ['check', 'rules', file]);
    expect(r.status, r.out).toBe(0);
  });

  it('systemd-analyze verify accepts the unit', () => {
    need('systemd-analyze', 'systemd');
    // verify wants ExecStart to exist: point it at an executable standing in for the installed one
    const bin = join(tmp, 'sipfront');
    writeFileSync(bin, `#!/bin/sh\nexec node ${CLI} "$@"\n`);
    chmodSync(bin, 0o755);
    const unit = read('systemd', 'sipfront.service');
    expect(unit).toMatch(/^ExecStart=\/usr\/local\/bin\/sipfront --config \/etc\/sipfront\/sipfront\.yaml$/m);
    for (const line of ['ExecReload=/bin/kill -HUP $MAINPID', 'Restart=on-failure', 'ProtectSystem=strict', 'NoNewPrivileges=yes', 'PrivateTmp=yes', 'StateDirectory=sipfront', 'ReadWritePaths=/var/lib/sipfront', 'User=sipfront']) {
      expect(unit).toContain(`\n${line}\n`);
    }
    const file = join(tmp, 'sipfront.service');
    writeFileSync(file, unit.replace('ExecStart=/usr/local/bin/sipfront', `ExecStart=${bin}`));
    const r = run('systemd-analyze', ['verify', file]);
    expect(r.out).toBe('');
    expect(r.status).toBe(0);
    // the unit's config keeps its state where the unit lets it write
    const config = configOf(deployConfigs()[2]!);
    expect(config.store).toEqual({ kind: 'memory', path: '/var/lib/sipfront' });
  });
});

describe('the production bundle (what the image runs)', () => {
  const bundle = join(tmp, 'bundle');

  beforeAll(() => {
    const r = run('sh', [join(DEPLOY, 'docker', 'bundle.sh'), bundle], { timeout: 120_000 });
    if (r.status !== 0) throw new Error(`deploy/docker/bundle.sh failed:\n${r.out}`);
  }, 150_000);

  it('holds only what runs and starts outside the workspace', () => {
    expect(readdirSync(bundle).sort()).toEqual(['bin', 'config', 'dist', 'node_modules', 'package.json', 'pnpm-lock.yaml']);
    const version = (JSON.parse(readFileSync(join(REPO, 'packages/server/package.json'), 'utf8')) as { version: string }).version;
    expect(run(process.execPath, [join(bundle, 'dist/cli.js'), '--version'], { cwd: tmp })).toEqual({ status: 0, out: `sipfront ${version}\n` });
    expect(run(join(bundle, 'bin/sipfront'), ['--version'], { cwd: tmp })).toEqual({ status: 0, out: `sipfront ${version}\n` });
    // the batched UDP module (packages/core/native) travels with the core package, and loads there
    const core = run(process.execPath, ['--input-type=module', '-e', "const { batchUnavailableReason } = await import('@sipfront/core'); console.log(JSON.stringify(batchUnavailableReason()))"], { cwd: bundle });
    expect(core).toEqual({ status: 0, out: '""\n' });
    // node's options for the server, from packages/server/package.json, in the launcher and in
    // the root package.json's scripts (pnpm start, pnpm sipfront)
    const options = (JSON.parse(readFileSync(join(REPO, 'packages/server/package.json'), 'utf8')) as { sipfront: { nodeOptions: string[] } }).sipfront.nodeOptions;
    expect(options).toContain('--max-semi-space-size=8');
    expect(readFileSync(join(bundle, 'bin/sipfront'), 'utf8')).toContain(`opts="${options.join(' ')}"`);
    // ...passed to node where they make the young generation smaller: more than 4 GiB to use
    // (a fake node on PATH prints what it was given)
    const fake = join(tmp, 'fake-node');
    mkdirSync(fake, { recursive: true });
    writeFileSync(join(fake, 'node'), '#!/bin/sh\necho "$@"\n', { mode: 0o755 });
    const launch = (kb: string | undefined) =>
      run(join(bundle, 'bin/sipfront'), ['--version'], { cwd: tmp, env: { ...process.env, PATH: `${fake}:${process.env['PATH'] ?? ''}`, ...(kb !== undefined ? { SIPFRONT_MEMORY_KB: kb } : {}) } });
    const cli = `${bundle}/bin/../dist/cli.js`;
    expect(launch(String(16 * 1024 * 1024))).toEqual({ status: 0, out: `${options.join(' ')} ${cli} --version\n` });
    expect(launch(String(4 * 1024 * 1024))).toEqual({ status: 0, out: `${cli} --version\n` });
    expect(launch(String(512 * 1024))).toEqual({ status: 0, out: `${cli} --version\n` });
    const scripts = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    expect(scripts['start']).toBe(`node ${options.join(' ')} packages/server/dist/cli.js --config config/sipfront.yaml`);
    expect(scripts['sipfront']).toBe(`node ${options.join(' ')} packages/server/dist/cli.js`);
    expect(readFileSync(join(bundle, 'config/sipfront.yaml'), 'utf8')).toBe(readFileSync(join(REPO, 'config/sipfront.yaml'), 'utf8'));
    // no dev tooling
    for (const dev of ['vitest', 'typescript', 'fast-check']) expect(readdirSync(join(bundle, 'node_modules')), dev).not.toContain(dev);
  });

  it('runs with the image\'s config: answers OPTIONS to itself, /health and /ready, serves the metrics the dashboard reads, wakes under 50 times a second when idle, stops on SIGTERM', async () => {
    const sipPort = await freeSipPort();
    const apiPort = await freeSipPort();
    // the image's config, on free loopback ports
    const doc = YAML.parseDocument(readFileSync(join(bundle, 'config/sipfront.yaml'), 'utf8'));
    doc.setIn(['listen'], [{ transport: 'udp', host: '127.0.0.1', port: sipPort }, { transport: 'tcp', host: '127.0.0.1', port: sipPort }]);
    doc.setIn(['api', 'port'], apiPort);
    const file = join(bundle, 'config', 'test.yaml');
    writeFileSync(file, doc.toString());
    // as the image runs it (ENTRYPOINT): the launcher, with node's options
    const child = spawn(join(bundle, 'bin/sipfront'), [], {
      cwd: bundle,
      env: { ...process.env, SIPFRONT_MEMORY_KB: String(16 * 1024 * 1024), SIPFRONT_CONFIG: file, NODE_ENV: 'production', SIPFRONT_API_TOKEN: '', REDIS_URL: '', SIPFRONT_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const exited = new Promise<number | null>((r) => child.on('close', r));
    const peer = await udpPeer();
    try {
      // OPTIONS to sipfront itself: 200 (contract step 2), once it listens
      let answer;
      for (let i = 0; i < 50 && answer === undefined; i++) {
        const callId = `deploy-${i}-${Date.now()}`;
        peer.to(sipPort).send(sipText([
          `OPTIONS sip:127.0.0.1:${sipPort} SIP/2.0`,
          `Via: SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bK-deploy-${i};rport`,
          'Max-Forwards: 70',
          `From: <sip:probe@127.0.0.1>;tag=d${i}`,
          `To: <sip:127.0.0.1:${sipPort}>`,
          `Call-ID: ${callId}`,
          'CSeq: 1 OPTIONS',
        ]));
        answer = await peer.next(200).catch(() => undefined);
      }
      expect(answer?.status, output).toBe(200);

      // SIP listens first, the API right after
      const api = `http://127.0.0.1:${apiPort}`;
      let health = 0;
      for (let i = 0; i < 100 && health !== 200; i++) {
        health = await fetch(`${api}/health`).then((r) => r.status, () => 0);
        if (health !== 200) await new Promise((r) => setTimeout(r, 50));
      }
      expect(health, output).toBe(200);
      expect((await fetch(`${api}/ready`)).status).toBe(200);
      const metrics = await (await fetch(`${api}/metrics`)).text();
      // the launcher's --max-semi-space-size=8: two semi-spaces of at most 8 MB (node's default: 16)
      const young = Number(/^nodejs_heap_space_size_total_bytes\{space="new"\} (\d+)/m.exec(metrics)?.[1]);
      expect(young).toBeGreaterThan(0);
      expect(young).toBeLessThanOrEqual(16 * 1024 * 1024);
      // the launcher exec'd node with them (no shell left between the signals and node)
      expect(readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0')).toEqual(expect.arrayContaining(['node', '--max-semi-space-size=8']));
      // Idle, the process's main thread sleeps: what wakes it are its own periodic timers (the load
      // shedder's sample every 200 ms, the event loop's lag sample every 100 ms, probes). Each
      // wake-up is CPU paid per second at any load; prom-client's default lag sampler alone (10 ms)
      // made it 100 a second and more. Counted by the kernel over 2 s, after a scrape has run.
      const switches = (): number => Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(readFileSync(`/proc/${child.pid}/task/${child.pid}/status`, 'utf8'))?.[1]);
      const before = switches();
      await new Promise((r) => setTimeout(r, 2000));
      const perSecond = (switches() - before) / 2;
      expect(perSecond).toBeGreaterThan(0);
      expect(perSecond).toBeLessThan(50);
      const served = new Set([...metrics.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
      const queried = new Set([...dashboardExprs(), ...alertRules().map((r) => r.expr)].flatMap(metricNames).map(baseName).filter((n) => n !== 'up'));
      for (const n of queried) expect(served, `/metrics has no ${n}`).toContain(n);
      // the web console, when it was built before the bundle and the API serves it (404: not wired)
      if (existsSync(join(REPO, 'packages/console/dist/index.html'))) {
        const page = await fetch(`${api}/console/`);
        if (page.status !== 404) {
          expect(page.status).toBe(200);
          expect(await page.text()).toBe(readFileSync(join(REPO, 'packages/console/dist/index.html'), 'utf8'));
        }
      }
      // ctl from the bundle, as an operator would inside the container
      const ctl = run(join(bundle, 'bin/sipfront'), ['ctl', 'dispatcher', 'list'], { cwd: bundle, env: { ...process.env, SIPFRONT_CONFIG: file, SIPFRONT_API_TOKEN: '' } });
      expect(ctl.out).toMatch(/^SET +NAME +ALGORITHM +DESTINATION/);
      expect(ctl.out).toContain('sip:127.0.0.1:5080');
      expect(ctl.status).toBe(0);
    } finally {
      await peer.close();
      child.kill('SIGTERM');
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    expect(await exited, output).toBe(0);
    clearTimeout(timer);
  }, 60_000);
});
