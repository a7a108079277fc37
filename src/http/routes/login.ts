import type { FastifyRequest } from 'fastify';
import type { AuditContext } from '../../audit/log.ts';
import { AppError } from '../../errors/app-error.ts';
import type { ErrorCode } from '../../errors/codes.ts';
import type { Services } from '../../services.ts';
import type { ClientInfo, LoginOutcome, SessionService, TokenPair } from '../../sessions/service.ts';
import { accountKey, ipKey } from '../../throttle/login.ts';
import type { LoginBody } from '../schemas.ts';

export const clientInfo = (request: FastifyRequest): ClientInfo => ({
  userAgent: request.headers['user-agent']?.slice(0, 512) ?? null,
  ip: request.ip ?? null,
});

/** Who did what from where, for the audit log: the caller, unless the route acts on someone else. */
export const auditContext = (request: FastifyRequest): AuditContext => ({
  ...clientInfo(request),
  actorId: request.auth?.sub ?? null,
});

/** Counts a refusal with `code` as the login outcome `outcome` (for /metrics), and passes the error on. */
const noteRefusal =
  (sessions: SessionService, code: ErrorCode, outcome: LoginOutcome) =>
  (err: unknown): never => {
    if (err instanceof AppError && err.code === code) sessions.noteLogin(outcome);
    throw err;
  };

/**
 * Every login route: identifier from `username` or `email`; throttled per account and per
 * client IP before the password is even checked; audited; then a new session.
 */
export async function login(services: Services, request: FastifyRequest, body: LoginBody, cookieMode: boolean): Promise<TokenPair> {
  const identifier = body.username ?? body.email;
  if (identifier === undefined) {
    throw new AppError('validation_failed', 'body/username or body/email is required', {
      details: [{ path: 'body/username', message: 'is required (or body/email)' }],
    });
  }
  const { throttle, users, audit, sessions } = services;
  const client = clientInfo(request);
  const account = accountKey(identifier);
  await throttle.check([account, ipKey(request.ip)]).catch(noteRefusal(sessions, 'too_many_attempts', 'locked'));
  const result = await users.authenticate(identifier, body.password).catch(noteRefusal(sessions, 'account_disabled', 'disabled'));
  if (!result.ok) {
    const locked = await throttle.fail(account, ipKey(request.ip));
    // the identifier as typed is not logged: people type passwords into it
    await audit.record('login_failed', { ...client, userId: result.userId });
    if (locked) await audit.record('lockout', { ...client, userId: result.userId });
    sessions.noteLogin('invalid_credentials');
    throw new AppError('invalid_credentials');
  }
  const { user } = result;
  await throttle.succeed(account);
  if (user.totp_enabled_at !== null) {
    // Two-step login: no tokens yet, only a challenge for POST /api/auth/login/mfa or
    // /authenticate/mfa, which records login_ok once the second factor is in.
    const challenge = await services.mfa.startChallenge(user.id);
    sessions.noteLogin('mfa_required');
    throw new AppError('mfa_required', undefined, {
      details: { challenge_token: challenge.token, expires_in: challenge.expiresIn, passkey: challenge.passkey },
    });
  }
  await audit.record('login_ok', { ...client, userId: user.id });
  return sessions.start(user, client, cookieMode);
}

/** The JSON a token-mode login answers with: never the claims or internal fields. */
export const tokenBody = (pair: TokenPair) => ({
  access_token: pair.access_token,
  token_type: pair.token_type,
  expires_in: pair.expires_in,
  refresh_token: pair.refresh_token,
});
