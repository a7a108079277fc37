/** Shared TypeBox schemas: the single source of validation, serialization and OpenAPI. */
import { Type, type Static } from 'typebox';
import { USERNAME_PATTERN } from '../users/model.ts';

export const ErrorBody = Type.Object(
  {
    code: Type.String({ description: 'Stable machine-readable code, e.g. invalid_token' }),
    message: Type.String({ description: 'Human-readable explanation' }),
    details: Type.Optional(Type.Unknown()),
  },
  { $id: 'ErrorBody', description: 'The one error shape' },
);

export const Message = Type.Object({ message: Type.String() });

export const Username = Type.String({
  minLength: 3,
  maxLength: 64,
  pattern: USERNAME_PATTERN,
  description: 'Letters, digits, dot, underscore, dash; compared case-insensitively',
});
export const Password = Type.String({ minLength: 1, maxLength: 1024 });
export const Email = Type.String({ format: 'email', maxLength: 254 });

export const PublicUser = Type.Object(
  {
    id: Type.String(),
    username: Type.String(),
    email: Type.Union([Type.String(), Type.Null()]),
    name: Type.Union([Type.String(), Type.Null()]),
    dob: Type.Union([Type.String(), Type.Null()]),
    roles: Type.Array(Type.String()),
    disabled: Type.Boolean(),
    email_confirmed: Type.Boolean(),
    mfa_enabled: Type.Boolean({ description: 'two-factor authentication is on' }),
    created_at: Type.String({ format: 'date-time' }),
  },
  { $id: 'User' },
);

/** A provider identity linked to the account (issue #11): keyed by issuer + subject. */
export const LinkedIdentity = Type.Object({
  id: Type.String(),
  provider_id: Type.String(),
  provider_name: Type.String(),
  issuer: Type.String(),
  subject: Type.String(),
  email: Type.Union([Type.String(), Type.Null()]),
  linked_at: Type.String({ format: 'date-time' }),
  last_login_at: Type.Union([Type.String(), Type.Null()]),
});

export const SignupBody = Type.Object(
  {
    username: Username,
    password: Password,
    email: Type.Optional(Email),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    dob: Type.Optional(Type.String({ format: 'date', description: 'YYYY-MM-DD' })),
  },
  { additionalProperties: false },
);

/** Login bodies carry the identifier in `username` or in `email` (seed 001 sends a uid as email). */
export const LoginBody = Type.Object(
  {
    username: Type.Optional(Type.String({ minLength: 1, maxLength: 254 })),
    email: Type.Optional(Type.String({ minLength: 1, maxLength: 254 })),
    password: Password,
  },
  { additionalProperties: false, examples: [{ username: 'kyle', password: 'p1' }] },
);
export type LoginBody = Static<typeof LoginBody>;

export const TokenPair = Type.Object(
  {
    access_token: Type.String(),
    token_type: Type.Literal('Bearer'),
    expires_in: Type.Integer({ description: 'seconds' }),
    refresh_token: Type.String(),
  },
  { $id: 'TokenPair' },
);

/** Cookie mode: tokens stay in HttpOnly cookies; the page only gets the CSRF token. */
export const CookieSession = Type.Object(
  {
    message: Type.String(),
    csrf_token: Type.String({ description: 'Send as X-CSRF-Token on unsafe requests' }),
    expires_in: Type.Integer({ description: 'seconds' }),
  },
  { $id: 'CookieSession' },
);

/** Optional in cookie mode, where the refresh cookie carries it. */
export const RefreshBody = Type.Object(
  { refresh_token: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })) },
  { additionalProperties: false },
);

export const EmptyBody = Type.Object({}, { additionalProperties: false });

// --- passkeys (WebAuthn L3 §5.1: the JSON forms of PublicKeyCredential) ---------------

const Base64Url = (maxLength: number, description?: string) =>
  Type.String({ minLength: 1, maxLength, pattern: '^[A-Za-z0-9_-]+={0,2}$', ...(description ? { description } : {}) });

/**
 * Inner objects accept members they do not name: browsers add fields to these JSON forms
 * over time (L3 added several), and they are ignored; what is named is checked.
 */
export const AuthenticationResponse = Type.Object(
  {
    id: Base64Url(1400, 'credential id'),
    rawId: Base64Url(1400),
    type: Type.Literal('public-key'),
    response: Type.Object(
      {
        clientDataJSON: Base64Url(8192),
        authenticatorData: Base64Url(8192),
        signature: Base64Url(2048),
        userHandle: Type.Optional(Type.Union([Base64Url(128), Type.Null()])),
      },
      { additionalProperties: true },
    ),
    clientExtensionResults: Type.Object({}, { additionalProperties: true }),
    authenticatorAttachment: Type.Optional(Type.String({ maxLength: 32 })),
  },
  { additionalProperties: true, description: 'What navigator.credentials.get() returned, as JSON (@simplewebauthn/browser startAuthentication)' },
);

export const RegistrationResponse = Type.Object(
  {
    id: Base64Url(1400, 'credential id'),
    rawId: Base64Url(1400),
    type: Type.Literal('public-key'),
    response: Type.Object(
      {
        clientDataJSON: Base64Url(8192),
        attestationObject: Base64Url(16384),
        transports: Type.Optional(Type.Array(Type.String({ maxLength: 32 }), { maxItems: 8 })),
      },
      { additionalProperties: true },
    ),
    clientExtensionResults: Type.Object({}, { additionalProperties: true }),
    authenticatorAttachment: Type.Optional(Type.String({ maxLength: 32 })),
  },
  { additionalProperties: true, description: 'What navigator.credentials.create() returned, as JSON (@simplewebauthn/browser startRegistration)' },
);

/** Options for navigator.credentials.create() / get(), as JSON (L3 §5.4, §5.5); passed through as the library made them. */
export const PasskeyOptions = Type.Object(
  { challenge: Type.String(), rpId: Type.Optional(Type.String()) },
  { additionalProperties: true, description: 'PublicKeyCredentialCreationOptionsJSON or PublicKeyCredentialRequestOptionsJSON: give it to @simplewebauthn/browser' },
);
