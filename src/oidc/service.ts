/**
 * "Log in with <provider>": the authorization-code flow with PKCE, state and nonce
 * (OIDC Core §3.1, RFC 7636, RFC 9700 §2.1), and the account-linking rules.
 *
 * start  -> a flow row (verifier, state, nonce, return_to) + the browser's flow cookie
 *        -> the provider's authorization URL
 * finish -> spend the flow (once) -> openid-client checks state, iss (RFC 9207), the code
 *           exchange with the verifier, and the ID token (signature, iss, aud, exp, nonce)
 *        -> identity by (issuer, sub) -> the account (found, linked or created)
 *
 * Linking never trusts an email alone (account pre-hijacking): an identity joins an
 * existing account by email only when the provider says `email_verified: true` AND the
 * account's own email is confirmed; otherwise the person logs in with their password
 * and links from the Account page, where the link flow is bound to that session.
 */
import { randomUUID } from 'node:crypto';
import * as client from 'openid-client';
import type { AuditContext, AuditLog } from '../audit/log.ts';
import { AppError } from '../errors/app-error.ts';
import type { Clock } from '../lib/clock.ts';
import type { Db } from '../storage/db.ts';
import type { OidcIdentitiesTable } from '../storage/tables.ts';
import { hasPassword, isValidEmail, normalizeEmail, NO_PASSWORD, usernameKey } from '../users/model.ts';
import { findUserBy, findUserById, insertUser, type UserWithRoles } from '../users/repo.ts';
import { FlowStore, type FlowRow } from './flows.ts';
import type { OidcProviders } from './providers.ts';

/** Where a flow ends when return_to is missing or not a path of this web app. */
export const DEFAULT_RETURN_TO = '/';

/**
 * Only a path on Bastion's own web app: one leading "/", then printable ASCII without
 * "\" (browsers read "/\evil" as "//evil"), and never "//" at the start (a
 * scheme-relative URL names another host). Whitespace and control characters are out
 * too: browsers drop tabs and newlines from URLs, so "/\t/evil" would become "//evil".
 * RFC 9700 §4.11 (open redirectors).
 */
export function safeReturnTo(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 512) return DEFAULT_RETURN_TO;
  if (!/^\/[\x21-\x7e]*$/.test(value) || value.startsWith('//') || value.includes('\\')) return DEFAULT_RETURN_TO;
  return value;
}

export interface LinkedIdentity {
  readonly id: string;
  readonly provider_id: string;
  /** the provider's display name; the id when the provider is no longer configured */
  readonly provider_name: string;
  readonly issuer: string;
  readonly subject: string;
  readonly email: string | null;
  readonly linked_at: string;
  readonly last_login_at: string | null;
}

export interface StartRequest {
  readonly providerId: string;
  readonly returnTo: unknown;
  readonly intent: 'login' | 'link';
  /** link flows: who is logged in (the account and session the link is bound to) */
  readonly linkTo?: { readonly userId: string; readonly sessionId: string | null };
}

export interface FinishRequest {
  readonly providerId: string;
  /** the flow cookie's value */
  readonly flowKey: string | undefined;
  /** the callback's query string, without "?" */
  readonly query: string;
  /** link flows: the session presented with the callback, if any */
  readonly session: { readonly userId: string; readonly sessionId: string | null } | null;
}

export type FinishResult =
  | { readonly kind: 'login'; readonly user: UserWithRoles; readonly returnTo: string; readonly created: boolean }
  | { readonly kind: 'link'; readonly userId: string; readonly returnTo: string };

/** A failed finish: the code to show, and where the flow wanted to go (a link goes back to the Account page). */
export class OidcFailure extends Error {
  constructor(
    readonly error: AppError,
    readonly intent: 'login' | 'link' | null,
    readonly returnTo: string | null,
  ) {
    super(error.message, { cause: error });
    this.name = 'OidcFailure';
  }
}

interface ProviderClaims {
  readonly sub: string;
  readonly email: string | null;
  readonly emailVerified: boolean;
  readonly preferredUsername: string | null;
  readonly name: string | null;
}

