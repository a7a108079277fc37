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
  // Log in with an OpenID Connect provider (issue #11). The browser meets these as
  // /#/login?error=<code> after a redirect; the API answers them in the one shape.
  oidc_provider_unknown: { status: 404, message: 'No such login provider' },
  oidc_provider_unavailable: { status: 502, message: 'The login provider cannot be reached right now; try again later' },
  oidc_provider_rejected: { status: 502, message: 'The login provider refused to complete the login (Bastion may be misconfigured there); tell the administrator' },
  oidc_access_denied: { status: 401, message: 'The login was cancelled at the provider' },
  oidc_state_mismatch: { status: 400, message: 'The login response does not belong to the login this browser started; start again' },
  oidc_issuer_mismatch: { status: 400, message: 'The login response came from another provider than the one this login was started with; start again' },
  oidc_nonce_mismatch: { status: 401, message: 'The provider’s answer does not belong to this login (nonce mismatch); start again' },
  oidc_invalid_id_token: { status: 401, message: 'The provider’s ID token could not be verified; start again' },
  oidc_flow_missing: { status: 400, message: 'This login was not started in this browser, or has already finished; start again' },
  oidc_flow_replayed: { status: 400, message: 'This login response was already used; start again' },
  oidc_flow_expired: { status: 400, message: 'This login took too long; start again' },
  oidc_link_required: { status: 409, message: 'An account with this email already exists: log in with your password first, then link the provider on the Account page' },
  oidc_identity_in_use: { status: 409, message: 'This provider account is already linked to another Bastion account' },
  oidc_link_session_lost: { status: 401, message: 'Linking needs you to stay logged in as the account that started it; log in and try again' },
  oidc_mfa_required: { status: 401, message: 'This account uses two-factor authentication: log in with your password and code' },
  oidc_last_login_method: { status: 409, message: 'This is the only way to log in to this account: set a password or link another provider first' },
  oidc_identity_not_found: { status: 404, message: 'No such linked identity' },
  // Passkeys (WebAuthn, issue #11)
  passkeys_unavailable: { status: 409, message: 'Passkeys need a host name: open this site by name (e.g. http://localhost:8085), or set PUBLIC_URL or WEBAUTHN_RP_ID' },
  invalid_passkey: { status: 401, message: 'The passkey was not accepted' },
  passkey_challenge_invalid: { status: 400, message: 'This passkey request expired or was already used; start again' },
  passkey_registration_failed: { status: 400, message: 'The passkey could not be registered' },
  passkey_already_registered: { status: 409, message: 'This passkey is already registered' },
  passkey_not_found: { status: 404, message: 'No such passkey' },
  // Machine clients, introspection and revocation (issue #12). On /oauth/* these answer
  // in RFC 6749 §5.2 form, {error, error_description} (errors/http.ts); the codes that are
  // RFC error values keep their RFC names.
  invalid_client: { status: 401, message: 'Client authentication failed' },
  invalid_request: { status: 400, message: 'The request is missing a parameter, repeats one, or is otherwise malformed' },
  unsupported_grant_type: { status: 400, message: 'Only grant_type=client_credentials is supported' },
  invalid_scope: { status: 400, message: 'The requested scope is invalid or not granted to this client' },
  unauthorized_client: { status: 400, message: 'This client may not do that with this token' },
  insufficient_scope: { status: 403, message: 'The access token does not carry the scope this action needs' },
  user_token_required: { status: 403, message: 'This action needs a user’s access token, not a machine client’s' },
  client_not_found: { status: 404, message: 'No such client' },
  client_name_taken: { status: 409, message: 'A client with that name exists already' },
  // Moving from Flask (issue #12): an old app's token after LEGACY_JWT_UNTIL
  legacy_token_expired: { status: 401, message: 'Tokens of the old application are no longer accepted; log in again' },
  internal: { status: 500, message: 'Unexpected failure' },
  not_ready: { status: 503, message: 'The database is not reachable' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

export const ERROR_CODES = Object.keys(ERRORS) as ErrorCode[];
