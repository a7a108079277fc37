import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { PACKAGE_ROOT } from '../../lib/paths.ts';

/** web/dist, from the sources, the compiled files and the bundle alike. */
export const WEB_ROOT = join(PACKAGE_ROOT, 'web', 'dist') + '/';

/**
 * The front end, built by `npm run build:web`, served at `/`. Only files that exist are
 * routed (no wildcard), so every other path still gets the JSON 404. Without a build,
 * `/` points at the API docs.
 */
export async function registerWeb(app: FastifyInstance): Promise<void> {
  if (!existsSync(`${WEB_ROOT}index.html`)) {
    app.get('/', { schema: { hide: true } }, async (_request, reply) => reply.redirect('/docs'));
    return;
  }
  await app.register(fastifyStatic, {
    root: WEB_ROOT,
    prefix: '/',
    wildcard: false,
    index: ['index.html'],
    // hashed assets never change; the page itself must be re-checked on every load
    setHeaders: (res, path) => {
      res.setHeader('cache-control', path.includes('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache');
    },
  });
}
