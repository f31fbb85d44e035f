// Builds the console into dist/, served by the API at /console/. JSX goes through esbuild's
// automatic runtime with Preact as the import source, so no framework plugin is needed.
import { defineConfig } from 'vite';

// A default export, against the house rule, because Vite looks for one.
export default defineConfig({
  base: '/console/',
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    modulePreload: { polyfill: false },
    reportCompressedSize: true,
  },
  server: { proxy: { '/api': 'http://127.0.0.1:8080' } },
});
