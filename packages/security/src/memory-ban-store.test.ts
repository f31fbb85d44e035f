import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Ban } from './ban.js';
import { BANS_FILE, createMemoryBanStore } from './memory-ban-store.js';
import { createSecurity } from './security.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sipfront-bans-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const waitFor = async (cond: () => Promise<boolean>, ms = 2000): Promise<void> => {
  const until = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

const fileBans = async (): Promise<Ban[]> => (JSON.parse(await readFile(join(dir, BANS_FILE), 'utf8')) as { bans: Ban[] }).bans;

const OPTIONS = {
  trusted: [],
  flood: { window: 1000, max: 50, ban: 60_000 },
  authFailures: { max: 5, window: 60_000, ban: 3_600_000 },
  blockUserAgents: [],
  banReply: 'drop' as const,
};

describe('memory ban store', () => {
  it('persists bans to a JSON file (debounced, atomic) and loads them at the next start', async () => {
    const store = createMemoryBanStore({}, { dir, persistDelayMs: 20 });
    const security = createSecurity({ bans: store }, OPTIONS);
    await security.ready;
    const a = security.ban('192.0.2.1', 600);
    const b = security.ban('2001:db8::7', 600, 'auth-failures');
    await waitFor(async () => (await fileBans().catch(() => [])).length === 2);
    expect(await fileBans()).toEqual([a, b]);
    security.unban('192.0.2.1');
    await waitFor(async () => (await fileBans()).length === 1);
    security.close();
    await store.close();
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);

    const again = createMemoryBanStore({}, { dir });
    const restarted = createSecurity({ bans: again }, OPTIONS);
    await restarted.ready;
    expect(restarted.listBans()).toEqual([b]);
    restarted.close();
    await again.close();
  });

  it('close() writes what is pending at once', async () => {
    const store = createMemoryBanStore({}, { dir, persistDelayMs: 60_000 });
    await store.load();
    const ban: Ban = { ip: '192.0.2.2', reason: 'manual', createdAt: Date.now(), expiresAt: Date.now() + 60_000 };
    await store.put(ban);
    await store.close();
    expect(await fileBans()).toEqual([ban]);
  });

  it('leaves out expired and malformed entries, and survives a corrupt file', async () => {
    const now = Date.now();
    const good: Ban = { ip: '192.0.2.3', reason: 'scanner', createdAt: now, expiresAt: now + 60_000 };
    await writeFile(
      join(dir, BANS_FILE),
      JSON.stringify({ bans: [good, { ...good, ip: '192.0.2.4', expiresAt: now - 1 }, { ...good, ip: 'nope' }, { ...good, ip: '192.0.2.5', reason: 'spite' }] }),
    );
    const store = createMemoryBanStore({}, { dir });
    expect(await store.load()).toEqual([good]);
    await store.close();

    await writeFile(join(dir, BANS_FILE), '{ not json');
    const broken = createMemoryBanStore({}, { dir });
    expect(await broken.load()).toEqual([]);
    await broken.close();
  });

  it('without a directory keeps bans in memory only', async () => {
    const store = createMemoryBanStore();
    const ban: Ban = { ip: '192.0.2.6', reason: 'manual', createdAt: Date.now(), expiresAt: Date.now() + 1000 };
    await store.put(ban);
    expect(await store.load()).toEqual([ban]);
    await store.close();
    expect(await readdir(dir)).toEqual([]);
  });
});