export class OidcService {
  private readonly flows: FlowStore;

  constructor(
    private readonly db: Db,
    readonly providers: OidcProviders,
    private readonly publicUrl: string,
    private readonly clock: Clock,
    private readonly audit: AuditLog,
  ) {
    this.flows = new FlowStore(db, clock);
  }

  /** The redirect URI to register at the provider (RFC 6749 §3.1.2): exact, under PUBLIC_URL. */
  redirectUri(providerId: string): string {
    return `${this.publicUrl}/api/auth/oidc/${encodeURIComponent(providerId)}/callback`;
  }

  /** Stores a new flow and returns the provider's authorization URL and the flow cookie's value. */
  async start(request: StartRequest): Promise<{ url: string; flowKey: string; maxAgeSec: number }> {
    const provider = this.providers.get(request.providerId);
    const config = await this.providers.configuration(provider.id);
    const codeVerifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const { key, maxAgeSec } = await this.flows.create({
      providerId: provider.id,
      state,
      nonce,
      codeVerifier,
      returnTo: safeReturnTo(request.returnTo),
      intent: request.intent,
      userId: request.linkTo?.userId ?? null,
      sessionId: request.linkTo?.sessionId ?? null,
    });
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: this.redirectUri(provider.id),
      scope: provider.scopes,
      // RFC 7636 §4.2: S256 only; "plain" would hand the verifier to anyone who sees the request
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      ...(request.intent === 'link' ? { prompt: 'login' } : {}),
    });
    return { url: url.href, flowKey: key, maxAgeSec };
  }

  /**
   * Finishes a flow: every check, then the account. Throws OidcFailure (already audited)
   * with the code the login page shows; nothing is created when it throws.
   */
  async finish(request: FinishRequest, context: AuditContext): Promise<FinishResult> {
    let flow: FlowRow | null = null;
    try {
      flow = await this.flows.consume(request.flowKey);
      // Mix-up defence (RFC 9700 §4.4): the callback of one provider cannot finish a flow
      // started with another.
      if (flow.provider_id !== request.providerId) throw new AppError('oidc_issuer_mismatch');
      const provider = this.providers.get(flow.provider_id);
      const claims = await this.exchange(flow, request.query);
      if (flow.intent === 'link') return await this.link(flow, provider.issuer, claims, request.session, context);
      return await this.login(flow, provider.issuer, claims, context);
    } catch (err) {
      const error = asOidcError(err);
      await this.audit.record('oidc_login_failed', {
        ...context,
        userId: flow?.user_id ?? (error.details as { userId?: string } | undefined)?.userId ?? null,
        details: { provider: request.providerId.slice(0, 64), code: error.code, intent: flow?.intent ?? null },
      });
      throw new OidcFailure(error, flow?.intent ?? null, flow?.return_to ?? null);
    }
  }

  /** The code exchange and every check of the answer, by openid-client (OIDC Core §3.1.3.7). */
  private async exchange(flow: FlowRow, query: string): Promise<ProviderClaims> {
    const config = await this.providers.configuration(flow.provider_id);
    const currentUrl = new URL(this.redirectUri(flow.provider_id));
    currentUrl.search = query;
    const tokens = await client.authorizationCodeGrant(config, currentUrl, {
      pkceCodeVerifier: flow.code_verifier,
      expectedState: flow.state,
      expectedNonce: flow.nonce,
      idTokenExpected: true,
    });
    const idToken = tokens.claims();
    if (!idToken) throw new AppError('oidc_invalid_id_token');
    let claims: Record<string, unknown> = idToken;
    // Some providers put email and profile only in userinfo (OIDC Core §5.4); its `sub`
    // must equal the ID token's (§5.3.2), which fetchUserInfo checks.
    if (idToken['email'] === undefined && config.serverMetadata().userinfo_endpoint) {
      claims = { ...(await client.fetchUserInfo(config, tokens.access_token, idToken.sub)), ...idToken };
    }
    const text = (v: unknown): string | null => (typeof v === 'string' && v.trim() !== '' ? v.trim() : null);
    return {
      sub: idToken.sub,
      email: text(claims['email']),
      // OIDC Core §5.1: only a boolean true means the provider verified the address
      emailVerified: claims['email_verified'] === true,
      preferredUsername: text(claims['preferred_username']),
      name: text(claims['name']),
    };
  }

  private async login(flow: FlowRow, issuer: string, claims: ProviderClaims, context: AuditContext): Promise<FinishResult> {
    const now = this.clock.now();
    const known = await this.identity(issuer, claims.sub);
    if (known) {
      const user = await findUserById(this.db, known.user_id);
      if (!user) throw new AppError('oidc_flow_missing');
      assertCanLogIn(user);
      await this.db
        .updateTable('oidc_identities')
        .set({ last_login_at: now, email: claims.email })
        .where('id', '=', known.id)
        .execute();
      return { kind: 'login', user, returnTo: flow.return_to, created: false };
    }

    const email = claims.email !== null && isValidEmail(normalizeEmail(claims.email)) ? normalizeEmail(claims.email) : null;
    const holder = email === null ? undefined : await findUserBy(this.db, 'email', email);
    if (holder) {
      // Both sides must have proved the address, or either could be an attacker's claim.
      if (!claims.emailVerified) {
        throw new AppError('oidc_link_required', 'An account with this email already exists and the provider has not verified the address: log in with your password first, then link the provider on the Account page', { details: { userId: holder.id } });
      }
      if (holder.email_confirmed_at === null) {
        throw new AppError('oidc_link_required', 'An account with this email already exists but its email is not confirmed: log in with your password first, then link the provider on the Account page', { details: { userId: holder.id } });
      }
      assertCanLogIn(holder);
      await this.insertIdentity(this.db, holder.id, flow.provider_id, issuer, claims, now);
      await this.audit.record('oidc_linked', { ...context, userId: holder.id, details: { provider: flow.provider_id, by: 'verified_email' } });
      return { kind: 'login', user: holder, returnTo: flow.return_to, created: false };
    }

    const user = await this.createAccount(flow.provider_id, issuer, claims, email, now);
    await this.audit.record('signup', { ...context, userId: user.id, details: { username: user.username, roles: [], provider: flow.provider_id } });
    await this.audit.record('oidc_linked', { ...context, userId: user.id, details: { provider: flow.provider_id, by: 'signup' } });
    return { kind: 'login', user, returnTo: flow.return_to, created: true };
  }

  /**
   * A link flow finishes only in the session that started it (login CSRF: an attacker's
   * callback in a victim's browser must not attach the attacker's identity to the
   * victim's account, nor the victim's to the attacker's).
   */
  private async link(
    flow: FlowRow,
    issuer: string,
    claims: ProviderClaims,
    session: FinishRequest['session'],
    context: AuditContext,
  ): Promise<FinishResult> {
    if (!session || flow.user_id === null || session.userId !== flow.user_id || session.sessionId !== flow.session_id) {
      throw new AppError('oidc_link_session_lost');
    }
    const user = await findUserById(this.db, flow.user_id);
    if (!user) throw new AppError('oidc_link_session_lost');
    if (user.disabled_at !== null) throw new AppError('account_disabled');
    const known = await this.identity(issuer, claims.sub);
    if (known && known.user_id !== user.id) throw new AppError('oidc_identity_in_use');
    if (!known) {
      await this.insertIdentity(this.db, user.id, flow.provider_id, issuer, claims, this.clock.now());
      await this.audit.record('oidc_linked', { ...context, userId: user.id, details: { provider: flow.provider_id, by: 'account_page' } });
    }
    return { kind: 'link', userId: user.id, returnTo: flow.return_to };
  }

  /** Linked identities of an account, for GET /api/auth/me. */
  async identities(userId: string): Promise<LinkedIdentity[]> {
    const rows = await this.db.selectFrom('oidc_identities').selectAll().where('user_id', '=', userId).orderBy('created_at').execute();
    return rows.map((r) => ({
      id: r.id,
      provider_id: r.provider_id,
      provider_name: this.providers.find(r.provider_id)?.name ?? r.provider_id,
      issuer: r.issuer,
      subject: r.subject,
      email: r.email,
      linked_at: new Date(r.created_at).toISOString(),
      last_login_at: r.last_login_at === null ? null : new Date(r.last_login_at).toISOString(),
    }));
  }

  /**
   * Unlinks an identity unless it is the last way into the account: no password, no
   * other identity, no passkey. Checked and deleted in one transaction.
   */
  async unlink(userId: string, identityId: string, context: AuditContext): Promise<void> {
    const removed = await this.db.transaction().execute(async (tx) => {
      const row = await tx.selectFrom('oidc_identities').selectAll().where('id', '=', identityId).where('user_id', '=', userId).executeTakeFirst();
      if (!row) throw new AppError('oidc_identity_not_found');
      const user = await findUserById(tx, userId);
      if (!user) throw new AppError('user_not_found');
      const others = await tx
        .selectFrom('oidc_identities')
        .select((eb) => eb.fn.countAll<string | number>().as('n'))
        .where('user_id', '=', userId)
        .where('id', '!=', identityId)
        .executeTakeFirstOrThrow();
      const passkeys = await countPasskeys(tx, userId);
      if (!hasPassword(user) && Number(others.n) === 0 && passkeys === 0) throw new AppError('oidc_last_login_method');
      await tx.deleteFrom('oidc_identities').where('id', '=', identityId).execute();
      return row;
    });
    await this.audit.record('oidc_unlinked', { ...context, userId, details: { provider: removed.provider_id } });
  }

  private identity(issuer: string, subject: string) {
    return this.db.selectFrom('oidc_identities').selectAll().where('issuer', '=', issuer).where('subject', '=', subject).executeTakeFirst();
  }

  private async insertIdentity(db: Db, userId: string, providerId: string, issuer: string, claims: ProviderClaims, now: number): Promise<void> {
    const row: OidcIdentitiesTable = {
      id: randomUUID(),
      user_id: userId,
      provider_id: providerId,
      issuer,
      subject: claims.sub,
      email: claims.email,
      created_at: now,
      last_login_at: now,
    };
    try {
      await db.insertInto('oidc_identities').values(row).execute();
    } catch (err) {
      // the same identity linked a moment ago (two callbacks at once): that link stands
      if (isUniqueViolation(err)) throw new AppError('oidc_identity_in_use', undefined, { cause: err });
      throw err;
    }
  }

  /**
   * A new account for a new identity, with no password. Its email is stored (and
   * confirmed) only when the provider verified it: an unverified address on an account
   * would let whoever owns the mailbox take the account over through a password reset
   * while the provider identity still opens it (account pre-hijacking).
   */
  private async createAccount(providerId: string, issuer: string, claims: ProviderClaims, email: string | null, now: number): Promise<UserWithRoles> {
    const storedEmail = claims.emailVerified ? email : null;
    const base = usernameBase(claims.preferredUsername ?? email?.split('@')[0] ?? claims.name ?? 'user');
    for (let attempt = 0; attempt < 20; attempt += 1) {
      const username = attempt === 0 ? base : attempt < 10 ? `${base.slice(0, 60)}-${attempt + 1}` : `${base.slice(0, 55)}-${randomUUID().slice(0, 8)}`;
      const id = randomUUID();
      try {
        await this.db.transaction().execute(async (tx) => {
          const row = {
            id,
            username,
            username_key: usernameKey(username),
            email: storedEmail,
            display_name: claims.name?.slice(0, 200) ?? null,
            dob: null,
            password_hash: NO_PASSWORD,
            disabled_at: null,
            tokens_valid_after: 0,
            created_at: now,
            updated_at: now,
            email_confirmed_at: storedEmail === null ? null : now,
          };
          await insertUser(tx, row, [], now);
          await this.insertIdentity(tx, id, providerId, issuer, claims, now);
        });
      } catch (err) {
        if (err instanceof AppError && err.code === 'username_taken') continue;
        // someone else took the address a moment ago: the linking rules apply again on the next try
        if (err instanceof AppError && err.code === 'email_taken') throw new AppError('oidc_link_required', undefined, { cause: err });
        throw err;
      }
      return (await findUserById(this.db, id))!;
    }
    throw new AppError('internal', 'Could not find a free username');
  }
}

