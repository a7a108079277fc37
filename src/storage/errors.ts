/**
 * Is this a failure of the database itself (unreachable, restarting, overloaded), as
 * opposed to a bug? Those answer 503 not_ready (the client may retry), never 500.
 */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'EPIPE', 'EAI_AGAIN']);
/**
 * SQLSTATE classes 08 (connection exception), 57 (operator intervention, statement
 * timeout), 53 (insufficient resources), and 40001/40P01 (serialization failure, deadlock:
 * the transaction was rolled back and may simply be retried).
 */
const SQLSTATE = /^(08|57|53|40001$|40P01$)/;
const MESSAGES = /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Connection is closed|database is locked/i;

export function isDatabaseUnavailable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const { code, message } = e as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && (NETWORK_CODES.has(code) || SQLSTATE.test(code) || code === 'SQLITE_BUSY')) return true;
    if (typeof message === 'string' && MESSAGES.test(message)) return true;
  }
  return false;
}

/**
 * Why opening a database failed, as one line safe to print: `refused` when the database
 * could not be reached or refused us (network, server down, TLS verification, SQLSTATE 28
 * authentication, 3D no such database), and the error's first line with the URL's
 * password masked.
 */
export function connectFailure(url: string, err: unknown): { refused: boolean; reason: string } {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  const refused =
    isDatabaseUnavailable(err) ||
    /^(28|3D)/.test(code) ||
    // TLS: the server's certificate failed verification, or the server speaks no TLS
    /^(ERR_TLS|ERR_SSL|UNABLE_TO|SELF_SIGNED|CERT_|DEPTH_ZERO|HOSTNAME_MISMATCH)/.test(code) ||
    (typeof e.message === 'string' && /does not support SSL/i.test(e.message));
  const password = /\/\/[^:/@]*:([^/]*)@/.exec(url)?.[1];
  let reason = (typeof e.message === 'string' && e.message !== '' ? e.message : typeof e.code === 'string' ? e.code : String(err)).split('\n')[0]!;
  if (password) reason = reason.replaceAll(password, '***');
  return { refused, reason };
}
