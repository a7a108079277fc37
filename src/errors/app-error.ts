import { ERRORS, type ErrorCode } from './codes.ts';

/**
 * The only error domain code throws. `message` is public; `cause` is private and only
 * logged (STYLE.md §4.5), so parser text and secrets never reach a response.
 */
export class AppError extends Error {
  readonly details: unknown;
  /** extra response headers, e.g. Retry-After */
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    readonly code: ErrorCode,
    message: string = ERRORS[code].message,
    options: { cause?: unknown; details?: unknown; headers?: Record<string, string> } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'AppError';
    this.details = options.details;
    this.headers = options.headers ?? {};
  }

  get status(): number {
    return ERRORS[this.code].status;
  }
}
