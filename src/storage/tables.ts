/**
 * Row types of every table, as Kysely sees them. Times are epoch milliseconds
 * (bigint columns), which both SQLite and PostgreSQL store and compare natively;
 * flags are nullable timestamps (`disabled_at`), so no dialect needs a boolean type.
 */
import type { Insertable, Selectable } from 'kysely';

export interface UsersTable {
  id: string;
  username: string;
  /** NFKC + lower case: uniqueness is case-insensitive */
  username_key: string;
  email: string | null;
  display_name: string | null;
  /** YYYY-MM-DD */
  dob: string | null;
  password_hash: string;
  disabled_at: number | null;
  /** access tokens issued before this instant (ms) are revoked */
  tokens_valid_after: number;
  created_at: number;
  updated_at: number;
  email_confirmed_at: number | null;
  /** base32 TOTP secret; set at enrolment, active once totp_enabled_at is set */
  totp_secret: string | null;
  totp_enabled_at: number | null;
  /** last accepted TOTP time step: a code is never accepted twice (RFC 6238 §5.2) */
  totp_last_step: number | null;
  /** the user's id in the application it was imported from (migration 0007); null if not imported */
  legacy_id: string | null;
  /** when the account was imported (`bastion import`); only imported accounts take an old app's tokens */
  imported_at: number | null;
}

export interface UserRolesTable {
  user_id: string;
  role: string;
  created_at: number;
}

/** One row per login session: the refresh-token family. */
export interface RefreshFamiliesTable {
  id: string;
  user_id: string;
  created_at: number;
  last_used_at: number;
  expires_at: number;
  revoked_at: number | null;
  revoked_reason: string | null;
  user_agent: string | null;
  ip: string | null;
}

export interface RefreshTokensTable {
  id: string;
  family_id: string;
  /** SHA-256 of the secret half; the secret itself is never stored */
  secret_hash: string;
  parent_id: string | null;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}

export interface SigningKeysTable {
  kid: string;
  alg: string;
  private_jwk: string;
  public_jwk: string;
  created_at: number;
  retired_at: number | null;
}

/**
 * The feed every instance follows, in `seq` order. Revocations it must honour until
 * `expires_at`: a denied access-token jti (kind 'jti'), every token of a session (kind
 * 'session', subject = sid), or a user whose tokens issued before `not_before` are void
 * (kind 'user'). Kind 'keys' (subject = the new kid) says the signing keys changed.
 */
export interface RevocationsTable {
  id: string;
  /** the feed's order: assigned from `sequences`, committed in order (migration 0003) */
  seq: number;
  kind: 'jti' | 'session' | 'user' | 'keys';
  subject: string;
  not_before: number | null;
  expires_at: number;
  created_at: number;
}

export interface AuditEventsTable {
  id: string;
  at: number;
  type: string;
  user_id: string | null;
  /** who did it, when not the user themselves (an admin, the CLI) */
  actor_id: string | null;
  ip: string | null;
  user_agent: string | null;
  /** JSON */
  details: string | null;
}

export interface LoginAttemptsTable {
  key: string;
  failures: number;
  window_start: number;
  locked_until: number | null;
  lockouts: number;
  updated_at: number;
}

export interface OneTimeTokensTable {
  id: string;
  user_id: string;
  purpose: 'password_reset' | 'email_confirm' | 'mfa_challenge';
  secret_hash: string;
  data: string | null;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}

export interface MfaRecoveryCodesTable {
  id: string;
  user_id: string;
  code_hash: string;
  created_at: number;
  used_at: number | null;
}

/** Named counters whose increments commit in order (the row is locked until commit). */
export interface SequencesTable {
  name: string;
  value: number;
}

/** Fixed-window request counters shared by every instance (the auth flood limit). */
export interface RateLimitsTable {
  key: string;
  window_start: number;
  count: number;
}

