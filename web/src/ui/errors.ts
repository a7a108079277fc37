/** Turns any failure into words for a person: the server's message, plus what helps next. */
import { ApiError, NetworkError } from '../http.ts';

export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) {
    // A throttled request (flood limit or account lockout): say when to try again, unless
    // the server's message already does.
    if (err.status === 429 && err.retryAfter !== null && !err.message.includes(String(err.retryAfter))) {
      return `${err.message}. Try again in ${err.retryAfter} second${err.retryAfter === 1 ? '' : 's'}.`;
    }
    return err.message;
  }
  if (err instanceof NetworkError) return err.message;
  return 'Something went wrong. Please try again.';
}

/**
 * The itemised part of an error, when the server gave one: the password policy's
 * reasons, or each field that failed validation.
 */
export function errorDetails(err: unknown): string[] {
  if (!(err instanceof ApiError) || typeof err.details !== 'object' || err.details === null) return [];
  const details = err.details as { reasons?: unknown };
  if (Array.isArray(details.reasons)) return details.reasons.filter((r): r is string => typeof r === 'string');
  if (Array.isArray(err.details)) {
    return err.details.flatMap((d: unknown) => {
      const item = d as { path?: unknown; message?: unknown };
      if (typeof item.message !== 'string') return [];
      const field = typeof item.path === 'string' ? item.path.replace(/^body\//, '').replaceAll('_', ' ') : '';
      return [field ? `${field} ${item.message}` : item.message];
    });
  }
  return [];
}
