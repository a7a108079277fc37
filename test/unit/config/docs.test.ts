/**
 * The configuration reference is generated from the one settings table (src/config/schema.ts)
 * and kept in docs/deploy.md between marker comments: this file fails when the document
 * lags the schema, and checks the generator and the masking of `config --check`.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import {
  configReference,
  effectiveSettings,
  extractReference,
  isSecretSetting,
  maskSecrets,
  REFERENCE_BEGIN,
  REFERENCE_END,
  ReferenceMarkersError,
  replaceReference,
} from '../../../src/config/docs.ts';
import { flagName } from '../../../src/config/load.ts';
import { SETTINGS, type Setting, type SettingName } from '../../../src/config/schema.ts';

const DEPLOY_MD = new URL('../../../docs/deploy.md', import.meta.url);
const NAMES = Object.keys(SETTINGS) as SettingName[];

/** A table row's cells, split on the pipes that are not escaped. */
const cells = (row: string): string[] =>
  row
    .trim()
    .replace(/^\|/, '')
    .replace(/\|$/, '')
    .split(/(?<!\\)\|/)
    .map((c) => c.trim());

const rows = (table: string) => table.trim().split('\n').slice(2).map(cells);

describe('docs/deploy.md configuration reference', () => {
  test('equals the generator output for the current schema', () => {
    const doc = readFileSync(DEPLOY_MD, 'utf8');
    let inDoc: string;
    try {
      inDoc = extractReference(doc);
    } catch (err) {
      assert.fail(`docs/deploy.md: ${(err as Error).message}; put the markers under "## Configuration reference" and run \`npm run docs:config\``);
    }
    const expected = configReference();
    if (inDoc === expected) return;
    const have = new Map(rows(inDoc).map((r) => [r[0], r.join(' | ')]));
    const want = new Map(rows(expected).map((r) => [r[0], r.join(' | ')]));
    const missing = [...want.keys()].filter((k) => !have.has(k));
    const extra = [...have.keys()].filter((k) => !want.has(k));
    const changed = [...want.keys()].filter((k) => have.has(k) && have.get(k) !== want.get(k));
    assert.fail(
      [
        'docs/deploy.md\'s configuration reference is out of step with src/config/schema.ts: run `npm run docs:config`',
        missing.length > 0 ? `  missing: ${missing.join(', ')}` : '',
        extra.length > 0 ? `  no longer in the schema: ${extra.join(', ')}` : '',
        changed.length > 0 ? `  changed: ${changed.join(', ')}` : '',
        missing.length + extra.length + changed.length === 0 ? '  (rows in another order, or the table heading changed)' : '',
      ]
        .filter(Boolean)
        .join('\n'),
    );
  });
});

describe('configReference', () => {
  test('one row per setting, in schema order: name, flag, default, doc', () => {
    const table = rows(configReference());
    assert.deepEqual(
      table.map((r) => r[0]),
      NAMES.map((n) => `\`${n}\``),
    );
    for (const [i, name] of NAMES.entries()) {
      const setting = SETTINGS[name] as Setting<unknown>;
      const row = table[i]!;
      assert.equal(row.length, 4, `${name}: ${row.join(' | ')}`);
      assert.equal(row[1], `\`--${flagName(name)}\``);
      if (setting.default === undefined) assert.equal(row[2], '(unset)');
      else if (setting.default === '') assert.equal(row[2], '(empty)');
      else assert.equal(row[2]!.replaceAll('\\|', '|'), `\`${setting.default}\``);
      assert.ok(row[3]!.length > 0, `${name} has no doc`);
    }
  });

  test('table syntax holds whatever a doc or default contains', () => {
    const tricky: Record<string, Setting<unknown>> = {
      A_B: { doc: 'sqlite:<path> or a|b, *not* emphasis,\n  two lines', default: 'x|y', flagKind: 'string', parse: (raw) => raw },
      TICK: { doc: 'has `code`', default: 'a`b', flagKind: 'boolean', parse: (raw) => raw },
    };
    const table = configReference(tricky);
    const [a, tick] = rows(table);
    assert.deepEqual(a, ['`A_B`', '`--a-b`', '`x\\|y`', 'sqlite:\\<path> or a\\|b, \\*not\\* emphasis, two lines']);
    assert.deepEqual(tick, ['`TICK`', '`--tick`', '``a`b``', 'has `code`']);
    assert.equal(table.split('\n').filter(Boolean).length, 4, 'one line per row');
  });
});

