// The console in headless Chromium against a REAL sipfront (in this process) with two sipp
// backends: sign in, see both backends up, disable one from the UI and see sipp's calls stop
// reaching it, open a call's ladder, and see a failover call's timed-out branch after a backend
// is killed. Screenshots of each step go to the artifacts folder.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { ARTIFACTS, ensureBuilt, launchChromium } from './helpers/browser.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSipfront, type TestSipfront } from './helpers/sipfront.js';
import { runSipp, startSippUas, type SippUas } from './helpers/sipp.js';
import { waitFor } from './helpers/wait.js';

const TOKEN = 'console-real-test-token-0123456789abcdef';


interface Arrow {
  label: string;
  from: string;
  to: string;
  retransmission: boolean;
}

/** The ladder's arrows as the DOM draws them, in order: label and the two columns' names. */
const readArrows = async (page: Page): Promise<Arrow[]> => {
  const svg = page.locator('svg.ladder');
  const raw = await svg.locator('g.arrow').evaluateAll((els) => els.map((el) => ({ aria: el.getAttribute('aria-label') ?? '', cls: el.getAttribute('class') ?? '' })));
  return raw.map(({ aria, cls }) => {
    // `+1.2 ms: INVITE sip:service@127.0.0.1:5060, 127.0.0.1:40000 to sipfront, CSeq 1 INVITE`
    const m = /^[^:]+: (.+?)(?: \(retransmission\))?, (\S+) to (\S+?)(?:, CSeq .*)?$/.exec(aria);
    if (m === null) throw new Error(`unexpected arrow label: ${aria}`);
    return { label: m[1]!, from: m[2]!, to: m[3]!, retransmission: cls.split(' ').includes('retransmission') };
  });
};

/** The first word of a label: `INVITE`, `ACK`, or a status code. */
const word = (label: string): string => label.split(' ')[0]!;

