import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (name: string): string => fileURLToPath(new URL(`./packages/${name}/src/index.ts`, import.meta.url));

// Tests import sibling packages from their sources, so a test run never needs a fresh build
// of the package under test; integration tests that spawn the CLI use the built dist/.
export default defineConfig({
  resolve: {
    alias: {
      '@sipfront/core': src('core'),
      '@sipfront/dispatcher': src('dispatcher'),
      '@sipfront/registrar': src('registrar'),
      '@sipfront/security': src('security'),
      '@sipfront/trunks': src('trunks'),
      '@sipfront/api': src('api'),
      '@sipfront/server': src('server'),
    },
  },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    benchmark: { include: ['packages/*/src/**/*.bench.ts'] },
  },
});
