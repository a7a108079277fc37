/**
 * The whole error taxonomy: every code Bastion answers with, its HTTP status and its
 * default human message. Clients branch on `code`; `message` is for people.
 * Statuses live here and only here (STYLE.md §4.2).
 */
export const ERRORS = {
  bad_request: { status: 400, message: 'Bad request' },
  validation_failed: { status: 400, message: 'The request is not valid' },
  invalid_json: { status: 400, message: 'The request body is not valid JSON' },
  weak_password: { status: 400, message: 'The password does not meet the password policy' },
  missing_token: { status: 401, message: 'Missing Authorization Header' },
  invalid_token: { status: 401, message: 'The access token is invalid' },
  token_expired: { status: 401, message: 'The access token has expired' },
  token_revoked: { status: 401, message: 'The access token has been revoked' },
  invalid_credentials: { status: 401, message: 'Invalid credentials' },
  fresh_login_required: { status: 401, message: 'This action needs a recent password login; log in again' },
  mfa_required: { status: 401, message: 'Enter the code from your authenticator app' },
  invalid_mfa_code: { status: 401, message: 'The code is not valid' },
  invalid_one_time_token: { status: 400, message: 'The link is invalid, used or expired' },
  invalid_refresh_token: { status: 401, message: 'The refresh token is invalid or expired' },
  refresh_token_reused: { status: 401, message: 'The refresh token was already used; the session has been revoked' },
  forbidden: { status: 403, message: 'You do not have the role this action needs' },
  csrf_failed: { status: 403, message: 'Missing or wrong X-CSRF-Token header' },
  account_disabled: { status: 403, message: 'This account is disabled' },
  wrong_password: { status: 403, message: 'The current password is not correct' },
  origin_not_allowed: { status: 403, message: 'This origin is not allowed' },
  not_found: { status: 404, message: 'Not found' },
  user_not_found: { status: 404, message: 'No such user' },
  session_not_found: { status: 404, message: 'No such session' },
  method_not_allowed: { status: 405, message: 'Method not allowed' },
  username_taken: { status: 409, message: 'That username is taken' },
  email_taken: { status: 409, message: 'That email is already registered' },
  refresh_conflict: { status: 409, message: 'This refresh token was used a moment ago; use the newest one' },
  self_lockout: { status: 409, message: 'You cannot disable yourself or remove your own admin role' },
  mfa_already_enabled: { status: 409, message: 'Two-factor authentication is already on' },
  mfa_not_enabled: { status: 409, message: 'Two-factor authentication is not on' },
  mfa_not_enrolled: { status: 409, message: 'Start two-factor enrolment first' },
  email_already_confirmed: { status: 409, message: 'This email address is already confirmed' },
  no_email: { status: 409, message: 'This account has no email address' },
  payload_too_large: { status: 413, message: 'The request body is too large' },
  uri_too_long: { status: 414, message: 'A path segment is too long' },
  expectation_failed: { status: 417, message: 'Only Expect: 100-continue is supported' },
  unsupported_media_type: { status: 415, message: 'Unsupported content type; send application/json' },
  too_many_requests: { status: 429, message: 'Too many requests; slow down' },
  too_many_attempts: { status: 429, message: 'Too many failed attempts; try again later' },
  internal: { status: 500, message: 'Unexpected failure' },
  not_ready: { status: 503, message: 'The database is not reachable' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

export const ERROR_CODES = Object.keys(ERRORS) as ErrorCode[];
