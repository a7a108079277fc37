/**
 * Passkeys (WebAuthn): register, list, rename and delete them on one's account; log in
 * with one without a username (token mode and cookie mode); and the options for answering
 * a two-factor challenge with one (the answer goes to POST /api/auth/login/mfa or
 * /authenticate/mfa as `passkey`). The ceremonies live in passkeys/service.ts.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { PasskeyInfo } from '../../passkeys/service.ts';
import type { Services } from '../../services.ts';
import type { TokenPair } from '../../sessions/service.ts';
import { cookieSession } from '../cookies.ts';
import { AuthenticationResponse, CookieSession, EmptyBody, PasskeyOptions, RegistrationResponse, TokenPair as TokenPairSchema } from '../schemas.ts';
import { emptyBodyAsObject } from './auth.ts';
import { auditContext, clientInfo, tokenBody } from './login.ts';

const tags = ['passkeys'];

const Name = Type.String({ minLength: 1, maxLength: 64, description: 'A name to tell your passkeys apart, e.g. "Laptop"' });

const Passkey = Type.Object({
  id: Type.String({ description: 'the credential id (base64url)' }),
  name: Type.String(),
  created_at: Type.String({ format: 'date-time' }),
  last_used_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  transports: Type.Array(Type.String(), { description: 'how the browser can reach the authenticator (usb, nfc, ble, internal, hybrid)' }),
  backup_eligible: Type.Boolean({ description: 'a synced (multi-device) passkey' }),
  backed_up: Type.Boolean({ description: 'it is currently backed up (synced)' }),
});

const RegisterBody = Type.Object({ name: Name, credential: RegistrationResponse }, { additionalProperties: false });
const RenameBody = Type.Object({ name: Name }, { additionalProperties: false });
const LoginBody = Type.Object({ credential: AuthenticationResponse }, { additionalProperties: false });
const ChallengeBody = Type.Object(
  { challenge_token: Type.String({ minLength: 1, maxLength: 256, description: 'details.challenge_token of the mfa_required answer' }) },
  { additionalProperties: false },
);
const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 1400 }) });

const iso = (ms: number) => new Date(ms).toISOString();
const publicPasskey = (p: PasskeyInfo) => ({
  id: p.id,
  name: p.name,
  created_at: iso(p.created_at),
  last_used_at: p.last_used_at === null ? null : iso(p.last_used_at),
  transports: [...p.transports],
  backup_eligible: p.backup_eligible,
  backed_up: p.backed_up,
});

/** A passkey login: the same session, tokens and cookies as a password login, auth_time now. */
async function passkeyLogin(services: Services, request: FastifyRequest, credential: unknown, cookieMode: boolean): Promise<TokenPair> {
  const client = clientInfo(request);
  const user = await services.passkeys.login(credential as AuthenticationResponseJSON, client);
  return services.sessions.start(user, client, cookieMode);
}

export function passkeyRoutes(services: Services): FastifyPluginAsyncTypebox {
  const { config, clock, passkeys, users, mfa } = services;

  return async (app) => {
    // --- my passkeys ----------------------------------------------------------------
    app.get(
      '/api/auth/passkeys',
      { preHandler: app.requireUser, schema: { tags, summary: 'My passkeys', response: { 200: Type.Array(Passkey) } } },
      async (request) => (await passkeys.list(request.auth!.sub)).map(publicPasskey),
    );

    // Adding or removing a way to log in needs a recent login (as a password change does),
    // so a browser left logged in cannot plant a passkey for later (OWASP ASVS 2.5.x).
    app.post(
      '/api/auth/passkeys/registration/options',
      {
        preValidation: emptyBodyAsObject,
        preHandler: app.requireFreshAuth,
        schema: { tags, summary: 'Start registering a passkey: options for navigator.credentials.create()', body: EmptyBody, response: { 200: PasskeyOptions } },
      },
      async (request, reply) => {
        reply.header('cache-control', 'no-store');
        return passkeys.registrationOptions(await users.get(request.auth!.sub));
      },
    );

    app.post(
      '/api/auth/passkeys',
      {
        preHandler: app.requireFreshAuth,
        schema: { tags, summary: 'Finish registering a passkey: the authenticator’s answer and a name', body: RegisterBody, response: { 201: Passkey } },
      },
      async (request, reply) => {
        const info = await passkeys.register(request.auth!.sub, request.body.name, request.body.credential as RegistrationResponseJSON, auditContext(request));
        return reply.code(201).send(publicPasskey(info));
      },
    );

    app.patch(
      '/api/auth/passkeys/:id',
      {
        preHandler: app.requireUser,
        schema: { tags, summary: 'Rename one of my passkeys', params: IdParams, body: RenameBody, response: { 200: Passkey } },
      },
      async (request) => publicPasskey(await passkeys.rename(request.auth!.sub, request.params.id, request.body.name, auditContext(request))),
    );

    app.delete(
      '/api/auth/passkeys/:id',
      { preHandler: app.requireFreshAuth, schema: { tags, summary: 'Delete one of my passkeys (recent login needed)', params: IdParams } },
      async (request, reply) => {
        await passkeys.remove(request.auth!.sub, request.params.id, auditContext(request));
        return reply.code(204).send();
      },
    );

    // --- logging in with a passkey ---------------------------------------------------
    app.post(
      '/api/auth/login/passkey/options',
      {
        preValidation: emptyBodyAsObject,
        schema: { tags, summary: 'Start a passkey login (no username): options for navigator.credentials.get()', body: EmptyBody, response: { 200: PasskeyOptions } },
      },
      async (_request, reply) => {
        reply.header('cache-control', 'no-store');
        return passkeys.loginOptions();
      },
    );

    app.post(
      '/api/auth/login/passkey',
      { schema: { tags, summary: 'Log in with a passkey -> token pair', body: LoginBody, response: { 200: TokenPairSchema } } },
      async (request, reply) => {
        reply.header('cache-control', 'no-store'); // RFC 6749 §5.1
        return tokenBody(await passkeyLogin(services, request, request.body.credential, false));
      },
    );

    app.post(
      '/authenticate/passkey',
      { schema: { tags, summary: 'Log in with a passkey -> session cookies', body: LoginBody, response: { 200: CookieSession } } },
      async (request, reply) =>
        cookieSession(reply, await passkeyLogin(services, request, request.body.credential, true), config.cookie, clock.now(), 'Authenticated'),
    );

    app.post(
      '/api/auth/login/mfa/passkey/options',
      {
        schema: {
          tags,
          summary: 'Second login step with a passkey: options for navigator.credentials.get(), for the challenge from mfa_required',
          body: ChallengeBody,
          response: { 200: PasskeyOptions },
        },
      },
      async (request, reply) => {
        reply.header('cache-control', 'no-store');
        return mfa.passkeyOptions(request.body.challenge_token);
      },
    );
  };
}
