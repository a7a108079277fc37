import { defineConfig, type Plugin } from 'vite';

/** `npm run demo` listens here; the dev server forwards API paths to it (same origin, so cookies just work). */
const DEV_API = 'http://127.0.0.1:8085';
const API_PATHS = ['/api', '/authenticate', '/docs', '/openapi.json', '/.well-known'];

/**
 * The dev server injects CSS as <style> elements, which index.html's CSP (style-src 'self')
 * refuses; the policy is for the build, so it is dropped while serving in development.
 */
const devWithoutCsp: Plugin = {
  name: 'bastion-dev-without-csp',
  apply: 'serve',
  transformIndexHtml: (html) => html.replace(/<meta\s+http-equiv="Content-Security-Policy"[^>]*>/, ''),
};

// `vite build web` (npm run build:web) writes web/dist. Relative asset URLs (base './')
// let the same build run from any path or origin: the API server at `/`, a sub-path on
// static hosting, or a second origin talking to the API through CORS.
export default defineConfig({
  base: './',
  plugins: [devWithoutCsp],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
  },
  server: {
    host: '127.0.0.1',
    proxy: Object.fromEntries(API_PATHS.map((path) => [path, { target: DEV_API }])),
  },
});