describe('console in headless Chromium against a real sipfront and two sipp backends', () => {
  let sf: TestSipfront;
  let a: SippUas;
  let b: SippUas;
  let A: string;
  let B: string;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  const consoleErrors: string[] = [];

  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${sf.apiUrl}/api/v1${path}`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: AbortSignal.timeout(5000) });
    if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };
  const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `console-real-${name}.png`), fullPage: true });
  const call = (calls = 1) =>
    runSipp({ scenario: 'uac.xml', remote: `127.0.0.1:${sf.udpPort}`, localHost: '127.0.0.2', calls, rate: 20, timeoutMs: 15_000 });

  beforeAll(async () => {
    ensureBuilt();
    mkdirSync(ARTIFACTS, { recursive: true });
    a = await startSippUas({ scenario: 'uas.xml' });
    b = await startSippUas({ scenario: 'uas.xml' });
    A = `sip:127.0.0.1:${a.port}`;
    B = `sip:127.0.0.1:${b.port}`;
    sf = await startSipfront(
      [
        'listen:',
        '  - { transport: udp, host: 127.0.0.1, port: 0 }',
        'security: { trusted: [127.0.0.0/8], flood: { window: 1s, max: 100000 } }',
        // T1 below first_answer: the INVITE to a dead backend is retransmitted once before failover
        'sip: { t1: 200ms }',
        'dispatcher:',
        '  probe: { interval: 1s, timeout: 500ms, down_after: 2 }',
        '  failover: { first_answer: 500ms }',
        '  sets:',
        '    - id: 1',
        '      name: asterisk',
        '      algorithm: round-robin',
        '      destinations:',
        `        - { uri: "${A}" }`,
        `        - { uri: "${B}" }`,
        `api: { host: 127.0.0.1, port: 0, token: ${TOKEN} }`,
      ].join('\n'),
    );
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) consoleErrors.push(m.text());
    });
    page.setDefaultTimeout(10_000);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await sf?.close();
    await a?.stop(500);
    await b?.stop(500);
  });

  it('signs in with the token and shows both backends up', async () => {
    await page.goto(`${sf.apiUrl}/console/`);
    await page.getByLabel('API token').fill(TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 2, name: 'Backends' }).waitFor();
    for (const uri of [A, B]) {
      const row = page.locator(`tr[data-dest="${uri}"][data-state="active"]`);
      await row.waitFor({ timeout: 8000 });
      expect(await row.locator('.badge').innerText()).toBe('active');
      // the probes answered: the chart says so
      expect(await row.locator('svg.probe-chart').getAttribute('aria-label')).toMatch(/answered 200/);
    }
    await page.locator('[data-live="open"]').waitFor();
    await shot('1-backends-up');
  });

  it('disabling a backend in the UI (confirmed) keeps sipp calls away from it', async () => {
    await page.getByRole('button', { name: `Disable ${B}` }).click();
    const dialog = page.getByRole('dialog', { name: `Disable ${B}?` });
    await dialog.waitFor();
    await shot('2-disable-confirm');
    await dialog.getByRole('button', { name: 'Disable' }).click();
    await page.locator(`tr[data-dest="${B}"][data-state="disabled"]`).waitFor();
    expect(await page.locator(`tr[data-dest="${B}"] .badge`).innerText()).toBe('disabled');
    await page.getByText(`${B} is now disabled.`).waitFor();
    // the server agrees, not only the page
    const sets = await api<{ sets: Array<{ destinations: Array<{ uri: string; state: string }> }> }>('/dispatcher/sets');
    expect(sets.sets[0]!.destinations.find((d) => d.uri === B)?.state).toBe('disabled');

    const beforeA = await a.invites();
    const beforeB = await b.invites();
    const r = await call(20);
    expect({ successful: r.successful, failed: r.failed }).toEqual({ successful: 20, failed: 0 });
    // sipp writes its short-message trace as it goes: wait for A's to show all 20
    await waitFor(async () => (await a.invites()) - beforeA === 20, { timeoutMs: 3000, what: 'backend A saw the 20 INVITEs' });
    expect(await b.invites()).toBe(beforeB);
    // the page shows the disabled one still disabled, and A's selections (refreshed without a reload)
    await page.locator(`tr[data-dest="${B}"][data-state="disabled"]`).waitFor();
    await waitFor(async () => Number(await page.locator(`tr[data-dest="${A}"] td[data-label="Selected"]`).innerText()) >= 20, {
      timeoutMs: 8000,
      what: "A's selected count on the page",
    });
    await shot('3-disabled-calls-avoid-it');
  }, 30_000);

  it("a call's ladder: INVITE, (100 from the backend), 180, 200, ACK, BYE, 200 across caller, sipfront and backend", async () => {
    const before = new Set(await a.received());
    const r = await call(1);
    expect(r.successful).toBe(1);
    const ids = (await waitFor(async () => {
      const got = (await a.received()).filter((id) => !before.has(id));
      return got.length > 0 ? got : undefined;
    }, { timeoutMs: 3000, what: 'the INVITE at A' })) as string[];
    expect(ids).toHaveLength(1);
    const callId = ids[0]!;
    const backend = a.address;

    await page.getByRole('link', { name: 'Calls', exact: true }).click();
    const row = page.locator(`tr[data-call="${callId}"]`);
    await row.waitFor({ timeout: 8000 });
    await shot('4-calls');
    await row.locator('a').click();
    await page.locator('svg.ladder').waitFor();
    // sipp saw the call end; the trace has both BYEs by the time the page asks (bounded wait anyway)
    await waitFor(async () => (await readArrows(page)).filter((x) => x.label.startsWith('BYE')).length >= 2, { timeoutMs: 8000, what: 'the whole call in the ladder' });
    const arrows = await readArrows(page);
    const columns = await page.locator('svg.ladder g.column text.column-label').allTextContents();
    expect(columns).toHaveLength(3);
    expect(columns[1]).toBe('sipfront');
    expect(columns[2]).toBe(backend);
    const caller = columns[0]!;
    expect(caller).toMatch(/^127\.0\.0\.2:\d+$/);

    const leg = (x: string) => arrows.filter((w) => (w.from === x && w.to === 'sipfront') || (w.from === 'sipfront' && w.to === x)).filter((w) => !w.retransmission);
    const expected = ['INVITE', '100', '180', '200', 'ACK', 'BYE', '200'];
    // each leg, in order: the caller's and the backend's. sipfront sends its own 100 only when the
    // backend has not rung within 200 ms (RFC 3261 §17.2.1), which sipp does at once; a machine
    // that stalls the process that long may still see one, right after the INVITE
    const callerLeg = leg(caller).filter((w, i) => !(i === 1 && word(w.label) === '100'));
    expect(callerLeg.map((w) => word(w.label))).toEqual(expected.filter((w) => w !== '100'));
    expect(leg(backend).map((w) => word(w.label))).toEqual(expected);
    // and who sent what: requests go caller → sipfront → backend, answers come back
    expect(callerLeg.map((w) => w.from)).toEqual([caller, 'sipfront', 'sipfront', caller, caller, 'sipfront']);
    expect(leg(backend).map((w) => w.from)).toEqual(['sipfront', backend, backend, backend, 'sipfront', 'sipfront', backend]);
    // across the whole diagram the steps come in that order too (a greedy subsequence)
    let at = -1;
    for (const w of expected) {
      const next = arrows.findIndex((x, k) => k > at && word(x.label) === w);
      expect(next, `${w} after arrow ${at}`).toBeGreaterThan(at);
      at = next;
    }
    expect(await page.locator('[data-outcome]').getAttribute('data-outcome')).toBe('answered');
    expect(await page.locator('[data-outcome]').innerText()).toContain(`from ${backend}`);
    await shot('5-ladder');
  }, 30_000);

  it("a killed backend: the failover call's ladder shows the timed-out branch and the next one", async () => {
    // bring B back under the probes while it is alive, then kill it and call at once, before the
    // probes (1 s apart, 2 misses) notice: round-robin sends one of two calls to it first
    await page.getByRole('link', { name: 'Backends' }).click();
    await page.getByRole('button', { name: `Activate ${B}` }).click();
    await page.locator(`tr[data-dest="${B}"][data-state="active"]`).waitFor({ timeout: 5000 });
    await b.stop(0);
    const before = new Set(await a.received());
    const r = await call(2);
    expect({ successful: r.successful, failed: r.failed }).toEqual({ successful: 2, failed: 0 });
    const ids = (await waitFor(async () => {
      const got = (await a.received()).filter((id) => !before.has(id));
      return got.length === 2 ? got : undefined;
    }, { timeoutMs: 3000, what: 'both INVITEs at A' })) as string[];
    const details = await Promise.all(ids.map((id) => api<{ messages: Array<{ direction: string; to: string; method: string }> }>(`/calls/${encodeURIComponent(id)}`)));
    const failedOver = ids.filter((_, i) => details[i]!.messages.some((m) => m.direction === 'out' && m.method === 'INVITE' && m.to.endsWith(b.address)));
    expect(failedOver).toHaveLength(1);
    const callId = failedOver[0]!;

    // the dead one is marked down by the probes or by the failed call, on the page without a reload
    await page.locator(`tr[data-dest="${B}"]:not([data-state="active"])`).waitFor({ timeout: 5000 });
    await shot('6-backend-killed');

    await page.getByRole('link', { name: 'Calls', exact: true }).click();
    await page.locator(`tr[data-call="${callId}"] a`).click();
    await page.locator('svg.ladder').waitFor();
    await waitFor(async () => (await readArrows(page)).some((x) => x.label.startsWith('BYE')), { timeoutMs: 8000, what: 'the whole call in the ladder' });
    const arrows = await readArrows(page);
    const columns = await page.locator('svg.ladder g.column text.column-label').allTextContents();
    expect(columns.slice(1)).toEqual(['sipfront', b.address, a.address]);

    const toDead = arrows.map((x, i) => ({ ...x, i })).filter((x) => x.to === b.address || x.from === b.address);
    // to the dead backend: the INVITE and its retransmission, nothing back
    expect(toDead.length).toBeGreaterThanOrEqual(2);
    expect(toDead.every((x) => x.from === 'sipfront' && word(x.label) === 'INVITE')).toBe(true);
    expect(toDead[0]!.retransmission).toBe(false);
    expect(toDead[1]!.retransmission).toBe(true);
    expect(await page.locator('svg.ladder g.arrow.retransmission').count()).toBeGreaterThanOrEqual(1);
    // then the next one: INVITE to the live backend after the dead one's, and its 200
    const nextInvite = arrows.findIndex((x) => x.from === 'sipfront' && x.to === a.address && word(x.label) === 'INVITE');
    expect(nextInvite).toBeGreaterThan(toDead[1]!.i);
    const ok = arrows.findIndex((x) => x.from === a.address && x.to === 'sipfront' && x.label === '200 OK');
    expect(ok).toBeGreaterThan(nextInvite);
    const outcome = page.locator('[data-outcome]');
    expect(await outcome.getAttribute('data-outcome')).toBe('answered');
    const text = await outcome.innerText();
    // first_answer is 500 ms: given up after about that, not after Timer B
    const waited = new RegExp(`${b.address.replace(/\./g, '\\.')} did not answer the INVITE within (\\d+) ms`).exec(text);
    expect(waited, text).not.toBeNull();
    expect(Number(waited![1])).toBeGreaterThanOrEqual(450);
    expect(Number(waited![1])).toBeLessThan(1500);
    expect(text).toContain(`${b.address}: did not answer the INVITE within ${waited![1]} ms (INVITE sent`);
    expect(text).toContain(`failover to ${a.address} answered 200 OK`);
    await shot('7-failover-ladder');
  }, 30_000);

  it('drains this sipfront and ends the drain from the UI; turns capture off and on', async () => {
    await page.getByRole('link', { name: 'Backends' }).click();
    const instance = page.locator('section.instance');
    await page.locator('section.instance[data-draining="false"]').waitFor();
    await page.getByRole('button', { name: 'Drain this sipfront' }).click();
    const dialog = page.getByRole('dialog', { name: 'Drain this sipfront?' });
    await dialog.getByRole('button', { name: 'Drain' }).click();
    await page.locator('section.instance[data-draining="true"]').waitFor();
    expect(await instance.locator('.badge').innerText()).toBe('draining');
    expect((await fetch(`${sf.apiUrl}/ready`, { signal: AbortSignal.timeout(5000) })).status).toBe(503);
    // a new call is refused while draining
    const refused = await call(1);
    expect({ successful: refused.successful, failed: refused.failed }).toEqual({ successful: 0, failed: 1 });
    await shot('8-draining');
    await page.getByRole('button', { name: 'End the drain' }).click();
    await page.locator('section.instance[data-draining="false"]').waitFor();
    expect((await fetch(`${sf.apiUrl}/ready`, { signal: AbortSignal.timeout(5000) })).status).toBe(200);

    // capture off: a call goes through but leaves no trace; back on: the next one is traced
    await page.getByRole('link', { name: 'Calls', exact: true }).click();
    await page.getByRole('combobox', { name: 'Capture' }).selectOption('off');
    await page.getByRole('button', { name: 'Save capture' }).click();
    await page.locator('form[data-capture="off"]').waitFor();
    expect(await api('/trace')).toMatchObject({ capture: 'off' });
    const before = new Set(await a.received());
    expect((await call(1)).successful).toBe(1);
    const [untraced] = (await waitFor(async () => {
      const got = (await a.received()).filter((id) => !before.has(id));
      return got.length === 1 ? got : undefined;
    }, { timeoutMs: 3000, what: 'the INVITE at A' })) as string[];
    const listed = await api<{ calls: Array<{ callId: string }> }>('/calls');
    expect(listed.calls.some((c) => c.callId === untraced)).toBe(false);
    await page.getByRole('combobox', { name: 'Capture' }).selectOption('all');
    await page.getByRole('button', { name: 'Save capture' }).click();
    await page.locator('form[data-capture="all"]').waitFor();
    expect(await api('/trace')).toMatchObject({ capture: 'all' });
    await shot('9-capture');
    // by now the probes have had their two misses at the killed backend: it is down
    await page.getByRole('link', { name: 'Backends' }).click();
    await page.locator(`tr[data-dest="${B}"][data-state="inactive"]`).waitFor({ timeout: 5000 });
    await shot('10-killed-backend-inactive');
    expect(pageErrors).toEqual([]);
    expect(consoleErrors).toEqual([]);
  }, 30_000);
});
