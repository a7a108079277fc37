/**
 * What `bastion doctor` reports: one finding per problem, each with how to fix it. An
 * error is something that is insecure or will not work; a warning is a risk or a likely
 * mistake that a deployment may have a reason for. Messages and fixes never carry a
 * secret's value, not even part of it.
 */

export type Level = 'error' | 'warning';

/** Every check the doctor runs, by the id it prints. */
export const CHECK_IDS = [
  'config',
  'database',
  'instance',
  'cookie-secure',
  'cookie-samesite',
  'cors-origins',
  'demo-mode',
  'issuer',
  'jwt-secret',
  'key-age',
  'keys-at-rest',
  'clock-skew',
  'trust-proxy',
  'metrics-public',
  'sqlite-scale',
] as const;
export type CheckId = (typeof CHECK_IDS)[number];

export interface Finding {
  readonly level: Level;
  readonly check: CheckId;
  /** what is wrong */
  readonly message: string;
  /** how to fix it */
  readonly fix: string;
}

export const error = (check: CheckId, message: string, fix: string): Finding => ({ level: 'error', check, message, fix });
export const warning = (check: CheckId, message: string, fix: string): Finding => ({ level: 'warning', check, message, fix });

export const countErrors = (findings: readonly Finding[]): number => findings.filter((f) => f.level === 'error').length;

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

export const summary = (findings: readonly Finding[]): string =>
  findings.length === 0
    ? 'doctor: no findings'
    : `doctor: ${plural(countErrors(findings), 'error')}, ${plural(findings.length - countErrors(findings), 'warning')}`;

/** `error|warning  <check id>  <what is wrong> — fix: <how>`, one line each (errors first), then the summary. */
export function formatText(findings: readonly Finding[]): string {
  const lines = sortFindings(findings).map((f) => `${f.level}  ${f.check}  ${oneLine(f.message)} — fix: ${oneLine(f.fix)}`);
  return [...lines, summary(findings)].join('\n') + '\n';
}

export function formatJson(findings: readonly Finding[]): string {
  const errors = countErrors(findings);
  return `${JSON.stringify({ findings: sortFindings(findings), errors, warnings: findings.length - errors }, null, 2)}\n`;
}

/** Errors first, then in the order the checks ran. */
export const sortFindings = (findings: readonly Finding[]): Finding[] =>
  [...findings].sort((a, b) => (a.level === b.level ? 0 : a.level === 'error' ? -1 : 1));

const oneLine = (text: string): string => text.replace(/\s+/g, ' ').trim();
