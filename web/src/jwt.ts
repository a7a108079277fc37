/**
 * Reads a compact JWT (RFC 7519) without verifying it: header and claims are only
 * base64url-encoded JSON, so the browser can show them and nothing leaves the page.
 * Whether the signature holds is the server's call (POST /api/auth/verify).
 */

export interface DecodedJwt {
  readonly header: Record<string, unknown>;
  readonly claims: Record<string, unknown>;
  /** the signature part, still encoded */
  readonly signature: string;
}

export class JwtFormatError extends Error {
  override readonly name = 'JwtFormatError';
}

export function decodeJwt(input: string): DecodedJwt {
  // People paste "Bearer eyJ…" or tokens wrapped across lines.
  const token = input
    .trim()
    .replace(/^(Bearer|JWT)\s+/i, '')
    .replace(/\s+/g, '');
  const parts = token.split('.');
  if (parts.length === 5) throw new JwtFormatError('This is an encrypted token (JWE): its claims cannot be read without the key.');
  if (parts.length !== 3) throw new JwtFormatError(`A JWT has three parts separated by dots; this has ${parts.length}.`);
  const [header = '', claims = '', signature = ''] = parts;
  return { header: decodePart(header, 'header'), claims: decodePart(claims, 'claims'), signature };
}

function decodePart(part: string, name: string): Record<string, unknown> {
  if (!/^[A-Za-z0-9_-]+$/.test(part)) throw new JwtFormatError(`The ${name} is not base64url.`);
  let json: unknown;
  try {
    json = JSON.parse(base64UrlDecode(part));
  } catch {
    throw new JwtFormatError(`The ${name} is not base64url-encoded JSON.`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new JwtFormatError(`The ${name} is not a JSON object.`);
  return json as Record<string, unknown>;
}

/** base64url (RFC 4648 §5, no padding) to a UTF-8 string. */
export function base64UrlDecode(part: string): string {
  const base64 = part
    .replace(/-/g, '+')
    .replace(/_/g, '/')
    .padEnd(Math.ceil(part.length / 4) * 4, '=');
  const binary = atob(base64);
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
}

/** A NumericDate claim (seconds since the epoch), or null when absent or not a number. */
export function numericDate(claims: Record<string, unknown>, name: string): number | null {
  const value = claims[name];
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}
