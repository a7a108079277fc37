/**
 * CSV as RFC 4180 has it (comma-separated, fields with commas, quotes or line breaks in
 * double quotes, "" for a quote), read record by record with the line each starts on.
 * A malformed record (a stray quote, a quote never closed) is returned as an error for its
 * line, and reading resumes at the next line: one broken row never swallows the rows after
 * it. (csv-parse, tried first, resumes only at the next balanced quote, so a single stray
 * quote silently took every later row with it; an import must account for each row.)
 */
export type CsvRecord = { readonly line: number; readonly fields: string[] } | { readonly line: number; readonly error: string };

const QUOTE_ERROR = 'a quoted field is not closed properly';

export function parseCsv(text: string): CsvRecord[] {
  const records: CsvRecord[] = [];
  let pos = 0;
  let line = 1;
  while (pos < text.length) {
    const start = { pos, line };
    const result = readRecord(text, pos, line);
    if ('error' in result) {
      records.push({ line: start.line, error: result.error });
      // resume on the line after the one the broken record started on
      const next = nextLine(text, start.pos);
      pos = next;
      line = start.line + 1;
      continue;
    }
    pos = result.pos;
    line = result.line;
    const blank = result.fields.length === 1 && result.fields[0] === '';
    if (!blank) records.push({ line: start.line, fields: result.fields });
  }
  return records;
}

type ReadResult = { readonly fields: string[]; readonly pos: number; readonly line: number } | { readonly error: string };

/** One record from `pos`: its fields and where the next record starts (after its line break). */
function readRecord(text: string, pos: number, line: number): ReadResult {
  const fields: string[] = [];
  let field = '';
  let i = pos;
  for (;;) {
    if (text[i] === '"' && field === '') {
      // a quoted field: up to the closing quote; "" is a quote; line breaks are part of it
      i += 1;
      for (;;) {
        if (i >= text.length) return { error: QUOTE_ERROR };
        const c = text[i]!;
        if (c === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i += 1;
          break;
        }
        if (c === '\n' || (c === '\r' && text[i + 1] !== '\n')) line += 1;
        field += c;
        i += 1;
      }
      // after the closing quote: a comma, a line break or the end, nothing else
      const after = text[i];
      if (after !== undefined && after !== ',' && after !== '\r' && after !== '\n') return { error: QUOTE_ERROR };
    } else {
      while (i < text.length && text[i] !== ',' && text[i] !== '\r' && text[i] !== '\n') {
        if (text[i] === '"') return { error: 'a quote inside an unquoted field' };
        field += text[i];
        i += 1;
      }
    }
    fields.push(field);
    field = '';
    if (text[i] === ',') {
      i += 1;
      continue;
    }
    // a line break (\r\n, \n or \r) or the end of the text ends the record
    if (text[i] === '\r' && text[i + 1] === '\n') i += 2;
    else if (i < text.length) i += 1;
    return { fields, pos: i, line: line + 1 };
  }
}

function nextLine(text: string, from: number): number {
  const lf = text.indexOf('\n', from);
  const cr = text.indexOf('\r', from);
  const end = lf === -1 ? cr : cr === -1 ? lf : Math.min(lf, cr);
  if (end === -1) return text.length;
  return text[end] === '\r' && text[end + 1] === '\n' ? end + 2 : end + 1;
}
