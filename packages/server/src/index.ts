// @sipfront/server: the `sipfront` command's library side (config loading; wiring in server.ts).

export * from './config/index.js';
export * from './server.js';
export * from './router.js';
