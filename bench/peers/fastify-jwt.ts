/**
 * The peer Bastion is measured against (issue #10): the usual Fastify setup, @fastify/jwt
 * with HS256, an open and a protected route answering the same JSON as Bastion's. Its
 * open route is also the "bare Fastify" baseline. BENCH_JWT_SECRET is the HS256 secret.
 *
 * BENCH_RESPONSE_HEADERS (a JSON object) makes it a reference instead: every response
 * carries those headers and a new X-Request-Id, as Bastion's do, set in one onRequest hook.
 * It shows what sending Bastion's headers costs Fastify itself.
 */
import { randomUUID } from 'node:crypto';
import fastifyJwt from '@fastify/jwt';
import Fastify from 'fastify';

const secret = process.env['BENCH_JWT_SECRET'];
if (!secret) throw new Error('BENCH_JWT_SECRET is required');

const app = Fastify({ logger: false });
const responseHeaders = process.env['BENCH_RESPONSE_HEADERS'];
if (responseHeaders) {
  const headers = JSON.parse(responseHeaders) as Record<string, string>;
  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(headers).header('x-request-id', randomUUID());
    done();
  });
}
await app.register(fastifyJwt, { secret, verify: { algorithms: ['HS256'] } });

app.get('/api/unsecure', async () => ({ message: 'This is unsecured data: anyone may read it.' }));
app.get('/api/secure', { onRequest: async (request) => void (await request.jwtVerify()) }, async (request) => {
  const user = request.user as { sub: string; roles?: string[] };
  return { message: 'This is secured data: only logged-in users see it.', user_id: user.sub, roles: user.roles ?? [] };
});

await app.listen({ host: '127.0.0.1', port: Number(process.env['PORT'] ?? 0) });
