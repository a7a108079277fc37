/**
 * A real OpenID Provider (the `oidc-provider` package) on loopback for the OIDC tests:
 * http://127.0.0.1:<free port>, one confidential client (client_secret_basic) whose
 * redirect URI is Bastion's callback, authorization code + PKCE required, the email and
 * profile claims, and accounts the test defines. Its own small login and consent pages
 * (plain HTML forms, no script, no outside fonts) stand in for a provider's UI: the
 * browser test fills them as a person would, the HTTP tests post them.
 *
 * `tamper` re-signs the ID token of the next token responses with the provider's own
 * key after changing claims: an ID token for another audience, a wrong nonce. `stop()`
 * takes the provider down.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, SignJWT, type JWK, type JWTPayload } from 'jose';
import Provider from 'oidc-provider';

export interface TestAccount {
  readonly sub: string;
  /** what the login form takes */
  readonly login: string;
  readonly password?: string;
  readonly email?: string;
  readonly email_verified?: boolean;
  readonly preferred_username?: string;
  readonly name?: string;
}

export interface TestProviderOptions {
  readonly clientId?: string;
  readonly clientSecret?: string;
  /** Bastion's callback URL(s) */
  readonly redirectUris: readonly string[];
  readonly accounts?: readonly TestAccount[];
  /** default: a free port */
  readonly port?: number;
}

export interface TestProvider {
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** adds or replaces an account (by login) */
  addAccount(account: TestAccount): void;
  /** changes the claims of the ID tokens the token endpoint returns from now on; null stops it */
  tamper(fn: ((claims: JWTPayload) => JWTPayload) | null): void;
  /** token endpoint requests served so far */
  tokenRequests(): number;
  stop(): Promise<void>;
}

const DEFAULT_PASSWORD = 'provider-password';

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>${escapeHtml(title)}</title></head><body><main><h1>${escapeHtml(title)}</h1>${body}</main></body></html>`;
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function send(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
}

export async function startTestProvider(options: TestProviderOptions): Promise<TestProvider> {
  const clientId = options.clientId ?? 'bastion';
  const clientSecret = options.clientSecret ?? 'a-client-secret-of-the-test-provider';
  const accounts = new Map<string, TestAccount>();
  for (const a of options.accounts ?? []) accounts.set(a.login, a);
  const bySub = (sub: string) => [...accounts.values()].find((a) => a.sub === sub);

  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk: JWK = { ...(await exportJWK(privateKey)), kid: 'test-key-1', alg: 'RS256', use: 'sig' };
  const signingKey = await importJWK(jwk, 'RS256');
  let tamper: ((claims: JWTPayload) => JWTPayload) | null = null;
  let tokenRequests = 0;

  // the port first: the issuer must be known before the provider is made
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [...options.redirectUris],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    pkce: { required: () => true },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'preferred_username'] },
    // claims in the ID token itself (most providers do so); Bastion also reads userinfo when they are missing
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    cookies: { keys: ['oidc-provider-test-cookie-key'] },
    jwks: { keys: [jwk] },
    findAccount: async (_ctx: unknown, sub: string) => {
      const account = bySub(sub);
      if (!account) return undefined;
      return {
        accountId: sub,
        claims: async () => ({
          sub,
          ...(account.email !== undefined ? { email: account.email } : {}),
          ...(account.email_verified !== undefined ? { email_verified: account.email_verified } : {}),
          ...(account.preferred_username !== undefined ? { preferred_username: account.preferred_username } : {}),
          ...(account.name !== undefined ? { name: account.name } : {}),
        }),
      };
    },
  } as ConstructorParameters<typeof Provider>[1]);

  provider.use(async (ctx, next) => {
    await next();
    if (ctx.method !== 'POST' || ctx.path !== '/token') return;
    tokenRequests += 1;
    const body = ctx.body as { id_token?: string } | undefined;
    if (tamper && body?.id_token) {
      const header = decodeProtectedHeader(body.id_token);
      const claims = tamper(decodeJwt(body.id_token));
      body.id_token = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: header.kid ?? jwk.kid! }).sign(signingKey);
    }
  });

  const callback = provider.callback();

  const interaction = async (req: IncomingMessage, res: ServerResponse, path: string) => {
    const [, , uid, action] = path.split('/');
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== uid) return send(res, 400, page('Error', '<p>Unknown interaction</p>'));
    if (req.method === 'GET') {
      if (details.prompt.name === 'login') return send(res, 200, loginPage(uid, null));
      const client = String(details.params['client_id']);
      return send(
        res,
        200,
        page(
          'Authorize',
          `<p>Allow <strong>${escapeHtml(client)}</strong> to see your email and profile?</p>` +
            `<form method="post" action="/interaction/${uid}/confirm"><button type="submit">Allow</button></form>` +
            `<form method="post" action="/interaction/${uid}/abort"><button type="submit">Deny</button></form>`,
        ),
      );
    }
    if (action === 'login') {
      const form = await readForm(req);
      const account = accounts.get(form.get('login') ?? '');
      if (!account || form.get('password') !== (account.password ?? DEFAULT_PASSWORD)) {
        return send(res, 200, loginPage(uid, 'Wrong login or password'));
      }
      return provider.interactionFinished(req, res, { login: { accountId: account.sub } }, { mergeWithLastSubmission: false });
    }
    if (action === 'confirm') {
      const accountId = details.session?.accountId;
      if (!accountId) return send(res, 400, page('Error', '<p>Not logged in</p>'));
      const grant = details.grantId
        ? ((await provider.Grant.find(details.grantId)) ?? new provider.Grant({ accountId, clientId: String(details.params['client_id']) }))
        : new provider.Grant({ accountId, clientId: String(details.params['client_id']) });
      const missing = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[] };
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
      const grantId = await grant.save();
      return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    }
    if (action === 'abort') {
      return provider.interactionFinished(
        req,
        res,
        { error: 'access_denied', error_description: 'End-User aborted interaction' },
        { mergeWithLastSubmission: false },
      );
    }
    return send(res, 404, page('Error', '<p>Not found</p>'));
  };

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', issuer).pathname;
    if (path.startsWith('/interaction/')) {
      interaction(req, res, path).catch((err: unknown) => {
        if (!res.headersSent) send(res, 500, page('Error', `<p>${escapeHtml(String(err))}</p>`));
      });
      return;
    }
    void callback(req, res);
  });

  return {
    issuer,
    clientId,
    clientSecret,
    addAccount: (account) => void accounts.set(account.login, account),
    tamper: (fn) => void (tamper = fn),
    tokenRequests: () => tokenRequests,
    stop: () =>
      new Promise<void>((resolve) => {
        if (!server.listening) return resolve();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function loginPage(uid: string, error: string | null): string {
  return page(
    'Sign in to the test provider',
    (error ? `<p role="alert">${escapeHtml(error)}</p>` : '') +
      `<form method="post" action="/interaction/${uid}/login">` +
      '<label>Login <input type="text" name="login" autocomplete="username" required></label> ' +
      '<label>Password <input type="password" name="password" autocomplete="current-password" required></label> ' +
      '<button type="submit">Sign in</button></form>',
  );
}

export { DEFAULT_PASSWORD as PROVIDER_PASSWORD };
