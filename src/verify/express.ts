/**
 * An Express-compatible middleware, `(req, res, next)`, written against node:http alone
 * (Express's req and res extend node's), so the package needs no Express dependency:
 *
 *   const verifier = await createVerifier({ issuer: 'https://auth.example.com', clientId, clientSecret });
 *   app.get('/reports', expressVerifier(verifier, { scopes: ['reports:read'] }), (req, res) => res.json(req.claims));
 *
 * A valid token sets `req.claims` and calls `next()`; a refused one is answered here
 * (401/403/503, `{code, message}`, the RFC 6750 challenge) and `next` is not called.
 * Anything unexpected goes to `next(err)`, Express's error path.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { VerifyError } from './errors.ts';
import { authorize, errorResponse, type GuardPolicy } from './guard.ts';
import type { AccessTokenClaims, Verifier } from './verifier.ts';

export interface ExpressVerifierOptions extends GuardPolicy {
  /** the realm of the `WWW-Authenticate` challenge (RFC 6750 §3); default none */
  readonly realm?: string;
}

export type RequestWithClaims = IncomingMessage & { claims?: AccessTokenClaims };
export type Middleware = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

export function expressVerifier(verifier: Verifier, options: ExpressVerifierOptions = {}): Middleware {
  return (req, res, next) => {
    authorize(verifier, req.headers.authorization, options).then(
      (claims) => {
        (req as RequestWithClaims).claims = claims;
        next();
      },
      (err: unknown) => {
        if (!(err instanceof VerifyError)) return next(err);
        const { status, headers, body } = errorResponse(err, options.realm, options);
        res.writeHead(status, headers).end(body);
      },
    );
  };
}
