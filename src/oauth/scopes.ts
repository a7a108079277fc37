/**
 * Scopes and client names: what `bastion client add` accepts and what a `scope` parameter
 * may hold. Pure functions.
 */

/** RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ) — printable ASCII but space, " and \. */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/;
/** A client holds at most this many scopes (a bound on the token's size). */
export const MAX_SCOPES = 64;

export const isScopeToken = (text: string): boolean => SCOPE_TOKEN.test(text);

/**
 * The scopes of a `scope` parameter (RFC 6749 §3.3: scope-tokens separated by single
 * spaces), without repeats and in their first order; null when it is not that syntax.
 */
export function parseScope(text: string): string[] | null {
  const tokens = text.split(' ');
  if (tokens.length > MAX_SCOPES || !tokens.every(isScopeToken)) return null;
  return [...new Set(tokens)];
}

export const formatScope = (scopes: readonly string[]): string => scopes.join(' ');

/** A client's name: what operators type (`bastion client remove reports`); never an id's shape. */
const CLIENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** Client ids are 32 lower-case hex digits (oauth/clients.ts). */
export const CLIENT_ID = /^[0-9a-f]{32}$/;

export const isClientName = (name: string): boolean => CLIENT_NAME.test(name) && !CLIENT_ID.test(name);
