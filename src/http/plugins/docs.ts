import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { SECURITY_SCHEME } from './auth.ts';

/**
 * OpenAPI 3.1 from the route schemas, at /openapi.json, and Swagger UI at /docs.
 * The security scheme is an apiKey in the Authorization header, as in the seed's
 * flask-restx app: the padlock takes "Bearer <token>" exactly as seed 000 types it.
 */
export async function registerDocs(app: FastifyInstance, version: string): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Bastion',
        version,
        description: 'JWT-secured API. Log in, then click Authorize and enter `Bearer <access_token>`.',
      },
      components: {
        securitySchemes: {
          [SECURITY_SCHEME]: {
            type: 'apiKey',
            in: 'header',
            name: 'Authorization',
            description: 'Type "Bearer " followed by the access token (the bare token works too).',
          },
        },
      },
    },
  });
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    uiConfig: { docExpansion: 'list', deepLinking: true, persistAuthorization: false },
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
