/**
 * Debian packages that `npm test` and `npm run bench` need on the machine. A fresh machine
 * (CI) has none of them: as root they are installed with apt-get; otherwise the command
 * says what to install and stops.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { pgBinDir } from '../test/helpers/postgres.ts';

export const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

/** package -> whether it is already there */
const PRESENT: Record<string, () => boolean> = {
  chromium: () => existsSync(CHROMIUM),
  postgresql: () => pgBinDir() !== null,
  pgbouncer: () => existsSync('/usr/sbin/pgbouncer'),
  openssl: () => existsSync('/usr/bin/openssl'),
  nginx: () => existsSync('/usr/sbin/nginx'),
  // Moving from Flask (issue #12): the import and legacy-token tests make hashes and tokens
  // with the real Python libraries, as Debian's python3 (/usr/bin/python3) imports them
  'python3-werkzeug': () => existsSync('/usr/lib/python3/dist-packages/werkzeug'),
  'python3-passlib': () => existsSync('/usr/lib/python3/dist-packages/passlib'),
  'python3-bcrypt': () => existsSync('/usr/lib/python3/dist-packages/bcrypt'),
  'python3-argon2': () => existsSync('/usr/lib/python3/dist-packages/argon2'),
  // Other services (issue #12): a Python service verifies Bastion's tokens with PyJWT
  // (EdDSA needs the cryptography package), test/e2e/python.test.ts
  'python3-jwt': () => existsSync('/usr/lib/python3/dist-packages/jwt'),
  'python3-cryptography': () => existsSync('/usr/lib/python3/dist-packages/cryptography'),
};

export function ensureDebianPackages(command: string, wanted: readonly (keyof typeof PRESENT)[]): void {
  const missing = wanted.filter((name) => !PRESENT[name]!());
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    console.error(`${command}: missing ${missing.join(', ')}; install with: sudo apt-get install -y ${missing.join(' ')}`);
    process.exit(1);
  }
  console.log(`${command}: installing Debian ${missing.join(', ')}…`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', ...missing], { stdio: 'inherit', env });
}
