// Serves the web console's built files (packages/console/dist) at /console/: the right content
// types and caching (hashed assets for a year, index.html revalidated), a strict
// Content-Security-Policy (the console loads nothing from elsewhere), and index.html for any
// other path without a file extension, so a reload on a client-side route still works.
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply } from 'fastify';

export interface ConsoleOptions {
  /** the console's build output; default packages/console/dist beside this package */
  dir?: string;
  /** where it is served; default /console */
  prefix?: string;
  /** `GET /` redirects to the console; default true (skipped when / has a route already) */
  redirectRoot?: boolean;
}

/** packages/console/dist, from packages/api/src or packages/api/dist alike. */
export const DEFAULT_CONSOLE_DIR = fileURLToPath(new URL('../../console/dist/', import.meta.url));

/** The console loads scripts, styles and data from its own origin only. */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'self'",
].join('; ');

const securityHeaders = (reply: FastifyReply): void => {
  void reply.headers({
    'content-security-policy': CONSOLE_CSP,
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
  });
};

const notBuiltPage = (dir: string): string =>
  [
    '<!doctype html><html lang="en"><meta charset="utf-8"><title>sipfront console not built</title>',
    '<body>',
    '<h1>The sipfront console is not built</h1>',
    `<p>No <code>index.html</code> in <code>${dir.replace(/[<>&"]/g, '')}</code>. Build it with <code>pnpm --filter @sipfront/console build</code>`,
    '(<code>pnpm install</code> does it), then reload. The REST API under <code>/api/v1</code> works meanwhile.</p>',
  ].join('\n');

export const consolePlugin: FastifyPluginAsync<ConsoleOptions> = async (app, options) => {
  const dir = path.resolve(options.dir ?? DEFAULT_CONSOLE_DIR);
  const prefix = (options.prefix ?? '/console').replace(/\/+$/, '');
  // send() (through @fastify/static) does the file serving: content types, ETag, Last-Modified,
  // ranges, and refusing paths that leave `dir`; the routes below decide which file to send.
  await app.register(fastifyStatic, { root: dir, serve: false, decorateReply: true, cacheControl: false, dotfiles: 'ignore' });

  const sendIndex = (reply: FastifyReply): FastifyReply => {
    if (!existsSync(path.join(dir, 'index.html'))) return reply.code(503).type('text/html; charset=utf-8').send(notBuiltPage(dir));
    void reply.header('cache-control', 'no-cache');
    return reply.type('text/html; charset=utf-8').sendFile('index.html', dir);
  };

  app.get(prefix, { schema: { hide: true } }, (req, reply) => {
    const q = req.url.indexOf('?');
    return reply.redirect(`${prefix}/${q === -1 ? '' : req.url.slice(q)}`, 301);
  });

  if (options.redirectRoot !== false && prefix !== '' && !app.hasRoute({ method: 'GET', url: '/' })) {
    app.get('/', { schema: { hide: true } }, (_req, reply) => reply.redirect(`${prefix}/`, 302));
  }

  app.route({
    method: ['GET', 'HEAD'],
    url: `${prefix}/*`,
    schema: { hide: true },
    handler: async (req, reply) => {
      securityHeaders(reply);
      const rel = (req.params as { '*'?: string })['*'] ?? '';
      if (rel.includes('\0')) return reply.code(400).send({ error: { code: 'invalid-request', message: 'bad path' } });
      const clean = path.posix.normalize(`/${rel}`).slice(1);
      if (clean === '' || clean === 'index.html') return sendIndex(reply);
      const file = path.join(dir, clean);
      const inside = file.startsWith(dir + path.sep);
      const st = inside ? await stat(file).catch(() => undefined) : undefined;
      if (st?.isFile() === true) {
        // Vite puts content-hashed names under assets/: they never change, so they can be kept
        void reply.header('cache-control', clean.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'public, max-age=3600');
        return reply.sendFile(clean, dir);
      }
      // a client-side route (no extension): the app itself; a missing asset: a real 404
      if (path.posix.extname(clean) === '') return sendIndex(reply);
      return reply.code(404).send({ error: { code: 'not-found', message: `no file ${prefix}/${clean}` } });
    },
  });
};

/**
 * Adds the console's routes to the API server: `GET /console/…` (and `/console` → `/console/`,
 * `/` → `/console/`). Unauthenticated: the files hold no secrets; the page asks for the token.
 */
export const registerConsole = (app: FastifyInstance, options: ConsoleOptions = {}): void => {
  void app.register(consolePlugin, options);
};
