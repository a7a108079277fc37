/**
 * Row types of every table, as Kysely sees them. Times are epoch milliseconds
 * (bigint columns), which both SQLite and PostgreSQL store and compare natively;
 * flags are nullable timestamps (`disabled_at`), so no dialect needs a boolean type.
 */
import type { Generated, Insertable, Selectable } from 'kysely';

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
 * Revocations every instance must honour until `expires_at`: a denied access-token jti
 * (kind 'jti'), every token of a session (kind 'session', subject = sid), or a user whose
 * tokens issued before `not_before` are void (kind 'user').
 */
export interface RevocationsTable {
  id: string;
  kind: 'jti' | 'session' | 'user';
  subject: string;
  not_before: number | null;
  expires_at: number;
  created_at: number;
}

export interface Database {
  users: UsersTable;
  user_roles: UserRolesTable;
  refresh_families: RefreshFamiliesTable;
  refresh_tokens: RefreshTokensTable;
  signing_keys: SigningKeysTable;
  revocations: RevocationsTable;
}

export type UserRow = Selectable<UsersTable>;
export type NewUserRow = Insertable<UsersTable>;
export type RefreshTokenRow = Selectable<RefreshTokensTable>;
export type RefreshFamilyRow = Selectable<RefreshFamiliesTable>;
export type SigningKeyRow = Selectable<SigningKeysTable>;
export type RevocationRow = Selectable<RevocationsTable>;
// Generated is re-exported for tables that grow auto columns later.
export type { Generated };
