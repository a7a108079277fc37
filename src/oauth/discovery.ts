/**
 * Authorization server metadata (RFC 8414): what another service needs to trust Bastion's
 * tokens knowing only the issuer. Pure: every input is an argument.
 *
 * Only what Bastion really implements is listed:
 * - grant types: `client_credentials` alone (RFC 6749 §4.4 at the token endpoint). The
 *   login routes (`/api/login`, `/api/auth/login`, `/api/auth/refresh`) take JSON and answer
 *   in Bastion's own shape; they are not RFC 6749 §4.3 / §6 grants, so `password` and
 *   `refresh_token` are not claimed.
 * - no authorization endpoint (no grant here sends a browser through one), so no
 *   `authorization_endpoint`, and `response_types_supported` (REQUIRED by RFC 8414 §2) is
 *   the honest empty list.
 * - client authentication: `client_secret_basic` and `client_secret_post` (RFC 6749
 *   §2.3.1), at the token, introspection (RFC 7662) and revocation (RFC 7009) endpoints.
 * - the access-token signing algorithm: JWT_ALG. RFC 8414 has no member for it (RFC 9068
 *   access tokens came later), so it is published as `access_token_signing_alg_values_supported`,
 *   the name other servers use for it (an extension, RFC 8414 §2: "additional ... metadata
 *   parameters MAY also be used"). Under HS256 nothing public verifies a token: there is
 *   no `jwks_uri` then (the JWKS is empty), only the algorithm.
 *
 * /.well-known/openid-configuration serves the same document. RFC 8414 §5 notes that
 * OAuth deployments use that name outside OpenID Connect, and resource servers and gateways
 * look there first. Bastion is not an OpenID Provider: it issues no ID tokens and has no
 * authorization endpoint, so the members OpenID Connect Discovery 1.0 §3 makes REQUIRED
 * for an OP (`authorization_endpoint`, `subject_types_supported`,
 * `id_token_signing_alg_values_supported`, and a non-empty `response_types_supported`) are
 * left out rather than made up: a relying-party library then says "not an OpenID Provider",
 * which is true, while `issuer`, `jwks_uri` and the endpoints serve resource servers.
 */
import type { JwtAlg } from '../config/schema.ts';

export const WELL_KNOWN_AUTHORIZATION_SERVER = '/.well-known/oauth-authorization-server';
export const WELL_KNOWN_OPENID_CONFIGURATION = '/.well-known/openid-configuration';
export const JWKS_PATH = '/.well-known/jwks.json';

/** The OAuth endpoints (implemented in src/http/routes/, paths fixed by the contract with their routes). */
export const OAUTH_PATHS = {
  token: '/oauth/token',
  introspection: '/oauth/introspect',
  revocation: '/oauth/revoke',
  /** the ordered revocation feed instances read, for verifiers in other services (bastion/verify) */
  revocationFeed: '/api/revocations',
} as const;

/** RFC 6749 §2.3.1: the client's secret in HTTP Basic, or in the form body. */
export const CLIENT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post'] as const;

export interface ServerMetadata {
  readonly issuer: string;
  readonly jwks_uri?: string;
  readonly token_endpoint: string;
  readonly token_endpoint_auth_methods_supported: string[];
  readonly grant_types_supported: string[];
  readonly response_types_supported: string[];
  readonly introspection_endpoint: string;
  readonly introspection_endpoint_auth_methods_supported: string[];
  readonly revocation_endpoint: string;
  readonly revocation_endpoint_auth_methods_supported: string[];
  readonly access_token_signing_alg_values_supported: string[];
  /** Bastion's extension: `GET <this>?after=<cursor>` with client credentials (README "Other services") */
  readonly bastion_revocation_feed_endpoint: string;
  readonly service_documentation: string;
}

export interface MetadataInput {
  /** `iss` of the tokens (JWT_ISSUER, by default PUBLIC_URL) */
  readonly issuer: string;
  /** where Bastion answers (PUBLIC_URL, no trailing slash): endpoints are made absolute from it */
  readonly publicUrl: string;
  readonly alg: JwtAlg;
}

export function serverMetadata({ issuer, publicUrl, alg }: MetadataInput): ServerMetadata {
  const at = (path: string) => `${publicUrl}${path}`;
  return {
    issuer,
    ...(alg === 'HS256' ? {} : { jwks_uri: at(JWKS_PATH) }),
    token_endpoint: at(OAUTH_PATHS.token),
    token_endpoint_auth_methods_supported: [...CLIENT_AUTH_METHODS],
    grant_types_supported: ['client_credentials'],
    response_types_supported: [],
    introspection_endpoint: at(OAUTH_PATHS.introspection),
    introspection_endpoint_auth_methods_supported: [...CLIENT_AUTH_METHODS],
    revocation_endpoint: at(OAUTH_PATHS.revocation),
    revocation_endpoint_auth_methods_supported: [...CLIENT_AUTH_METHODS],
    access_token_signing_alg_values_supported: [alg],
    bastion_revocation_feed_endpoint: at(OAUTH_PATHS.revocationFeed),
    service_documentation: at('/docs'),
  };
}

/**
 * The metadata changes only with the configuration (a restart), so caches may keep it a
 * while; five minutes bounds how long a changed JWT_ALG or PUBLIC_URL stays unseen.
 */
export const METADATA_MAX_AGE_SEC = 300;

/**
 * How long a cache (a CDN, a caching proxy, a client honouring HTTP caching) may serve a
 * copy of the JWKS. A rotation makes the new key sign at once; the retired key stays in the
 * JWKS for `overlapSec` (ACCESS_TTL + JWT_LEEWAY, keys/service.ts) while its tokens expire.
 * A copy cached just before a rotation lacks the new key, so a service reading through such
 * a cache refuses the new tokens until the copy expires: max-age is that window. It is kept
 * under half the overlap (the rotation is seen downstream while the retired key's tokens are
 * still around, i.e. while the copy still matches what circulates) and never over five
 * minutes. A key gone from the JWKS signed only expired tokens, so a copy that still holds
 * it does no harm. Services that refetch on an unknown kid without a cache in between
 * (jose's remote set, PyJWKClient, bastion/verify) see a new key at once.
 */
export function jwksMaxAgeSec(overlapSec: number): number {
  return Math.max(0, Math.min(300, Math.floor(overlapSec / 2)));
}
