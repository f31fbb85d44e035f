// What the console's browser tests share: the console's build (made when missing or stale),
// Debian's Chromium launched headless for this machine (root, no outside network), and the
// folder screenshots go to (CI keeps test/artifacts/).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CONSOLE = join(ROOT, 'packages', 'console');
export const DIST = join(CONSOLE, 'dist');
export const CHROMIUM = '/usr/bin/chromium';
export const ARTIFACTS = process.env.SIPFRONT_TEST_ARTIFACTS ?? join(tmpdir(), 'sipfront-artifacts');

const newest = (dir: string): number => {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
};

/** Builds the console when dist/ is missing or older than its sources. */
export const ensureBuilt = (): void => {
  const index = join(DIST, 'index.html');
  const sources = Math.max(newest(join(CONSOLE, 'src')), statSync(join(CONSOLE, 'index.html')).mtimeMs);
  if (existsSync(index) && statSync(index).mtimeMs >= sources) return;
  execFileSync('pnpm', ['--filter', '@sipfront/console', 'build'], { cwd: ROOT, stdio: 'pipe', timeout: 120_000 });
};

/** Headless Chromium from Debian; fails saying what to install when it is missing. */
export const launchChromium = async (): Promise<Browser> => {
  if (!existsSync(CHROMIUM)) throw new Error(`missing ${CHROMIUM}: install the Debian package chromium (apt-get install -y chromium)`);
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 30_000,
  });
};
