/**
 * OIDC_PROVIDERS: the OpenID Connect providers people may log in with, as JSON, e.g.
 *   [{"id":"corp","name":"Corp SSO","issuer":"https://id.example","client_id":"…","client_secret":"…","scopes":"openid email profile"}]
 * Parsed once at start-up (config/schema.ts); a mistake is one line naming the variable.
 * The client secret never appears in an error: messages name the provider and the field.
 */

export interface OidcProviderConfig {
  /** path segment of the routes: /api/auth/oidc/<id>/start */
  readonly id: string;
  /** shown on the button: "Log in with <name>" */
  readonly name: string;
  /** the Issuer Identifier, exactly as the provider's discovery document states it (OIDC Discovery §4.3) */
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** space-separated; always includes "openid" */
  readonly scopes: string;
}

const ID = /^[a-z0-9][a-z0-9_-]{0,31}$/;
const FIELDS = new Set(['id', 'name', 'issuer', 'client_id', 'client_secret', 'scopes']);

/** http:// is accepted only where no network sits in between: a loopback address (development and tests). */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

/** The providers, or a string saying what is wrong (the settings table's parser contract). */
export function parseOidcProviders(raw: string): readonly OidcProviderConfig[] | { invalid: string } {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    // the parser's message could quote the text, and the text holds secrets
    return { invalid: 'must be a JSON array of providers like [{"id":"corp","name":"Corp SSO","issuer":"https://…","client_id":"…","client_secret":"…"}] (not valid JSON)' };
  }
  if (!Array.isArray(value)) return { invalid: 'must be a JSON array of provider objects' };
  const seen = new Set<string>();
  const providers: OidcProviderConfig[] = [];
  for (const [index, entry] of value.entries()) {
    const where = `entry ${index + 1}`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return { invalid: `${where} must be an object` };
    const fields = entry as Record<string, unknown>;
    const unknown = Object.keys(fields).find((k) => !FIELDS.has(k));
    if (unknown !== undefined) return { invalid: `${where} has an unknown field "${unknown.slice(0, 40)}"` };
    const text = (name: string, required: boolean, max = 2048): string | { invalid: string } | undefined => {
      const v = fields[name];
      if (v === undefined && !required) return undefined;
      if (typeof v !== 'string' || v.trim() === '' || v.length > max) return { invalid: `${where} needs "${name}" as non-empty text of at most ${max} characters` };
      return v.trim();
    };
    const id = text('id', true, 32);
    if (typeof id === 'object') return id;
    if (!ID.test(id!)) return { invalid: `${where}: "id" must be 1 to 32 lower-case letters, digits, "-" or "_", starting with a letter or digit` };
    const label = `provider "${id}"`;
    if (seen.has(id!)) return { invalid: `has two providers with the id "${id}"` };
    seen.add(id!);
    const fieldOf = (name: string, required: boolean, max?: number) => {
      const v = text(name, required, max);
      return typeof v === 'object' ? { invalid: v.invalid.replace(where, label) } : v;
    };
    const name = fieldOf('name', true, 64);
    const issuer = fieldOf('issuer', true);
    const clientId = fieldOf('client_id', true, 512);
    const clientSecret = fieldOf('client_secret', true, 4096);
    const scopes = fieldOf('scopes', false, 1024);
    for (const v of [name, issuer, clientId, clientSecret, scopes]) if (typeof v === 'object') return v;
    const issuerProblem = checkIssuer(issuer as string);
    if (issuerProblem) return { invalid: `${label}: "issuer" ${issuerProblem}` };
    const scopeList = ((scopes as string | undefined) ?? 'openid email profile').split(/\s+/).filter(Boolean);
    // OIDC Core §3.1.2.1: without "openid" the request is plain OAuth and no ID token comes back.
    if (!scopeList.includes('openid')) scopeList.unshift('openid');
    providers.push({
      id: id!,
      name: name as string,
      issuer: issuer as string,
      clientId: clientId as string,
      clientSecret: clientSecret as string,
      scopes: scopeList.join(' '),
    });
  }
  return providers;
}

function checkIssuer(issuer: string): string | null {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    return `must be an https:// URL (got "${issuer.slice(0, 200)}")`;
  }
  // OIDC Discovery §2 / RFC 8414 §2: an https URL with no query or fragment.
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    return 'must have no query, fragment or credentials';
  }
  if (url.protocol === 'https:') return null;
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return null;
  if (url.protocol === 'http:') return `may use http:// only on a loopback address (127.0.0.1, ::1, localhost); use https:// (got "${issuer.slice(0, 200)}")`;
  return `must be an https:// URL (got "${issuer.slice(0, 200)}")`;
}

/** `"client_secret":"…"` in OIDC_PROVIDERS text, masked for `bastion config --check`. */
export const maskClientSecrets = (text: string): string => text.replace(/("client_secret"\s*:\s*")((?:[^"\\]|\\.)*)"/g, '$1***"');
