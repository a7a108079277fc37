/**
 * The configured providers and their discovered metadata. Discovery (OIDC Discovery §4,
 * through openid-client) happens on first use, not at start-up: a provider that is down
 * must not keep Bastion from starting; its start route answers provider_unavailable
 * until it is back. A successful discovery is kept for METADATA_TTL_MS; a failed one is
 * not kept, so the next attempt asks again.
 */
import * as client from 'openid-client';
import { AppError } from '../errors/app-error.ts';
import type { Clock } from '../lib/clock.ts';
import { isLoopbackHost, type OidcProviderConfig } from './config.ts';

/** How long discovered metadata is trusted before it is fetched again (keys rotate through the JWKS, fetched by openid-client). */
const METADATA_TTL_MS = 60 * 60_000;
/** Seconds any single request to a provider may take (discovery, token, JWKS). */
const REQUEST_TIMEOUT_S = 10;

interface Cached {
  readonly at: number;
  readonly config: Promise<client.Configuration>;
}

export class OidcProviders {
  private readonly byId: ReadonlyMap<string, OidcProviderConfig>;
  private readonly cache = new Map<string, Cached>();

  constructor(
    providers: readonly OidcProviderConfig[],
    private readonly clock: Clock,
  ) {
    this.byId = new Map(providers.map((p) => [p.id, p]));
  }

  /** What the login page shows: id and name, nothing else. */
  list(): { id: string; name: string }[] {
    return [...this.byId.values()].map((p) => ({ id: p.id, name: p.name }));
  }

  get(id: string): OidcProviderConfig {
    const provider = this.byId.get(id);
    if (!provider) throw new AppError('oidc_provider_unknown');
    return provider;
  }

  find(id: string): OidcProviderConfig | undefined {
    return this.byId.get(id);
  }

  /** The provider's openid-client Configuration, discovered once and shared by concurrent callers. */
  async configuration(id: string): Promise<client.Configuration> {
    const provider = this.get(id);
    const now = this.clock.now();
    const cached = this.cache.get(id);
    if (cached && now - cached.at < METADATA_TTL_MS) return cached.config;
    const config = discover(provider);
    this.cache.set(id, { at: now, config });
    config.catch(() => {
      if (this.cache.get(id)?.config === config) this.cache.delete(id);
    });
    return config;
  }
}

async function discover(provider: OidcProviderConfig): Promise<client.Configuration> {
  const issuer = new URL(provider.issuer);
  // http:// only ever passed config validation on a loopback address (config.ts)
  const insecure = issuer.protocol === 'http:' && isLoopbackHost(issuer.hostname);
  try {
    return await client.discovery(
      issuer,
      provider.clientId,
      undefined,
      client.ClientSecretBasic(provider.clientSecret),
      { timeout: REQUEST_TIMEOUT_S, ...(insecure ? { execute: [client.allowInsecureRequests] } : {}) },
    );
  } catch (err) {
    throw new AppError('oidc_provider_unavailable', undefined, { cause: err });
  }
}
