/**
 * Build of the dashboard page (`npm run build:dashboard`, run by `npm install` through `prepare`):
 * api/dashboard → api/dashboard/dist, served by api/dashboard/routes.ts at `/`. Everything the page
 * needs is bundled (ECharts included); it loads nothing from another origin.
 */
import { defineConfig } from 'vite';

const root = new URL('.', import.meta.url).pathname;

export default defineConfig({
  root,
  base: '/',
  logLevel: 'warn',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 1500,
    assetsInlineLimit: 0,
  },
});
