/**
 * createVerifier: verifies Bastion's access tokens in another service, the way Bastion
 * itself does, from the issuer's identifier alone.
 *
 *   discovery (RFC 8414) -> jwks_uri -> jose's remote key set (cached; an unknown kid
 *   refetches it, so a rotation is followed) -> jwtVerify: the issuer's algorithms only,
 *   typ at+jwt, iss, aud, exp/nbf with a small leeway, the claims Bastion always sets ->
 *   the revocation feed, held in memory (with client credentials).
 */
import { createRemoteJWKSet, customFetch, errors, jwtVerify, type FetchImplementation, type JWTPayload, type JSONWebKeySet } from 'jose';
import { VerifyError } from './errors.ts';
import { discover, checkUrl, type Fetch, type IssuerMetadata } from './metadata.ts';
import { RevocationFeed } from './revocations.ts';

export interface VerifierOptions {
  /** Bastion's issuer identifier, exactly as tokens carry it in `iss` (its PUBLIC_URL by default), e.g. https://auth.example.com */
  readonly issuer: string;
  /** the `aud` tokens must carry: Bastion's JWT_AUDIENCE (default "bastion"); several: any of them */
  readonly audience?: string | readonly string[];
  /** a machine client of Bastion (`bastion client add`): with both, the revocation feed is followed */
  readonly clientId?: string;
  readonly clientSecret?: string;
  /** how often the revocation feed is read, in ms (default 1000) */
  readonly pollInterval?: number;
  /**
   * Fail closed: when the feed has not been read successfully for this many ms, every
   * token is refused with 503 verifier_unavailable until it has been again. Unset (the
   * default): the last known revocations keep being applied, however old.
   */
  readonly failClosedAfter?: number;
  /** clock skew tolerated on exp, nbf and iat, in seconds (default 5, Bastion's JWT_LEEWAY) */
  readonly clockTolerance?: number;
  /** a subset of the issuer's algorithms to accept; never `none` or HS* (RFC 8725 §3.1) */
  readonly algorithms?: readonly string[];
  /** timeout of each request to Bastion, in ms (default 5000) */
  readonly timeout?: number;
  /** an unknown kid refetches the JWKS at most this often, in ms (default 5000) */
  readonly jwksCooldown?: number;
  /** plain http:// to an issuer off the loopback interface (default false: https only, RFC 8414 §2) */
  readonly allowInsecureHttp?: boolean;
  /** told about each failed feed read (retried by itself); default: nothing */
  readonly onError?: (err: Error) => void;
  /** the fetch to reach Bastion with (a proxy agent, tests); default globalThis.fetch */
  readonly fetch?: Fetch;
}

/** A verified access token's claims. User tokens carry `roles` and `sid`; machine clients' tokens `client_id` and `scope`. */
export interface AccessTokenClaims extends JWTPayload {
  readonly iss: string;
  readonly sub: string;
  readonly aud: string | string[];
  readonly exp: number;
  readonly iat: number;
  readonly jti: string;
  readonly roles?: string[];
  readonly sid?: string;
  readonly client_id?: string;
  /** space-separated (RFC 9068 §2.2.3) */
  readonly scope?: string;
}

export interface VerifierStatus {
  /** whether the revocation feed is followed (client credentials given) */
  readonly following: boolean;
  /** the feed was read recently enough (within failClosedAfter, else 5 poll intervals and at least 5 s); always true when not following */
  readonly healthy: boolean;
  /** the last complete read of the feed */
  readonly lastSync: Date | null;
  /** why the last read failed; null once a read succeeds again */
  readonly lastError: Error | null;
  /** the feed's cursor: the last row applied */
  readonly cursor: number;
  /** complete reads of the feed since start (a counter for metrics) */
  readonly syncs: number;
  /** revocations held in memory */
  readonly revocations: number;
}