function assertCanLogIn(user: UserWithRoles): void {
  if (user.disabled_at !== null) throw new AppError('account_disabled', undefined, { details: { userId: user.id } });
  // TOTP is a second factor Bastion enforces itself; a provider login does not replace it.
  if (user.totp_enabled_at !== null) throw new AppError('oidc_mfa_required', undefined, { details: { userId: user.id } });
}

/** Letters, digits, ".", "_", "-" (USERNAME_PATTERN), 3 to 64 of them. */
function usernameBase(raw: string): string {
  const cleaned = raw
    .normalize('NFKC')
    .replace(/[^\p{L}\p{N}._-]+/gu, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 64);
  return cleaned.length >= 3 ? cleaned : `${cleaned || 'user'}-user`.slice(0, 64);
}

/** Passkeys (issue #11 part 1) count as a way to log in. */
async function countPasskeys(db: Db, userId: string): Promise<number> {
  const row = await db
    .selectFrom('passkeys')
    .select((eb) => eb.fn.countAll<string | number>().as('n'))
    .where('user_id', '=', userId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

const errorText = (err: unknown): string => (err instanceof Error ? `${(err as { code?: string }).code ?? ''} ${err.message}` : '');
const isUniqueViolation = (err: unknown): boolean => /UNIQUE|unique|23505/.test(errorText(err));

/** What went wrong, as one of the codes the login page explains. Never the library's text. */
export function asOidcError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof client.AuthorizationResponseError) {
    // RFC 6749 §4.1.2.1: the person said no, or the provider refused the request
    return new AppError(err.error === 'access_denied' ? 'oidc_access_denied' : 'oidc_provider_rejected', undefined, { cause: err });
  }
  if (err instanceof client.ResponseBodyError || err instanceof client.WWWAuthenticateChallengeError) {
    // the token endpoint refused: invalid_client (wrong secret), invalid_grant (code spent or not ours)
    return new AppError('oidc_provider_rejected', undefined, { cause: err });
  }
  if (err instanceof client.ClientError) {
    const inner = err.cause as { message?: string; cause?: { claim?: string } } | undefined;
    const message = inner?.message ?? '';
    switch (err.code) {
      case 'OAUTH_INVALID_RESPONSE':
        if (message.includes('"state"')) return new AppError('oidc_state_mismatch', undefined, { cause: err });
        // RFC 9207: the iss parameter names another issuer than the one we asked
        if (message.includes('"iss"')) return new AppError('oidc_issuer_mismatch', undefined, { cause: err });
        return new AppError('oidc_invalid_id_token', undefined, { cause: err });
      case 'OAUTH_JWT_CLAIM_COMPARISON_FAILED':
        return new AppError(inner?.cause?.claim === 'nonce' ? 'oidc_nonce_mismatch' : 'oidc_invalid_id_token', undefined, { cause: err });
      case 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED':
      case 'OAUTH_KEY_SELECTION_FAILED':
      case 'OAUTH_PARSE_ERROR':
        return new AppError('oidc_invalid_id_token', undefined, { cause: err });
      case 'OAUTH_TIMEOUT':
      case 'OAUTH_ABORT':
        return new AppError('oidc_provider_unavailable', undefined, { cause: err });
      case 'OAUTH_RESPONSE_IS_NOT_CONFORM':
      case 'OAUTH_RESPONSE_IS_NOT_JSON':
        return new AppError('oidc_provider_rejected', undefined, { cause: err });
      default:
        break;
    }
  }
  // fetch failed (connection refused, DNS): the provider is not there
  if (err instanceof TypeError) return new AppError('oidc_provider_unavailable', undefined, { cause: err });
  if (err instanceof client.ClientError) return new AppError('oidc_invalid_id_token', undefined, { cause: err });
  return new AppError('internal', undefined, { cause: err });
}
