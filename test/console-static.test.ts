// registerConsole: the console's files at /console/ with their content types and caching, the
// index for client-side routes, real 404s for missing assets, no escape from the directory, and
// a clear page when the console has not been built.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerConsole } from '@sipfront/api';

type App = Parameters<typeof registerConsole>[0];

// fastify is a dependency of the api package, not of test/: load it from there
const requireFromApi = createRequire(new URL('../packages/api/package.json', import.meta.url));
const Fastify = requireFromApi('fastify') as (opts?: object) => App;

const OUTSIDE_NAME = `sipfront-console-outside-${process.pid}.txt`;
const OUTSIDE_CONTENT = 'OUTSIDE-THE-CONSOLE-DIRECTORY';
let dir: string;
let app: App;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sipfront-console-static-'));
  mkdirSync(join(dir, 'assets'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>console</title><div id="app"></div>');
  writeFileSync(join(dir, 'assets', 'index-abc123.js'), 'export const x = 1;\n');
  writeFileSync(join(dir, 'assets', 'index-abc123.css'), 'body{margin:0}\n');
  writeFileSync(join(dir, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  writeFileSync(join(dir, '.secret'), 'nope');
  writeFileSync(join(dir, '..', OUTSIDE_NAME), OUTSIDE_CONTENT);
  app = Fastify();
  registerConsole(app, { dir });
  await app.ready();
});

afterAll(async () => {
  await app?.close();
  rmSync(dir, { recursive: true, force: true });
  rmSync(join(dir, '..', OUTSIDE_NAME), { force: true });
});

describe('registerConsole', () => {
  it('serves index.html at /console/ with html type, no-cache and a strict CSP', async () => {
    const r = await app.inject({ method: 'GET', url: '/console/' });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/html/);
    expect(r.headers['cache-control']).toBe('no-cache');
    expect(String(r.headers['content-security-policy'])).toContain("default-src 'self'");
    expect(String(r.headers['content-security-policy'])).toContain("frame-ancestors 'none'");
    expect(r.headers['x-content-type-options']).toBe('nosniff');
    expect(r.body).toContain('<div id="app">');
  });

  it('serves hashed assets with their content types, cached for a year', async () => {
    const js = await app.inject({ method: 'GET', url: '/console/assets/index-abc123.js' });
    expect(js.statusCode).toBe(200);
    expect(js.headers['content-type']).toMatch(/^(text|application)\/javascript/);
    expect(js.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    const css = await app.inject({ method: 'GET', url: '/console/assets/index-abc123.css' });
    expect(css.headers['content-type']).toMatch(/^text\/css/);
    const svg = await app.inject({ method: 'GET', url: '/console/favicon.svg' });
    expect(svg.headers['content-type']).toMatch(/^image\/svg\+xml/);
    expect(svg.headers['cache-control']).toBe('public, max-age=3600');
    const head = await app.inject({ method: 'HEAD', url: '/console/assets/index-abc123.js' });
    expect(head.statusCode).toBe(200);
  });

  it('answers client-side routes with the index, missing files with a JSON 404', async () => {
    const route = await app.inject({ method: 'GET', url: '/console/calls/abc' });
    expect(route.statusCode).toBe(200);
    expect(route.headers['content-type']).toMatch(/^text\/html/);
    const missing = await app.inject({ method: 'GET', url: '/console/assets/gone-123.js' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ error: { code: 'not-found' } });
  });

  it('redirects /console and / to /console/', async () => {
    const c = await app.inject({ method: 'GET', url: '/console?x=1' });
    expect(c.statusCode).toBe(301);
    expect(c.headers.location).toBe('/console/?x=1');
    const root = await app.inject({ method: 'GET', url: '/' });
    expect(root.statusCode).toBe(302);
    expect(root.headers.location).toBe('/console/');
  });

  it('never serves dot files or anything outside its directory', async () => {
    const dot = await app.inject({ method: 'GET', url: '/console/.secret' });
    expect(dot.statusCode).toBe(404);
    for (const url of [`/console/../${OUTSIDE_NAME}`, `/console/%2e%2e/${OUTSIDE_NAME}`, `/console/assets/..%2f..%2f${OUTSIDE_NAME}`, `/console/..%5c${OUTSIDE_NAME}`]) {
      const r = await app.inject({ method: 'GET', url });
      expect(r.body, url).not.toContain(OUTSIDE_CONTENT);
    }
  });

  it('says how to build the console when its files are missing', async () => {
    const empty = Fastify();
    registerConsole(empty, { dir: join(dir, 'no-such-dir'), redirectRoot: false });
    await empty.ready();
    const r = await empty.inject({ method: 'GET', url: '/console/' });
    expect(r.statusCode).toBe(503);
    expect(r.body).toContain('pnpm --filter @sipfront/console build');
    expect((await empty.inject({ method: 'GET', url: '/' })).statusCode).toBe(404);
    await empty.close();
  });
});