export interface Verifier {
  /** Resolves to the claims, or rejects with a VerifyError (invalid_token, token_expired, token_revoked, verifier_unavailable). */
  verify(token: string): Promise<AccessTokenClaims>;
  readonly metadata: IssuerMetadata;
  /** the algorithms accepted */
  readonly algorithms: readonly string[];
  readonly status: VerifierStatus;
  /** shorthand for status.healthy */
  readonly healthy: boolean;
  /** shorthand for status.lastSync */
  readonly lastSync: Date | null;
  /** the keys in use (a copy of the cached JWKS) */
  jwks(): JSONWebKeySet | undefined;
  /** reads the revocation feed now (resolves when every row committed before the call is applied) */
  sync(): Promise<void>;
  /** stops the feed's timer; the verifier keeps verifying signatures */
  close(): Promise<void>;
}

/** Public-key algorithms jose verifies: the only ones a key set fetched over the network may vouch for. */
const ASYMMETRIC = new Set(['EdDSA', 'Ed25519', 'ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']);
/** RFC 9068 §2.1 */
const ACCESS_TOKEN_TYP = 'at+jwt';

/**
 * Fetches the issuer's metadata and keys (and, with client credentials, everything the
 * feed holds in force), then resolves to a ready verifier. Rejects when any of that fails
 * (wrong issuer, unreachable, credentials refused): misuse shows at start-up, not later.
 */
export async function createVerifier(options: VerifierOptions): Promise<Verifier> {
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const timeoutMs = options.timeout ?? 5000;
  const toleranceSec = options.clockTolerance ?? 5;
  const pollMs = options.pollInterval ?? 1000;
  const allowInsecureHttp = options.allowInsecureHttp ?? false;
  if (!(pollMs >= 50)) throw new TypeError('pollInterval must be at least 50 ms');
  if ((options.clientId === undefined) !== (options.clientSecret === undefined)) throw new TypeError('clientId and clientSecret go together');
  if (options.failClosedAfter !== undefined && options.clientId === undefined) throw new TypeError('failClosedAfter needs the revocation feed: give clientId and clientSecret');
  const audience = options.audience === undefined ? 'bastion' : typeof options.audience === 'string' ? options.audience : [...options.audience];

  const metadata = await discover(options.issuer, { fetch: fetchImpl, timeoutMs, allowInsecureHttp });
  const algorithms = acceptedAlgorithms(metadata, options.algorithms);

  const jwks = createRemoteJWKSet(new URL(metadata.jwks_uri), {
    timeoutDuration: timeoutMs,
    cooldownDuration: options.jwksCooldown ?? 5000,
    ...(options.fetch ? { [customFetch]: options.fetch as FetchImplementation } : {}),
  });
  await jwks.reload();

  let feed: RevocationFeed | null = null;
  if (options.clientId !== undefined && options.clientSecret !== undefined) {
    const feedUrl = metadata.bastion_revocation_feed_endpoint;
    if (typeof feedUrl !== 'string') throw new TypeError(`${options.issuer} publishes no revocation feed (bastion_revocation_feed_endpoint): is it Bastion?`);
    feed = new RevocationFeed({
      url: checkUrl('bastion_revocation_feed_endpoint', feedUrl, allowInsecureHttp),
      clientId: options.clientId,
      clientSecret: options.clientSecret,
      pollMs,
      timeoutMs,
      toleranceSec,
      fetch: fetchImpl,
      onKeysChanged: () => jwks.reload(),
      onError: options.onError ?? (() => undefined),
    });
    await feed.start();
  }

  const staleAfterMs = options.failClosedAfter ?? Math.max(5000, 5 * pollMs);
  const status = (): VerifierStatus => ({
    following: feed !== null,
    healthy: feed === null || (feed.lastSyncMs !== null && Date.now() - feed.lastSyncMs <= staleAfterMs),
    lastSync: feed?.lastSyncMs == null ? null : new Date(feed.lastSyncMs),
    lastError: feed?.lastError ?? null,
    cursor: feed?.position ?? 0,
    syncs: feed?.syncs ?? 0,
    revocations: feed?.state.size ?? 0,
  });

  const verify = async (token: string): Promise<AccessTokenClaims> => {
    if (feed && options.failClosedAfter !== undefined && (feed.lastSyncMs === null || Date.now() - feed.lastSyncMs > options.failClosedAfter)) {
      throw new VerifyError('verifier_unavailable', 'The revocation feed has not been read recently; tokens are refused until it is (failClosedAfter)');
    }
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, jwks, {
        algorithms: [...algorithms],
        issuer: metadata.issuer,
        audience,
        typ: ACCESS_TOKEN_TYP,
        clockTolerance: toleranceSec,
        requiredClaims: ['iss', 'aud', 'sub', 'iat', 'exp', 'jti'],
      }));
    } catch (err) {
      throw asVerifyError(err);
    }
    const claims = asClaims(payload);
    if (feed?.state.isRevoked(claims)) throw new VerifyError('token_revoked');
    return claims;
  };

  return {
    verify,
    metadata,
    algorithms,
    get status() {
      return status();
    },
    get healthy() {
      return status().healthy;
    },
    get lastSync() {
      return status().lastSync;
    },
    jwks: () => jwks.jwks(),
    sync: async () => {
      await feed?.sync();
    },
    close: async () => {
      await feed?.close();
    },
  };
}

