// The console in a real browser (Debian's headless Chromium driven by playwright-core) against a
// small fake of the REST API written here on node:http: the real API is still being finished, and
// a fake lets the test push exactly the events it wants. It serves the built console like
// registerConsole does, the JSON endpoints the views use, and an SSE stream.
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { ARTIFACTS, DIST, ensureBuilt, launchChromium } from './helpers/browser.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// not in @sipfront/api's exports (yet): the policy registerConsole sends
import { CONSOLE_CSP } from '../packages/api/src/console.js';

const TOKEN = 'console-test-token';
const A = 'sip:10.0.0.11:5060';
const B = 'sip:10.0.0.12:5060';
const CALL_ID = 'a84b4c76e66710@192.0.2.10';

// ---- the console's build --------------------------------------------------------------


// ---- the fake API ------------------------------------------------------------------------

interface Probe {
  at: string;
  code: number | null;
  rttMs: number;
  timedOut: boolean;
}

const probes = (pattern: Array<number | null>): Probe[] =>
  pattern.map((code, i) => ({ at: new Date(Date.now() - i * 5000).toISOString(), code, rttMs: code === null ? 1000 : 4 + ((i * 7) % 11), timedOut: code === null }));

const destination = (uri: string, state: string, p: Probe[], activeCalls: number, selectedTotal: number) => ({
  id: uri,
  uri,
  weight: 1,
  priority: 0,
  attrs: {},
  state,
  lastProbe: p[0] ?? null,
  probes: p,
  activeCalls,
  selectedTotal,
});

const CALLER = 'udp:192.0.2.10:5060';
const ME = 'udp:192.0.2.1:5060';
const B1 = 'udp:10.0.0.11:5060';
const B2 = 'udp:10.0.0.12:5060';
const T0 = Date.now() - 60_000;

