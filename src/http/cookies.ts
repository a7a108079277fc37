/** Cookie mode (seed 001): names, attributes, set and clear in one place. */
import type { FastifyReply } from 'fastify';
import type { Config } from '../config/load.ts';
import type { TokenPair } from '../sessions/service.ts';

export const ACCESS_COOKIE = 'jwt';
export const REFRESH_COOKIE = 'bastion_refresh';
export const CSRF_COOKIE = 'csrf_token';
export const REFRESH_PATH = '/api/auth/refresh';

type CookieConfig = Config['cookie'];

function base(config: CookieConfig) {
  return { secure: config.secure, sameSite: config.sameSite, path: '/' } as const;
}

/**
 * The access token in an HttpOnly cookie for its lifetime; the refresh token HttpOnly and
 * sent only to the refresh endpoint; the CSRF token readable by the page (double submit,
 * checked against the token's csrf claim: OWASP CSRF Cheat Sheet, "Signed Double-Submit").
 */
export function setSessionCookies(reply: FastifyReply, pair: TokenPair, config: CookieConfig, nowMs: number): void {
  const attrs = base(config);
  reply.setCookie(ACCESS_COOKIE, pair.access_token, { ...attrs, httpOnly: true, maxAge: pair.expires_in });
  reply.setCookie(REFRESH_COOKIE, pair.refresh_token, {
    ...attrs,
    httpOnly: true,
    path: REFRESH_PATH,
    maxAge: Math.max(0, Math.round((pair.session_expires_at - nowMs) / 1000)),
  });
  if (pair.csrf_token) reply.setCookie(CSRF_COOKIE, pair.csrf_token, { ...attrs, httpOnly: false, maxAge: pair.expires_in });
}

/**
 * The whole cookie-mode answer: cookies set, no caching (RFC 6749 §5.1), and a body with
 * only what the page needs, the CSRF token and the lifetime. Never the tokens themselves.
 */
export function cookieSession(reply: FastifyReply, pair: TokenPair, config: CookieConfig, nowMs: number, message: string) {
  setSessionCookies(reply, pair, config, nowMs);
  reply.header('cache-control', 'no-store');
  return { message, csrf_token: pair.csrf_token!, expires_in: pair.expires_in };
}

export function clearSessionCookies(reply: FastifyReply, config: CookieConfig): void {
  const attrs = base(config);
  reply.clearCookie(ACCESS_COOKIE, { ...attrs, httpOnly: true });
  reply.clearCookie(REFRESH_COOKIE, { ...attrs, httpOnly: true, path: REFRESH_PATH });
  reply.clearCookie(CSRF_COOKIE, attrs);
}
