/**
 * Reading users to import: JSON lines or CSV (with a header row). Each record keeps where
 * it came from, so the report can name it; a record that cannot be read at all (bad JSON,
 * a broken CSV quote, the wrong number of fields) becomes a record with an error and is
 * skipped, never guessed at. The reasons never quote the record's content: it may hold a
 * password.
 */
import { parseCsv } from './csv.ts';

export type ImportFormat = 'jsonl' | 'csv';

/** Where a record came from: a line of the file, or a user id of the old application's database. */
export type RecordRef = { readonly line: number } | { readonly user_id: string };

export type RawRecord =
  | { readonly ref: RecordRef; readonly fields: Readonly<Record<string, unknown>> }
  | { readonly ref: RecordRef; readonly error: string };

/** The whole input cannot be used: the command stops with this one line, importing nothing. */
export class UnreadableInput extends Error {
  override name = 'UnreadableInput';
}

export const describeRef = (ref: RecordRef): string => ('line' in ref ? `line ${ref.line}` : `user id ${ref.user_id}`);

export function readRecords(text: string, format: ImportFormat): RawRecord[] {
  if (text.includes('\u0000')) throw new UnreadableInput('not a text file');
  const records = format === 'jsonl' ? readJsonLines(text) : readCsv(text);
  if (records.length === 0) throw new UnreadableInput('no users in it');
  return records;
}

/** One JSON object per line; blank lines are allowed. */
function readJsonLines(text: string): RawRecord[] {
  const records: RawRecord[] = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  for (const [i, line] of lines.entries()) {
    if (line.trim() === '') continue;
    const ref = { line: i + 1 };
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      records.push({ ref, error: 'not valid JSON' });
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) records.push({ ref, error: 'not a JSON object' });
    else records.push({ ref, fields: value as Record<string, unknown> });
  }
  if (records.length > 0 && records.every((r) => 'error' in r)) throw new UnreadableInput('no line is a JSON object (is it JSON lines?)');
  return records;
}

/** CSV with a header row naming the fields (any case); see csv.ts. */
function readCsv(text: string): RawRecord[] {
  const [header, ...rows] = parseCsv(text.replace(/^\uFEFF/, ''));
  if (header === undefined) return [];
  if ('error' in header) throw new UnreadableInput(`not CSV with a header row (${header.error})`);
  const names = header.fields.map((h) => h.trim().toLowerCase());
  if (!names.includes('username')) throw new UnreadableInput('the CSV header has no username column');
  return rows.map((row): RawRecord => {
    const ref = { line: row.line };
    if ('error' in row) return { ref, error: `malformed CSV row (${row.error})` };
    if (row.fields.length !== names.length) return { ref, error: 'malformed CSV row (not as many fields as the header)' };
    return { ref, fields: Object.fromEntries(names.map((name, i) => [name, row.fields[i]!])) };
  });
}