describe('replaceReference / extractReference', () => {
  const doc = `# Title\n\nbefore\n\n${REFERENCE_BEGIN}\nold table\n${REFERENCE_END}\n\nafter ${'x'.repeat(3)}\n`;

  test('rewrite only between the markers, and are idempotent', () => {
    const table = configReference();
    const once = replaceReference(doc, table);
    assert.ok(once.startsWith(`# Title\n\nbefore\n\n${REFERENCE_BEGIN}\n`));
    assert.ok(once.endsWith(`${REFERENCE_END}\n\nafter xxx\n`));
    assert.equal(extractReference(once), table);
    assert.equal(replaceReference(once, table), once);
  });

  test('refuse a document without exactly one pair of markers', () => {
    for (const bad of ['no markers', `${REFERENCE_END} ${REFERENCE_BEGIN}`, `${REFERENCE_BEGIN} ${REFERENCE_BEGIN} ${REFERENCE_END}`, REFERENCE_BEGIN]) {
      assert.throws(() => extractReference(bad), ReferenceMarkersError, bad);
      assert.throws(() => replaceReference(bad, 'x'), ReferenceMarkersError, bad);
    }
  });
});

describe('effectiveSettings (config --check)', () => {
  const secret = 'a-very-secret-value-of-at-least-32-bytes';

  test('flag over environment over default; an empty value is unset', () => {
    const byName = new Map(
      effectiveSettings({ PORT: '9000', HOST: '', LOG_LEVEL: 'warn' }, { 'log-level': 'debug', demo: true }).map((s) => [s.name, s]),
    );
    assert.deepEqual(byName.get('PORT'), { name: 'PORT', flag: '--port', value: '9000', source: 'env' });
    assert.deepEqual(byName.get('HOST'), { name: 'HOST', flag: '--host', value: '127.0.0.1', source: 'default' });
    assert.equal(byName.get('LOG_LEVEL')!.value, 'debug');
    assert.equal(byName.get('LOG_LEVEL')!.source, 'flag');
    assert.equal(byName.get('DEMO')!.value, 'true');
    assert.equal(byName.get('PUBLIC_URL')!.source, 'unset');
    assert.equal(byName.get('PUBLIC_URL')!.value, null);
    assert.equal(byName.size, NAMES.length);
  });

  test('never shows a secret, a key, a token or a password in a URL', () => {
    const env: NodeJS.ProcessEnv = {
      JWT_SECRET: secret,
      JWT_SECRET_PREVIOUS: `${secret}-old`,
      DATABASE_URL: `postgres://bastion:${secret}@db:5432/bastion?sslmode=verify-full`,
      DATABASE_LISTEN_URL: `postgres://bastion@db:5432/bastion?password=${secret}`,
      SMTP_URL: `smtp://mailer:${secret}@mail.example:587`,
    };
    // settings other engineers add (…_KEY, …_TOKEN) are masked by name
    for (const name of NAMES.filter(isSecretSetting)) env[name] ??= secret;
    const out = JSON.stringify(effectiveSettings(env, { 'jwt-secret': `${secret}-flag` }));
    assert.ok(!out.includes(secret), out);
    const byName = new Map(effectiveSettings(env).map((s) => [s.name, s.value]));
    assert.equal(byName.get('JWT_SECRET'), '***');
    assert.equal(byName.get('DATABASE_URL'), 'postgres://bastion:***@db:5432/bastion?sslmode=verify-full');
    assert.equal(byName.get('SMTP_URL'), 'smtp://mailer:***@mail.example:587');
  });

  test('secret names', () => {
    for (const name of ['JWT_SECRET', 'JWT_SECRET_PREVIOUS', 'KEY_ENCRYPTION_KEY', 'METRICS_TOKEN', 'SMTP_PASSWORD', 'API_KEYS']) assert.ok(isSecretSetting(name), name);
    for (const name of ['RESET_TOKEN_TTL', 'CONFIRM_TOKEN_TTL', 'DATABASE_URL', 'KEYRING_DIR', 'PORT']) assert.ok(!isSecretSetting(name), name);
    assert.equal(maskSecrets('postgres://u@h/db?sslmode=require&password=hunter2&x=1'), 'postgres://u@h/db?sslmode=require&password=***&x=1');
  });
});
