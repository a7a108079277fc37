/**
 * The environment reference, generated from the one settings table (schema.ts): printed by
 * `bastion config --docs` and kept in docs/deploy.md between two marker comments
 * (`npm run docs:config` rewrites it; test/unit/config/docs.test.ts fails when it lags).
 * Also the effective settings with secrets masked, for `bastion config --check`.
 * Pure: no I/O here.
 */
import { flagName, type FlagValues } from './load.ts';
import { maskUrl, SETTINGS, type Setting, type SettingName } from './schema.ts';
import { maskClientSecrets } from '../oidc/config.ts';

export const REFERENCE_BEGIN = '<!-- config:begin -->';
export const REFERENCE_END = '<!-- config:end -->';

type Settings = Readonly<Record<string, Setting<unknown>>>;

/** Inline code that survives any content: the fence is longer than any backtick run inside. */
const code = (text: string): string => {
  const longest = Math.max(0, ...(text.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longest + 1);
  const pad = text.startsWith('`') || text.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${text}${pad}${fence}`;
};

/** Code spans in a table cell still split on `|` (GFM), so it is escaped there too. */
const cellCode = (text: string): string => code(text).replaceAll('|', '\\|');

/**
 * Prose in a table cell: `|` would end the cell, `<` would start an HTML tag (`<path>`
 * would vanish), `*` would start emphasis; a backslash escapes each (CommonMark §2.4).
 * Backticks stay: a doc may quote a value as code.
 */
const cellText = (text: string): string => text.replace(/[\\|<*]/g, (c) => `\\${c}`).replace(/\s+/g, ' ').trim();

const defaultCell = (setting: Setting<unknown>): string =>
  setting.default === undefined ? '(unset)' : setting.default === '' ? '(empty)' : cellCode(setting.default);

/** The Markdown table: one row per setting, in the order of the schema. */
export function configReference(settings: Settings = SETTINGS): string {
  const rows = Object.entries(settings).map(([name, setting]) => {
    const flag = `--${flagName(name as SettingName)}`;
    return `| ${code(name)} | ${code(flag)} | ${defaultCell(setting)} | ${cellText(setting.doc)} |`;
  });
  return ['| variable | flag | default | |', '|---|---|---|---|', ...rows].join('\n') + '\n';
}

export class ReferenceMarkersError extends Error {
  override name = 'ReferenceMarkersError';
}

function markers(markdown: string): { begin: number; end: number } {
  const begin = markdown.indexOf(REFERENCE_BEGIN);
  const end = markdown.indexOf(REFERENCE_END);
  if (begin < 0 || end < 0 || end < begin || markdown.indexOf(REFERENCE_BEGIN, begin + 1) >= 0 || markdown.indexOf(REFERENCE_END, end + 1) >= 0) {
    throw new ReferenceMarkersError(`expected one ${REFERENCE_BEGIN} followed by one ${REFERENCE_END}`);
  }
  return { begin: begin + REFERENCE_BEGIN.length, end };
}

/** What a document holds between the markers, without the blank lines around it. */
export function extractReference(markdown: string): string {
  const { begin, end } = markers(markdown);
  return `${markdown.slice(begin, end).trim()}\n`;
}

/** The document with the text between the markers replaced; the rest is kept byte for byte. */
export function replaceReference(markdown: string, reference: string = configReference()): string {
  const { begin, end } = markers(markdown);
  return `${markdown.slice(0, begin)}\n\n${reference.trim()}\n\n${markdown.slice(end)}`;
}

/** Values never printed, only whether they are set: secrets, keys, tokens, passwords. */
export const isSecretSetting = (name: string): boolean => /SECRET|PASSWORD|PASSPHRASE|(_KEYS?|_TOKENS?)$/.test(name);

/** A URL's password, and any password-like query parameter, replaced by `***`. */
export const maskSecrets = (value: string): string =>
  maskClientSecrets(maskUrl(value).replace(/([?&](?:password|pass|passwd|secret|token|key)=)[^&#]*/gi, '$1***'));

export interface EffectiveSetting {
  readonly name: string;
  readonly flag: string;
  /** null: unset (no flag, no variable, no default) */
  readonly value: string | null;
  readonly source: 'flag' | 'env' | 'default' | 'unset';
}

/**
 * What each setting resolves to and where it came from, in loadConfig's order (flag, then
 * the environment, then the default; an empty value counts as unset), secrets masked.
 */
export function effectiveSettings(env: NodeJS.ProcessEnv, flags: FlagValues = {}, settings: Settings = SETTINGS): EffectiveSetting[] {
  return Object.entries(settings).map(([name, setting]) => {
    const flag = flagName(name as SettingName);
    const fromFlag = flags[flag] === undefined ? undefined : String(flags[flag]);
    const given = fromFlag ?? env[name];
    const source = given !== undefined && given !== '' ? (fromFlag !== undefined ? 'flag' : 'env') : setting.default !== undefined ? 'default' : 'unset';
    const raw = source === 'flag' || source === 'env' ? given! : (setting.default ?? null);
    const value = raw === null ? null : isSecretSetting(name) ? (raw === '' ? '' : '***') : maskSecrets(raw);
    return { name, flag: `--${flag}`, value, source };
  });
}
