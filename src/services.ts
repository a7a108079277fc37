import type { AuditLog } from './audit/log.ts';
import type { Config } from './config/load.ts';
import type { KeyService } from './keys/service.ts';
import type { MfaService } from './mfa/service.ts';
import type { PasskeyService } from './passkeys/service.ts';
import type { OidcService } from './oidc/service.ts';
import type { ClientService } from './oauth/clients.ts';
import type { OAuthService } from './oauth/service.ts';
import type { Clock } from './lib/clock.ts';
import type { LegacyTokens } from './sessions/legacy.ts';
import type { RevocationList } from './sessions/revocation.ts';
import type { SessionService } from './sessions/service.ts';
import type { DbHandle } from './storage/db.ts';
import type { LoginThrottle } from './throttle/login.ts';
import type { RecoveryService } from './recovery/service.ts';
import type { UserService } from './users/service.ts';

/** Everything a route or command needs, built once by `openServices`. */
export interface Services {
  readonly config: Config;
  readonly clock: Clock;
  readonly store: DbHandle;
  readonly keys: KeyService;
  readonly revocations: RevocationList;
  readonly users: UserService;
  readonly sessions: SessionService;
  readonly audit: AuditLog;
  readonly throttle: LoginThrottle;
  readonly mfa: MfaService;
  readonly recovery: RecoveryService;
  readonly passkeys: PasskeyService;
  /** log in with OpenID Connect providers (OIDC_PROVIDERS) */
  readonly oidc: OidcService;
  /** machine clients (bastion client add) */
  readonly clients: ClientService;
  /** client_credentials tokens, introspection, revocation (/oauth/*) */
  readonly oauth: OAuthService;
  /** an old Flask app's tokens for imported accounts (LEGACY_JWT_*); null when off */
  readonly legacyTokens: LegacyTokens | null;
}
