// Starts sipfront in this process from YAML text, on free ports of 127.0.0.1, with a silent
// logger; `close()` stops it the way SIGTERM does.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { parseConfigText, startServer, type RunningServer } from '@sipfront/server';
import { udpPeer, type UdpPeer } from './sip-client.js';

export interface TestSipfront {
  server: RunningServer;
  udpPort: number;
  tcpPort: number;
  dataDir: string;
  /** `http://127.0.0.1:<port>` of the REST API */
  apiUrl: string;
  close(): Promise<void>;
}

/**
 * `yaml` is the config body; when it has no `listen:`, udp and tcp on 127.0.0.1 port 0 are used;
 * when it has no `api:`, the REST API listens on 127.0.0.1 port 0 (tests run side by side).
 */
export async function startSipfront(yaml: string, opts: { logLevel?: string; logs?: Array<Record<string, unknown>> } = {}): Promise<TestSipfront> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sipfront-test-'));
  let text = yaml;
  if (!/^listen:/m.test(text)) {
    text = `listen:\n  - { transport: udp, host: 127.0.0.1, port: 0 }\n  - { transport: tcp, host: 127.0.0.1, port: 0 }\n${text}`;
  }
  if (!/^store:/m.test(text)) text += `\nstore: { kind: memory, path: ${JSON.stringify(dataDir)} }\n`;
  if (!/^api:/m.test(text)) text += '\napi: { host: 127.0.0.1, port: 0 }\n';
  const { config } = parseConfigText(text, { env: {}, cwd: dataDir, sourceName: 'test.yaml' });
  const level = opts.logLevel ?? process.env.SIPFRONT_TEST_LOG ?? 'silent';
  // `logs`: every line as the JSON object pino wrote
  const logs = opts.logs;
  const log = logs === undefined ? pino({ level }) : pino({ level }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  const server = await startServer(config, log);
  const ls = server.listeners();
  const udp = ls.find((l) => l.transport === 'udp');
  const tcp = ls.find((l) => l.transport === 'tcp');
  const api = server.apiAddress();
  return { server, udpPort: udp?.port ?? 0, tcpPort: tcp?.port ?? 0, dataDir, apiUrl: `http://${api.host.includes(':') ? `[${api.host}]` : api.host}:${api.port}`, close: () => server.close() };
}

/** A port that is free for both UDP and TCP on 127.0.0.1 right now. */
export async function freeSipPort(): Promise<number> {
  const { createServer } = await import('node:net');
  const { createSocket } = await import('node:dgram');
  for (let i = 0; i < 20; i++) {
    const srv = createServer();
    const port = await new Promise<number>((resolve) => srv.listen(0, '127.0.0.1', () => resolve((srv.address() as { port: number }).port)));
    const ok = await new Promise<boolean>((resolve) => {
      const s = createSocket('udp4');
      s.once('error', () => { s.close(); resolve(false); });
      s.bind(port, '127.0.0.1', () => { s.close(); resolve(true); });
    });
    await new Promise((r) => srv.close(r));
    if (ok) return port;
  }
  throw new Error('no free port');
}

/**
 * A caller → sipfront → one backend triangle of raw UDP peers on 127.0.0.1: the backend answers
 * OPTIONS probes (so it is up), loopback is trusted, `extra` YAML lines are added to the config.
 */
export interface ProxyToOneBackend {
  sf: TestSipfront;
  port: number;
  backend: UdpPeer;
  caller: UdpPeer;
  close(): Promise<void>;
}

export async function startProxyToOneBackend(extra: string[] = [], opts: { logLevel?: string; logs?: Array<Record<string, unknown>> } = {}): Promise<ProxyToOneBackend> {
  const backend = await udpPeer({ answerOptions: true });
  const port = await freeSipPort();
  const sf = await startSipfront(
    [
      'listen:',
      `  - { transport: udp, host: 127.0.0.1, port: ${port} }`,
      'security: { trusted: [127.0.0.1/32] }',
      ...extra,
      'dispatcher:',
      '  probe: { interval: 1s, timeout: 500ms }',
      '  sets:',
      `    - { id: 1, name: b, algorithm: round-robin, destinations: [ { uri: "sip:127.0.0.1:${backend.port}" } ] }`,
    ].join('\n'),
    opts,
  );
  const caller = (await udpPeer()).to(port);
  backend.to(port);
  return {
    sf,
    port,
    backend,
    caller,
    close: async () => {
      await sf.close();
      await caller.close();
      await backend.close();
    },
  };
}
