import type { FastifyRequest } from 'fastify';
import { AppError } from '../../errors/app-error.ts';
import type { Services } from '../../services.ts';
import type { ClientInfo, TokenPair } from '../../sessions/service.ts';
import type { LoginBody } from '../schemas.ts';

export const clientInfo = (request: FastifyRequest): ClientInfo => ({
  userAgent: request.headers['user-agent']?.slice(0, 512) ?? null,
  ip: request.ip ?? null,
});

/** Every login route: identifier from `username` or `email`, then a new session. */
export async function login(services: Services, request: FastifyRequest, body: LoginBody, cookieMode: boolean): Promise<TokenPair> {
  const identifier = body.username ?? body.email;
  if (identifier === undefined) {
    throw new AppError('validation_failed', 'body/username or body/email is required', {
      details: [{ path: 'body/username', message: 'is required (or body/email)' }],
    });
  }
  const user = await services.users.authenticate(identifier, body.password);
  return services.sessions.start(user, clientInfo(request), cookieMode);
}

/** The JSON a token-mode login answers with: never the claims or internal fields. */
export const tokenBody = (pair: TokenPair) => ({
  access_token: pair.access_token,
  token_type: pair.token_type,
  expires_in: pair.expires_in,
  refresh_token: pair.refresh_token,
});
