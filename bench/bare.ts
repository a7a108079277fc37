/** The baseline: a bare Fastify server answering the same JSON as /api/unsecure. */
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.get('/api/unsecure', async () => ({ message: 'This is unsecured data: anyone may read it.' }));
await app.listen({ host: '127.0.0.1', port: Number(process.env['PORT'] ?? 0) });
