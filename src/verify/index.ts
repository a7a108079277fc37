/**
 * `bastion/verify`: Bastion's access tokens verified in a team's other Node services.
 * Imports jose, fastify-plugin and node built-ins only: none of Bastion's server modules,
 * so it runs anywhere those do. README "Other services" walks through it.
 */
export { createVerifier, scopesOf, type AccessTokenClaims, type Verifier, type VerifierOptions, type VerifierStatus } from './verifier.ts';
export { VerifyError, VERIFY_ERRORS, type VerifyErrorCode } from './errors.ts';
export { DiscoveryError, type IssuerMetadata } from './metadata.ts';
export { FeedError } from './revocations.ts';
export { bearerToken, type GuardPolicy } from './guard.ts';
export { fastifyVerifier, type FastifyVerifierOptions } from './fastify.ts';
export { expressVerifier, type ExpressVerifierOptions, type Middleware, type RequestWithClaims } from './express.ts';