/** A provider identity linked to an account, keyed by (issuer, subject): never by email alone. */
export interface OidcIdentitiesTable {
  id: string;
  user_id: string;
  /** the OIDC_PROVIDERS id it was linked through (for display; the issuer is the key) */
  provider_id: string;
  issuer: string;
  subject: string;
  /** the email the provider last reported, for display only */
  email: string | null;
  created_at: number;
  last_login_at: number | null;
}

/** An authorization request in flight (RFC 6749 §4.1, RFC 7636); single use, short-lived. */
export interface OidcFlowsTable {
  /** SHA-256 of the flow cookie's value */
  id: string;
  provider_id: string;
  state: string;
  nonce: string;
  /** the PKCE code_verifier (RFC 7636 §4.1) */
  code_verifier: string;
  /** a path on Bastion's own web app */
  return_to: string;
  intent: 'login' | 'link';
  /** link flows: the account and session (refresh family) that started it */
  user_id: string | null;
  session_id: string | null;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}

/** A registered passkey (WebAuthn credential); see migration 0004. */
export interface PasskeysTable {
  /** the credential id, base64url */
  id: string;
  user_id: string;
  name: string;
  /** the COSE public key, base64url */
  public_key: string;
  /** the last signature counter seen; 0 for authenticators that keep none */
  counter: number;
  /** JSON array of AuthenticatorTransport strings, as the browser reported them */
  transports: string | null;
  /** BE flag at registration: the credential may be synced (a multi-device passkey) */
  backup_eligible: 0 | 1;
  /** BS flag, as last seen */
  backed_up: 0 | 1;
  created_at: number;
  last_used_at: number | null;
}

/** A WebAuthn challenge awaiting its answer; `id` is SHA-256 (hex) of the challenge. */
export interface WebauthnChallengesTable {
  id: string;
  purpose: 'register' | 'login' | 'second_factor';
  /** the user it was issued to; null for a discoverable login, where nobody is known yet */
  user_id: string | null;
  /** second_factor: the id of the MFA login challenge it belongs to */
  bound_to: string | null;
  created_at: number;
  expires_at: number;
}

/** A machine client (RFC 6749 §4.4); see migration 0006. */
export interface OauthClientsTable {
  /** the client_id */
  id: string;
  name: string;
  /** SHA-256 (hex) of the client secret; the secret itself is shown once and never stored */
  secret_hash: string;
  /** the scopes it may ask for, space-separated; '' for none */
  scopes: string;
  created_at: number;
  secret_rotated_at: number | null;
  /** ms: the stamp of the last rotation; tokens are issued only after it (waitForStamp) */
  tokens_valid_after: number;
}

export interface Database {
  users: UsersTable;
  user_roles: UserRolesTable;
  refresh_families: RefreshFamiliesTable;
  refresh_tokens: RefreshTokensTable;
  signing_keys: SigningKeysTable;
  revocations: RevocationsTable;
  audit_events: AuditEventsTable;
  login_attempts: LoginAttemptsTable;
  one_time_tokens: OneTimeTokensTable;
  mfa_recovery_codes: MfaRecoveryCodesTable;
  sequences: SequencesTable;
  rate_limits: RateLimitsTable;
  oidc_identities: OidcIdentitiesTable;
  oidc_flows: OidcFlowsTable;
  passkeys: PasskeysTable;
  webauthn_challenges: WebauthnChallengesTable;
  oauth_clients: OauthClientsTable;
}

export type UserRow = Selectable<UsersTable>;
export type NewUserRow = Insertable<UsersTable>;
export type RefreshFamilyRow = Selectable<RefreshFamiliesTable>;
export type SigningKeyRow = Selectable<SigningKeysTable>;
export type RevocationRow = Selectable<RevocationsTable>;
export type PasskeyRow = Selectable<PasskeysTable>;
export type WebauthnChallengeRow = Selectable<WebauthnChallengesTable>;
export type OauthClientRow = Selectable<OauthClientsTable>;
