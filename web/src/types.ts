/** The shapes the Bastion API answers with (see the server's /openapi.json). */

export interface User {
  readonly id: string;
  readonly username: string;
  readonly email: string | null;
  readonly name: string | null;
  /** YYYY-MM-DD */
  readonly dob: string | null;
  readonly roles: readonly string[];
  readonly disabled: boolean;
  readonly email_confirmed: boolean;
  readonly mfa_enabled: boolean;
  /** ISO date-time */
  readonly created_at: string;
}

/** GET /api/admin/users: a user plus their number of active sessions. */
export interface AdminUser extends User {
  readonly sessions: number;
}

/** POST /authenticate and POST /api/auth/refresh in cookie mode. */
export interface CookieSession {
  readonly message: string;
  readonly csrf_token: string;
  /** seconds until the access token expires */
  readonly expires_in: number;
}

export interface Person {
  readonly name: string;
  readonly email: string | null;
  readonly age: number | null;
}

/** GET /api/auth/sessions */
export interface SessionInfo {
  readonly id: string;
  readonly created_at: string;
  readonly last_used_at: string;
  readonly user_agent: string | null;
  readonly ip: string | null;
  /** the session this browser is using */
  readonly current: boolean;
}

/** POST /api/auth/verify */
export type VerifyResult =
  | { readonly valid: true; readonly header: Record<string, unknown>; readonly claims: Record<string, unknown> }
  | { readonly valid: false; readonly code: string; readonly message: string };

export interface SignupInput {
  username: string;
  password: string;
  email?: string;
  name?: string;
  dob?: string;
}

/** POST /api/auth/mfa/enroll: not active until confirmed with a code. */
export interface MfaEnrollment {
  /** base32, for typing into the authenticator app */
  readonly secret: string;
  readonly otpauth_uri: string;
  /** the URI as an SVG QR code (markup: see ui/qr.ts before showing it) */
  readonly qr_svg: string;
}

/** Every error body: `{code, message, details?}`. */
export interface ErrorBody {
  readonly code: string;
  readonly message: string;
  readonly details?: unknown;
}