const sipText = (firstLine: string, cseq: string, branch: string, extra: string[] = []): string =>
  [
    firstLine,
    `Via: SIP/2.0/UDP 192.0.2.1;branch=${branch}`,
    'From: <sip:1001@example.com>;tag=a1',
    'To: <sip:600@example.com>',
    `Call-ID: ${CALL_ID}`,
    `CSeq: ${cseq}`,
    ...extra,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');

const msg = (dt: number, direction: 'in' | 'out', from: string, to: string, firstLine: string, cseq: string, branch: string, extra: string[] = []) => {
  const st = /^SIP\/2\.0 (\d{3})/.exec(firstLine);
  return {
    at: T0 + dt,
    direction,
    from,
    to,
    transport: 'udp',
    firstLine,
    method: st === null ? firstLine.split(' ')[0] : '',
    status: st === null ? 0 : Number(st[1]),
    cseq,
    text: sipText(firstLine, cseq, branch, extra),
  };
};

/** A call whose first backend never answers: failover after 2 s to the second, which answers. */
const LADDER = [
  msg(0, 'in', CALLER, ME, 'INVITE sip:600@example.com SIP/2.0', '1 INVITE', 'z9hG4bKc', ['Authorization: Digest username="1001", realm="example.com", response="deadbeefdeadbeef"']),
  msg(1, 'out', ME, CALLER, 'SIP/2.0 100 Trying', '1 INVITE', 'z9hG4bKc'),
  msg(2, 'out', ME, B1, 'INVITE sip:600@example.com SIP/2.0', '1 INVITE', 'z9hG4bKa'),
  msg(502, 'out', ME, B1, 'INVITE sip:600@example.com SIP/2.0', '1 INVITE', 'z9hG4bKa'),
  msg(2002, 'out', ME, B2, 'INVITE sip:600@example.com SIP/2.0', '1 INVITE', 'z9hG4bKb'),
  msg(2004, 'in', B2, ME, 'SIP/2.0 100 Trying', '1 INVITE', 'z9hG4bKb'),
  msg(2010, 'in', B2, ME, 'SIP/2.0 180 Ringing', '1 INVITE', 'z9hG4bKb'),
  msg(2011, 'out', ME, CALLER, 'SIP/2.0 180 Ringing', '1 INVITE', 'z9hG4bKc'),
  msg(3000, 'in', B2, ME, 'SIP/2.0 200 OK', '1 INVITE', 'z9hG4bKb'),
  msg(3001, 'out', ME, CALLER, 'SIP/2.0 200 OK', '1 INVITE', 'z9hG4bKc'),
  msg(3010, 'in', CALLER, ME, 'ACK sip:600@10.0.0.12 SIP/2.0', '1 ACK', 'z9hG4bKd'),
  msg(3011, 'out', ME, B2, 'ACK sip:600@10.0.0.12 SIP/2.0', '1 ACK', 'z9hG4bKe'),
];
const LADDER_LABELS = [
  'INVITE sip:600@example.com',
  '100 Trying',
  'INVITE sip:600@example.com',
  'INVITE sip:600@example.com',
  'INVITE sip:600@example.com',
  '100 Trying',
  '180 Ringing',
  '180 Ringing',
  '200 OK',
  '200 OK',
  'ACK sip:600@10.0.0.12',
  'ACK sip:600@10.0.0.12',
];

interface Recorded {
  method: string;
  url: string;
  body: unknown;
}

interface FakeApi {
  url: string;
  requests: Recorded[];
  sets: Array<{ id: number; name: string; algorithm: string; destinations: Array<ReturnType<typeof destination>> }>;
  /** Sends one event to every open stream; how many streams got it. */
  push(type: string, data: unknown): number;
  streams(): number;
  /** Ends every open stream, as a restarting server would. */
  dropStreams(): void;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

const startFakeApi = async (): Promise<FakeApi> => {
  const requests: Recorded[] = [];
  const streams = new Set<ServerResponse>();
  const sets = [
    {
      id: 1,
      name: 'asterisk',
      algorithm: 'round-robin',
      destinations: [destination(A, 'active', probes([200, 200, 200, 200, null, 200, 200, 200, 200, 200]), 3, 120), destination(B, 'active', probes([200, 200, 503, 200, 200]), 1, 80)],
    },
  ];
  const regFetchedAt = Date.now();
  const registrations = () => [
    {
      aor: '1001@example.com',
      contacts: [
        {
          uri: 'sip:1001@203.0.113.7:5060;transport=udp',
          expiresIn: Math.max(0, 120 - Math.floor((Date.now() - regFetchedAt) / 1000)),
          source: 'udp:203.0.113.7:5060',
          userAgent: 'Zoiper rv2.10',
          q: null,
          callId: 'reg-1',
          path: [],
        },
      ],
    },
    { aor: '1002@example.com', contacts: [{ uri: 'sip:1002@198.51.100.4:40312;transport=tcp', expiresIn: 3500, source: 'tcp:198.51.100.4:40312', userAgent: null, q: 0.5, callId: 'reg-2', path: [] }] },
  ];
  const calls = [
    { callId: CALL_ID, startedAt: T0, lastAt: T0 + 3011, endedAt: null, from: 'sip:1001@example.com', to: 'sip:600@example.com', ruri: 'sip:600@example.com', status: 200, state: 'answered', messages: LADDER.length },
    { callId: 'failed-1@192.0.2.10', startedAt: T0 - 30_000, lastAt: T0 - 26_000, endedAt: T0 - 26_000, from: 'sip:1001@example.com', to: 'sip:601@example.com', ruri: 'sip:601@example.com', status: 408, state: 'failed', messages: 5 },
  ];

  const json = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
    res.end(body === undefined ? undefined : JSON.stringify(body));
  };
  const fail = (res: ServerResponse, status: number, code: string, message: string): void => json(res, status, { error: { code, message } });

  const serveConsole = (path: string, res: ServerResponse): void => {
    const rel = normalize(decodeURIComponent(path.slice('/console/'.length)) || 'index.html');
    let file = join(DIST, rel);
    if (!file.startsWith(DIST + sep) || !existsSync(file) || !statSync(file).isFile()) {
      if (extname(rel) !== '') return fail(res, 404, 'not-found', `no file ${path}`);
      file = join(DIST, 'index.html');
    }
    // the policy registerConsole sends: the console must work under it
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-security-policy': CONSOLE_CSP });
    res.end(readFileSync(file));
  };

  const api = (req: IncomingMessage, res: ServerResponse, path: string, body: unknown): void => {
    if (req.headers.authorization !== `Bearer ${TOKEN}`) {
      res.setHeader('www-authenticate', 'Bearer realm="sipfront"');
      return fail(res, 401, 'unauthorized', req.headers.authorization === undefined ? 'a Bearer token is required' : 'wrong token');
    }
    const m = req.method ?? 'GET';
    const p = path.slice('/api/v1'.length);
    let r: RegExpExecArray | null;
    if (m === 'GET' && p === '/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
      res.write('retry: 1000\n: connected\n\n');
      streams.add(res);
      res.on('close', () => streams.delete(res));
      return;
    }
    if (m === 'GET' && p === '/dispatcher/sets') return json(res, 200, { sets });
    if (m === 'PATCH' && (r = /^\/dispatcher\/sets\/(\d+)\/destinations\/([^/]+)$/.exec(p)) !== null) {
      const set = sets.find((s) => s.id === Number(r![1]));
      const d = set?.destinations.find((x) => x.id === decodeURIComponent(r![2]!));
      if (d === undefined) return fail(res, 404, 'not-found', 'no such destination');
      d.state = (body as { state: string }).state;
      return json(res, 200, d);
    }
    if (m === 'GET' && p === '/registrations') return json(res, 200, { registrations: registrations() });
    if (m === 'GET' && p === '/domains') return json(res, 200, { domains: [{ domain: 'example.com' }] });
    if (m === 'GET' && p.startsWith('/subscribers')) return json(res, 200, { subscribers: [{ user: '1001', domain: 'example.com', realms: ['example.com'], algorithms: ['MD5'] }] });
    if (m === 'GET' && p === '/bans') return json(res, 200, { bans: [] });
    if (m === 'GET' && p === '/calls') return json(res, 200, { calls });
    if (m === 'GET' && (r = /^\/calls\/([^/?]+)$/.exec(p)) !== null) {
      const call = calls.find((c) => c.callId === decodeURIComponent(r![1]!));
      if (call === undefined) return fail(res, 404, 'not-found', 'no such call');
      return json(res, 200, { call, messages: call.callId === CALL_ID ? LADDER : [] });
    }
    // what the real API still answers 501 for
    if (p.startsWith('/trunks') || p.startsWith('/trace')) return fail(res, 501, 'not-implemented', `${m} /api/v1${p} is not implemented yet`);
    return fail(res, 404, 'not-found', `no route ${m} ${path}`);
  };

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString();
      let body: unknown;
      try {
        body = raw === '' ? undefined : JSON.parse(raw);
      } catch {
        body = raw;
      }
      requests.push({ method: req.method ?? '', url: req.url ?? '', body });
      if (url.pathname === '/console') {
        res.writeHead(301, { location: '/console/' });
        res.end();
      } else if (url.pathname.startsWith('/console/')) serveConsole(url.pathname, res);
      else if (url.pathname.startsWith('/api/v1/')) api(req, res, url.pathname, body);
      else fail(res, 404, 'not-found', url.pathname);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    sets,
    push(type, data) {
      for (const s of streams) s.write(`event: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
      return streams.size;
    },
    streams: () => streams.size,
    dropStreams() {
      for (const s of streams) s.end();
      streams.clear();
    },
    close: async () => {
      for (const s of streams) s.end();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
};

// ---- the test ------------------------------------------------------------------------------

/** `4:05` or `1:02:03` → seconds */
const clockSeconds = (s: string): number => s.trim().split(':').map(Number).reduce((acc, n) => acc * 60 + n, 0);

describe('console in headless Chromium against a fake API', () => {
  let fake: FakeApi;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    ensureBuilt();
    mkdirSync(ARTIFACTS, { recursive: true });
    fake = await startFakeApi();
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    // a CSP violation is reported on the browser console
    page.on('console', (m) => {
      if (m.type() === 'error' && !/401|501|Failed to load resource/.test(m.text())) consoleErrors.push(m.text());
    });
    page.setDefaultTimeout(10_000);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await fake?.close();
  });

  it('signs in: a wrong token is refused, the right one opens the backends', async () => {
    await page.goto(`${fake.url}/console/`);
    await page.getByLabel('API token').fill('wrong');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('The token was refused (401)').waitFor();
    await page.getByLabel('API token').fill(TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 2, name: 'Backends' }).waitFor();
    // the token went in the header, never in a URL
    expect(fake.requests.some((r) => r.url.includes(TOKEN))).toBe(false);
    expect(await page.evaluate(() => sessionStorage.length)).toBe(1);
    expect(await page.evaluate(() => localStorage.length)).toBe(0);
  });

  it('shows every destination with its state as a word and its probes', async () => {
    const rowA = page.locator(`tr[data-dest="${A}"]`);
    const rowB = page.locator(`tr[data-dest="${B}"]`);
    await rowA.waitFor();
    expect(await rowA.getAttribute('data-state')).toBe('active');
    expect(await rowB.getAttribute('data-state')).toBe('active');
    expect(await rowA.locator('.badge').innerText()).toBe('active');
    expect(await rowA.locator('svg.probe-chart').getAttribute('aria-label')).toBe('last 10 probes: 9 answered 200, 1 timed out');
    expect(await rowA.locator('svg.probe-chart rect').count()).toBe(10);
    await page.getByText('Live', { exact: true }).waitFor();
  });

  it('a state change arriving over SSE updates the page without a reload', async () => {
    await page.evaluate(() => {
      (window as unknown as { marker: number }).marker = 42;
    });
    fake.sets[0]!.destinations[1]!.state = 'inactive';
    expect(fake.push('destination', { setId: 1, uri: B, from: 'active', to: 'inactive', cause: 'probe' })).toBeGreaterThan(0);
    const rowB = page.locator(`tr[data-dest="${B}"][data-state="inactive"]`);
    await rowB.waitFor({ timeout: 3000 });
    expect(await rowB.locator('.badge').innerText()).toBe('inactive');
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(42);
    await page.screenshot({ path: join(ARTIFACTS, 'console-backends.png'), fullPage: true });
  });

  it('reconnects the event stream after the server drops it, and still applies events', async () => {
    fake.dropStreams();
    await page.locator('[data-live="waiting"]').waitFor({ timeout: 3000 });
    await page.locator('[data-live="open"]').waitFor({ timeout: 5000 });
    expect(fake.streams()).toBe(1);
    fake.sets[0]!.destinations[1]!.state = 'probing';
    fake.push('destination', { setId: 1, uri: B, from: 'inactive', to: 'probing', cause: 'probe' });
    await page.locator(`tr[data-dest="${B}"][data-state="probing"]`).waitFor({ timeout: 3000 });
  });

  it('disable asks for confirmation and only then sends the PATCH', async () => {
    const patches = () => fake.requests.filter((r) => r.method === 'PATCH');
    const disable = page.getByRole('button', { name: `Disable ${A}` });
    await disable.click();
    const dialog = page.getByRole('dialog', { name: `Disable ${A}?` });
    await dialog.waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'console-confirm.png') });
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
    expect(patches()).toHaveLength(0);

    await disable.click();
    await dialog.getByRole('button', { name: 'Disable' }).click();
    await page.locator(`tr[data-dest="${A}"][data-state="disabled"]`).waitFor();
    expect(patches()).toEqual([{ method: 'PATCH', url: `/api/v1/dispatcher/sets/1/destinations/${encodeURIComponent(A)}`, body: { state: 'disabled' } }]);
    await page.getByText(`${A} is now disabled.`).waitFor();
  });

  it('registrations: contacts with source, transport, User-Agent and a countdown that runs', async () => {
    await page.getByRole('link', { name: 'Registrations' }).click();
    const card = page.locator('[data-aor="1001@example.com"]');
    await card.waitFor();
    const text = await card.innerText();
    expect(text).toContain('203.0.113.7:5060');
    expect(text).toContain('UDP');
    expect(text).toContain('Zoiper rv2.10');
    const countdown = card.locator('[data-countdown]');
    const first = clockSeconds(await countdown.innerText());
    expect(first).toBeGreaterThan(100);
    expect(first).toBeLessThanOrEqual(120);
    await page.waitForTimeout(2300);
    const later = clockSeconds(await countdown.innerText());
    expect(first - later).toBeGreaterThanOrEqual(1);
    expect(first - later).toBeLessThanOrEqual(4);
    await page.getByLabel('Search by AOR').fill('1002');
    await page.locator('[data-aor="1001@example.com"]').waitFor({ state: 'detached' });
    expect(await page.locator('[data-aor="1002@example.com"]').count()).toBe(1);
    await page.getByLabel('Search by AOR').fill('');
    await page.screenshot({ path: join(ARTIFACTS, 'console-registrations.png'), fullPage: true });
  });

  it('a panel whose endpoint answers 501 says so instead of going blank', async () => {
    await page.getByRole('link', { name: 'Trunks' }).click();
    await page.getByText('Not available on this server yet: the API answered 501').waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'console-trunks-501.png') });
  });

  it('calls: the list highlights the failed call, and a call opens as a ladder', async () => {
    await page.getByRole('link', { name: 'Calls', exact: true }).click();
    await page.locator('tr.failed[data-call="failed-1@192.0.2.10"]').waitFor();
    await page.locator(`tr[data-call="${CALL_ID}"] a`).click();
    const svg = page.locator('svg.ladder');
    await svg.waitFor();
    expect(await svg.getAttribute('data-arrows')).toBe(String(LADDER.length));
    expect(await svg.locator('g.arrow').count()).toBe(LADDER.length);
    const labels = await svg.locator('g.arrow text.label').allTextContents();
    expect(labels).toEqual(LADDER_LABELS);
    // the second INVITE to the first backend is drawn as a retransmission
    expect(await svg.locator('g.arrow.retransmission').count()).toBe(1);
    expect(await svg.locator('g.arrow.retransmission').getAttribute('data-index')).toBe('3');
    const offsets = await svg.locator('g.arrow text.offset').allTextContents();
    expect(offsets.slice(0, 3)).toEqual(['+0 ms', '+1.0 ms', '+2.0 ms']);
    expect(offsets.at(-1)).toBe('+3.011 s');
    expect(await svg.locator('g.column text.column-label').allTextContents()).toEqual(['192.0.2.10:5060', 'sipfront', '10.0.0.11:5060', '10.0.0.12:5060']);
    const outcome = await page.locator('[data-outcome]').innerText();
    expect(outcome).toContain('10.0.0.11:5060 did not answer the INVITE within 2.0 s');
    expect(outcome).toContain('failover to 10.0.0.12:5060 answered 200 OK');

    // click the first arrow: the whole message, with its Authorization redacted
    await svg.locator('g.arrow').first().click();
    const pre = page.locator('pre.message');
    await pre.waitFor();
    const shown = await pre.innerText();
    expect(shown).toContain('INVITE sip:600@example.com SIP/2.0');
    expect(shown).toContain('Authorization: Digest username="1001", [redacted]');
    expect(shown).not.toContain('deadbeef');
    // the keyboard moves between arrows and Enter opens one
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Message 2: 100 Trying' }).waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'console-ladder.png'), fullPage: true });
  });

  it('fits a phone-width screen', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByRole('link', { name: 'Backends' }).click();
    await page.locator(`tr[data-dest="${A}"]`).waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await page.screenshot({ path: join(ARTIFACTS, 'console-phone.png'), fullPage: true });
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.goto(`${fake.url}/console/#/calls/${encodeURIComponent(CALL_ID)}`);
    await page.locator('svg.ladder').waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'console-phone-dark-ladder.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
    expect(consoleErrors).toEqual([]);
  });
});
