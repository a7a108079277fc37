/** Forgot/reset password, email change and confirmation, account deletion (src/recovery). */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { AppError } from '../../errors/app-error.ts';
import { TOKEN_MAX_LENGTH } from '../../recovery/repo.ts';
import type { Services } from '../../services.ts';
import { clearSessionCookies } from '../cookies.ts';
import { Email, Message, Password } from '../schemas.ts';
import { emptyBodyAsObject } from './auth.ts';
import { auditContext, clientInfo } from './login.ts';

const tags = ['recovery'];

/** Always this, whatever happened: the answer must not tell whether the account exists. */
export const FORGOT_MESSAGE = 'If the account exists, a reset link is on its way.';

const OneTimeToken = Type.String({ minLength: 1, maxLength: TOKEN_MAX_LENGTH, description: 'the token from the mailed link' });
const Identifier = Type.String({ minLength: 1, maxLength: 254 });

export function recoveryRoutes(services: Services): FastifyPluginAsyncTypebox {
  const { recovery, config } = services;
  return async (app) => {
    // Mails still being sent finish before the database closes.
    app.addHook('onClose', async () => recovery.close());

    app.post(
      '/api/auth/forgot-password',
      {
        schema: {
          tags,
          summary: 'Mail a password-reset link (same answer whether or not the account exists)',
          body: Type.Object({ email: Type.Optional(Identifier), username: Type.Optional(Identifier) }, { additionalProperties: false }),
          response: { 202: Message },
        },
      },
      async (request, reply) => {
        const identifier = request.body.email ?? request.body.username;
        if (identifier === undefined) {
          throw new AppError('validation_failed', 'body/email or body/username is required', {
            details: [{ path: 'body/email', message: 'is required (or body/username)' }],
          });
        }
        recovery.requestPasswordReset(identifier, clientInfo(request), request.log);
        return reply.code(202).send({ message: FORGOT_MESSAGE });
      },
    );

    app.post(
      '/api/auth/reset-password',
      {
        schema: {
          tags,
          summary: 'Set a new password with a reset link; every session ends',
          body: Type.Object({ token: OneTimeToken, new_password: Password }, { additionalProperties: false }),
        },
      },
      async (request, reply) => {
        await recovery.resetPassword(request.body.token, request.body.new_password, clientInfo(request), request.log);
        clearSessionCookies(reply, config.cookie);
        return reply.code(204).send();
      },
    );

    app.post(
      '/api/auth/email',
      {
        preHandler: app.requireFreshAuth,
        schema: {
          tags,
          summary: 'Change my email: a confirmation link goes to the new address, which applies when confirmed',
          body: Type.Object({ email: Email }, { additionalProperties: false }),
          response: { 202: Message },
        },
      },
      async (request, reply) => {
        await recovery.requestEmailChange(request.auth!.sub, request.body.email, auditContext(request), request.log);
        return reply.code(202).send({ message: 'A confirmation link is on its way to the new address.' });
      },
    );

    app.post(
      '/api/auth/confirm-email',
      {
        schema: {
          tags,
          summary: 'Confirm an email address with the mailed link',
          body: Type.Object({ token: OneTimeToken }, { additionalProperties: false }),
        },
      },
      async (request, reply) => {
        await recovery.confirmEmail(request.body.token, clientInfo(request), request.log);
        return reply.code(204).send();
      },
    );

    app.post(
      '/api/auth/confirm-email/resend',
      {
        preValidation: emptyBodyAsObject,
        preHandler: app.requireUser,
        schema: {
          tags,
          summary: 'Mail a new confirmation link for my current, unconfirmed email',
          body: Type.Object({}, { additionalProperties: false }),
          response: { 202: Message },
        },
      },
      async (request, reply) => {
        await recovery.resendConfirmation(request.auth!.sub, request.log);
        return reply.code(202).send({ message: 'A confirmation link is on its way.' });
      },
    );

    app.delete(
      '/api/auth/me',
      { preHandler: app.requireFreshAuth, schema: { tags, summary: 'Delete my account and end every session' } },
      async (request, reply) => {
        await recovery.deleteAccount(request.auth!.sub, auditContext(request));
        clearSessionCookies(reply, config.cookie);
        return reply.code(204).send();
      },
    );
  };
}
