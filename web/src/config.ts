/**
 * Runtime configuration, read from `config.json` next to index.html so one build serves
 * every deployment: on the API's own origin the file says nothing (or is absent), on
 * another origin (static hosting, a CDN) it names the API, e.g.
 *   {"apiBase": "https://api.example.com"}
 */

export interface AppConfig {
  /** origin (and optional path prefix) of the Bastion API, without a trailing slash */
  readonly apiBase: string;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export async function loadConfig(): Promise<AppConfig> {
  // Relative to the document, so a build served from /some/path/ finds its own file.
  const url = new URL('config.json', document.baseURI);
  const response = await fetch(url, { cache: 'no-store', credentials: 'same-origin' });
  if (response.status === 404) return { apiBase: location.origin };
  if (!response.ok) throw new ConfigError(`config.json could not be loaded (HTTP ${response.status})`);
  let raw: unknown;
  try {
    raw = await response.json();
  } catch {
    throw new ConfigError('config.json is not valid JSON');
  }
  return parseConfig(raw);
}

export function parseConfig(raw: unknown): AppConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError('config.json must hold a JSON object');
  }
  const apiBase = (raw as { apiBase?: unknown }).apiBase;
  if (apiBase === undefined || apiBase === null || apiBase === '') return { apiBase: location.origin };
  if (typeof apiBase !== 'string') throw new ConfigError('config.json: apiBase must be a string');
  let parsed: URL;
  try {
    parsed = new URL(apiBase);
  } catch {
    throw new ConfigError(`config.json: apiBase "${apiBase}" is not an absolute URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ConfigError('config.json: apiBase must be an http or https URL');
  }
  // Request paths start with "/", so the base must not end with one.
  return { apiBase: `${parsed.origin}${parsed.pathname}`.replace(/\/+$/, '') };
}
