/**
 * Discovery (RFC 8414): the authorization server metadata, at its RFC 8414 well-known path
 * and at /.well-known/openid-configuration (why both, and why that name holds no
 * OpenID Provider members: src/oauth/discovery.ts). Public, cacheable, the same for every
 * instance that shares the configuration.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Services } from '../../services.ts';
import { METADATA_MAX_AGE_SEC, serverMetadata, WELL_KNOWN_AUTHORIZATION_SERVER, WELL_KNOWN_OPENID_CONFIGURATION } from '../../oauth/discovery.ts';

const Strings = Type.Array(Type.String());

/** Every member, so the serializer drops nothing (and adds nothing) by surprise. */
const Metadata = Type.Object({
  issuer: Type.String(),
  jwks_uri: Type.Optional(Type.String()),
  token_endpoint: Type.String(),
  token_endpoint_auth_methods_supported: Strings,
  grant_types_supported: Strings,
  response_types_supported: Strings,
  introspection_endpoint: Type.String(),
  introspection_endpoint_auth_methods_supported: Strings,
  revocation_endpoint: Type.String(),
  revocation_endpoint_auth_methods_supported: Strings,
  access_token_signing_alg_values_supported: Strings,
  bastion_revocation_feed_endpoint: Type.String(),
  service_documentation: Type.String(),
});

export function discoveryRoutes(services: Services): FastifyPluginAsyncTypebox {
  const { config } = services;
  // fixed for the life of the process: built once
  const metadata = serverMetadata({ issuer: config.jwt.issuer, publicUrl: config.mail.publicUrl, alg: config.jwt.alg });
  return async (app) => {
    for (const [url, summary] of [
      [WELL_KNOWN_AUTHORIZATION_SERVER, 'Authorization server metadata (RFC 8414): issuer, JWKS, token, introspection and revocation endpoints'],
      [WELL_KNOWN_OPENID_CONFIGURATION, 'The same metadata under the name resource servers look for first (not an OpenID Provider: no ID tokens)'],
    ] as const) {
      app.get(url, { schema: { tags: ['ops'], summary, response: { 200: Metadata } } }, async (_request, reply) => {
        reply.header('cache-control', `public, max-age=${METADATA_MAX_AGE_SEC}`);
        return metadata;
      });
    }
  };
}
