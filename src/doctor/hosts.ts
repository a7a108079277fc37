/** Hosts, origins and sites, as browsers and the network see them. Pure. */
import { isIP } from 'node:net';

const bare = (host: string): string => host.replace(/^\[|\]$/g, '').toLowerCase();

/**
 * This machine only: `localhost` (and `*.localhost`, RFC 6761 §6.3), 127.0.0.0/8 and ::1
 * (IPv4-mapped too). `0.0.0.0` and `::` are every interface, the opposite of loopback.
 */
export function isLoopbackHost(host: string): boolean {
  const h = bare(host);
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || /^::ffff:127\./.test(h);
  return false;
}

/**
 * The "site" of an origin as browsers use it for SameSite cookies: the scheme (schemeful
 * same-site, RFC 6265bis §5.2) and the registrable domain. Without the Public Suffix List
 * the registrable domain is approximated by the last two labels: right for example.com
 * and its subdomains; two hosts under a multi-label public suffix (a.github.io,
 * b.github.io; x.co.uk, y.co.uk) count as one site here, so the SameSite advice built on
 * this is a warning, never an error. IP addresses and single labels are their own site.
 */
export function siteOf(origin: string): string {
  const url = new URL(origin);
  const host = bare(url.hostname);
  if (isIP(host) !== 0 || !host.includes('.')) return `${url.protocol}//${host}`;
  return `${url.protocol}//${host.split('.').slice(-2).join('.')}`;
}

/** The URL's origin (`https://host[:port]`), or null when it is not an http(s) URL. */
export function originOf(url: string): string | null {
  try {
    const parsed = new URL(url);
    return /^https?:$/.test(parsed.protocol) ? parsed.origin : null;
  } catch {
    return null;
  }
}

export const isHttps = (url: string): boolean => url.toLowerCase().startsWith('https:');