/**
 * RFC 8725 §3.1: an allowlist of algorithms, from the issuer's metadata (what it signs
 * with), narrowed by the host's choice, never `none` or a MAC (an HS* token "signed" with
 * the public key as a shared secret is the classic confusion).
 */
function acceptedAlgorithms(metadata: IssuerMetadata, wanted: readonly string[] | undefined): readonly string[] {
  const published = metadata.access_token_signing_alg_values_supported;
  const fromIssuer = published ?? [...ASYMMETRIC];
  const chosen = (wanted ?? fromIssuer).filter((alg) => ASYMMETRIC.has(alg) && fromIssuer.includes(alg));
  if (chosen.length === 0) {
    throw new TypeError(`no usable signing algorithm: the issuer signs with ${fromIssuer.join(', ') || 'nothing'}; bastion/verify takes public-key algorithms only (${[...ASYMMETRIC].join(', ')})`);
  }
  return Object.freeze(chosen);
}

/** jose's failures as the verifier's codes; a key set that cannot be fetched is the issuer's trouble, not the token's. */
function asVerifyError(err: unknown): VerifyError {
  if (err instanceof errors.JWTExpired) return new VerifyError('token_expired', undefined, { cause: err });
  if (err instanceof errors.JWKSTimeout || !(err instanceof errors.JOSEError) || err.code === 'ERR_JOSE_GENERIC') {
    return new VerifyError('verifier_unavailable', 'The issuer\u2019s keys cannot be fetched right now; try again shortly', { cause: err });
  }
  return new VerifyError('invalid_token', undefined, { cause: err });
}

const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

/** The claims Bastion sets, with their types checked (jose checked presence, iss, aud and times). */
function asClaims(payload: JWTPayload): AccessTokenClaims {
  const p = payload as Record<string, unknown>;
  const ok =
    typeof p['sub'] === 'string' &&
    typeof p['jti'] === 'string' &&
    typeof p['iat'] === 'number' &&
    (p['roles'] === undefined || isStringArray(p['roles'])) &&
    (p['sid'] === undefined || typeof p['sid'] === 'string') &&
    (p['client_id'] === undefined || typeof p['client_id'] === 'string') &&
    (p['scope'] === undefined || typeof p['scope'] === 'string');
  if (!ok) throw new VerifyError('invalid_token', 'The access token has a claim of the wrong type');
  return payload as AccessTokenClaims;
}

/** A token's scopes (RFC 6749 §3.3: space-delimited). */
export const scopesOf = (claims: Pick<AccessTokenClaims, 'scope'>): string[] => (claims.scope ? claims.scope.split(' ').filter(Boolean) : []);
