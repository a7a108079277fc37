/**
 * Two-factor authentication (TOTP, RFC 6238): enrol, confirm, disable, and the second
 * step of the two-step login for both token mode and cookie mode.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type, type Static } from 'typebox';
import type { FastifyRequest } from 'fastify';
import { loginProofFromBody, proofFromBody } from '../../mfa/service.ts';
import type { Services } from '../../services.ts';
import type { TokenPair } from '../../sessions/service.ts';
import { cookieSession } from '../cookies.ts';
import { AuthenticationResponse, CookieSession, TokenPair as TokenPairSchema } from '../schemas.ts';
import { auditContext, clientInfo, tokenBody } from './login.ts';

const tags = ['mfa'];

const Code = Type.String({ minLength: 1, maxLength: 64, description: 'The 6-digit code from the authenticator app' });
const RecoveryCode = Type.String({ minLength: 1, maxLength: 64, description: 'One of the recovery codes (single use)' });

const CodeBody = Type.Object({ code: Code }, { additionalProperties: false });
const ProofBody = Type.Object(
  { code: Type.Optional(Code), recovery_code: Type.Optional(RecoveryCode) },
  { additionalProperties: false, description: 'Exactly one of code or recovery_code' },
);
const MfaLoginBody = Type.Object(
  {
    challenge_token: Type.String({ minLength: 1, maxLength: 256, description: 'details.challenge_token of the mfa_required answer' }),
    code: Type.Optional(Code),
    recovery_code: Type.Optional(RecoveryCode),
    passkey: Type.Optional({ ...AuthenticationResponse, description: 'An assertion by one of the account’s passkeys, made with the options of POST /api/auth/login/mfa/passkey/options' }),
  },
  { additionalProperties: false, description: 'The challenge and exactly one of code, recovery_code or passkey' },
);
type MfaLoginBody = Static<typeof MfaLoginBody>;

const Enrollment = Type.Object({
  secret: Type.String({ description: 'base32, for typing into the authenticator app' }),
  otpauth_uri: Type.String({ description: 'otpauth://totp/… provisioning URI' }),
  qr_svg: Type.String({ description: 'the URI as an SVG QR code' }),
});
const RecoveryCodes = Type.Object({
  recovery_codes: Type.Array(Type.String(), { description: 'Shown only this once; each works once' }),
});

/**
 * The second login step: the challenge and a code, then a session whose auth_time is now.
 * login_ok is recorded here, not at the password step: the login is only complete now.
 */
async function completeLogin(services: Services, request: FastifyRequest, body: MfaLoginBody, cookieMode: boolean): Promise<TokenPair> {
  const client = clientInfo(request);
  const { user, method } = await services.mfa.completeChallenge(body.challenge_token, loginProofFromBody(body as Parameters<typeof loginProofFromBody>[0]), client);
  await services.audit.record('login_ok', { ...client, userId: user.id, details: { mfa: method } });
  return services.sessions.start(user, client, cookieMode);
}

/** The QR code of an otpauth:// URI as SVG; qrcode is loaded on the first enrolment, not at start-up. */
async function qrSvg(uri: string): Promise<string> {
  const { default: QRCode } = await import('qrcode');
  return QRCode.toString(uri, { type: 'svg' });
}

export function mfaRoutes(services: Services): FastifyPluginAsyncTypebox {
  const { config, users, mfa, clock } = services;

  return async (app) => {
    app.post(
      '/api/auth/mfa/enroll',
      {
        preHandler: app.requireUser,
        schema: { tags, summary: 'Start TOTP enrolment: a new secret, its otpauth:// URI and QR code', response: { 200: Enrollment } },
      },
      async (request, reply) => {
        const user = await users.get(request.auth!.sub);
        const { secret, otpauth_uri } = await mfa.enroll(user);
        reply.header('cache-control', 'no-store'); // carries the secret
        return { secret, otpauth_uri, qr_svg: await qrSvg(otpauth_uri) };
      },
    );

    app.post(
      '/api/auth/mfa/confirm',
      {
        preHandler: app.requireUser,
        schema: { tags, summary: 'Confirm enrolment with a code: TOTP is on; returns recovery codes once', body: CodeBody, response: { 200: RecoveryCodes } },
      },
      async (request, reply) => {
        const codes = await mfa.confirm(request.auth!.sub, request.body.code, auditContext(request));
        reply.header('cache-control', 'no-store');
        return { recovery_codes: codes };
      },
    );

    app.post(
      '/api/auth/mfa/disable',
      {
        preHandler: app.requireFreshAuth,
        schema: { tags, summary: 'Turn TOTP off (recent login and a current code or recovery code needed)', body: ProofBody },
      },
      async (request, reply) => {
        await mfa.disable(request.auth!.sub, proofFromBody(request.body), auditContext(request));
        return reply.code(204).send();
      },
    );

    app.post(
      '/api/auth/login/mfa',
      {
        schema: {
          tags,
          summary: 'Second login step: the challenge from mfa_required and a code -> token pair',
          body: MfaLoginBody,
          response: { 200: TokenPairSchema },
        },
      },
      async (request, reply) => {
        reply.header('cache-control', 'no-store'); // RFC 6749 §5.1
        return tokenBody(await completeLogin(services, request, request.body, false));
      },
    );

    app.post(
      '/authenticate/mfa',
      {
        schema: {
          tags,
          summary: 'Second login step in cookie mode: the challenge and a code -> session cookies',
          body: MfaLoginBody,
          response: { 200: CookieSession },
        },
      },
      async (request, reply) => {
        return cookieSession(reply, await completeLogin(services, request, request.body, true), config.cookie, clock.now(), 'Authenticated');
      },
    );
  };
}
