/**
 * RFC 4180 CSV, read incrementally (an upload is decoded and parsed as it streams) and written back for rejects files.
 * No package of ours parses CSV; this one is small and tested (tests/imports/csv.test.ts).
 *
 * Reading is lenient where a spreadsheet export is sloppy and strict where data would be lost: a leading BOM is
 * dropped; CRLF, LF and lone CR all end a record; blank lines are skipped; a quote inside an unquoted field, or text
 * after a closing quote, is kept as text. A record that cannot be read whole carries an `error` instead of stopping the
 * file: an unterminated quoted field at the end, a cell longer than `maxCell`, a NUL character.
 */

export type CsvRecord = { fields: string[]; error?: string };

export type CsvOptions = {
  /** @default ',' */
  delimiter?: string;
  /** Characters per cell; a longer cell is cut and its record gets an error. @default 1,048,576 */
  maxCell?: number;
};

const enum S {
  FieldStart,
  Unquoted,
  Quoted,
  QuoteInQuoted,
}

export class CsvParser {
  private readonly delimiter: string;
  private readonly maxCell: number;
  private state = S.FieldStart;
  private field = '';
  private fields: string[] = [];
  private error: string | undefined;
  private skipLf = false;
  private started = false;

  constructor(opts: CsvOptions = {}) {
    this.delimiter = opts.delimiter ?? ',';
    if (this.delimiter.length !== 1 || this.delimiter === '"' || this.delimiter === '\n' || this.delimiter === '\r') throw new Error('the delimiter must be one character other than a quote or a line break');
    this.maxCell = opts.maxCell ?? 1024 * 1024;
  }

  /** Feeds decoded text; returns the records it completed. */
  push(text: string): CsvRecord[] {
    const out: CsvRecord[] = [];
    let i = 0;
    if (!this.started && text.length > 0) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) i = 1;
    }
    const d = this.delimiter;
    for (; i < text.length; i++) {
      const c = text[i]!;
      if (this.skipLf) {
        this.skipLf = false;
        if (c === '\n') continue;
      }
      switch (this.state) {
        case S.FieldStart:
          if (c === '"') this.state = S.Quoted;
          else if (c === d) this.endField();
          else if (c === '\r' || c === '\n') this.endRecord(out, c);
          else {
            this.append(c);
            this.state = S.Unquoted;
          }
          break;
        case S.Unquoted: {
          // The common case: take the run of plain characters at once.
          let j = i;
          while (j < text.length && text[j] !== d && text[j] !== '\r' && text[j] !== '\n') j++;
          if (j > i) this.append(text.slice(i, j));
          if (j >= text.length) {
            i = j;
            break;
          }
          const e = text[j]!;
          if (e === d) this.endField();
          else this.endRecord(out, e);
          i = j;
          break;
        }
        case S.Quoted: {
          const q = text.indexOf('"', i);
          if (q === -1) {
            this.append(text.slice(i));
            i = text.length;
          } else {
            if (q > i) this.append(text.slice(i, q));
            this.state = S.QuoteInQuoted;
            i = q;
          }
          break;
        }
        case S.QuoteInQuoted:
          if (c === '"') {
            this.append('"');
            this.state = S.Quoted;
          } else if (c === d) this.endField();
          else if (c === '\r' || c === '\n') this.endRecord(out, c);
          else {
            this.append(c);
            this.state = S.Unquoted;
          }
          break;
      }
    }
    return out;
  }

  /** Ends the input; returns the last record if one was open. */
  end(): CsvRecord[] {
    const out: CsvRecord[] = [];
    if (this.state === S.Quoted) {
      this.error ??= 'a quoted field is not closed before the end of the file';
      this.endRecord(out, '\n');
    } else if (this.state !== S.FieldStart || this.fields.length > 0) this.endRecord(out, '\n');
    return out;
  }

  private append(s: string) {
    if (this.field.length + s.length > this.maxCell) {
      this.error ??= `a cell is longer than ${this.maxCell.toLocaleString('en-US')} characters`;
      s = s.slice(0, Math.max(0, this.maxCell - this.field.length));
    }
    if (s.includes('\0')) {
      this.error ??= 'a cell contains a NUL character';
      s = s.replaceAll('\0', '');
    }
    this.field += s;
  }

  private endField() {
    this.fields.push(this.field);
    this.field = '';
    this.state = S.FieldStart;
  }

  private endRecord(out: CsvRecord[], c: string) {
    this.endField();
    if (c === '\r') this.skipLf = true;
    const fields = this.fields;
    const error = this.error;
    this.fields = [];
    this.error = undefined;
    // A blank line: nothing to import.
    if (fields.length === 1 && fields[0] === '' && !error) return;
    out.push(error ? { fields, error } : { fields });
  }
}

/** Parses a whole CSV text (tests, small files). */
export function parseCsv(text: string, opts?: CsvOptions): CsvRecord[] {
  const p = new CsvParser(opts);
  return [...p.push(text), ...p.end()];
}

/** One CSV line (CRLF-terminated, RFC 4180): fields with a delimiter, quote or line break are quoted. */
export function csvLine(fields: readonly string[], delimiter = ','): string {
  return `${fields.map((f) => (f.includes(delimiter) || /["\r\n]/.test(f) || /^\s|\s$/.test(f) ? `"${f.replaceAll('"', '""')}"` : f)).join(delimiter)}\r\n`;
}

/**
 * A cell a spreadsheet would run as a formula when the file is opened (`=cmd|' /C calc'!A0`, `@SUM(…)`, `+cmd|…`, a
 * leading tab or CR): prefixed with `'`, which spreadsheets show as text. A signed plain number or phone number
 * (`+86 138 0013 8000`, `-12.5`) is left alone. For files we write for people to open; stored values stay verbatim.
 */
export function spreadsheetSafe(cell: string): string {
  if (/^[=@\t\r]/.test(cell)) return `'${cell}`;
  if (/^[+-]/.test(cell) && !/^[+-][\d\s().-]*$/.test(cell)) return `'${cell}`;
  return cell;
}

/** `csvLine` for an exported file: every cell made `spreadsheetSafe` first. */
export function csvExportLine(fields: readonly string[], delimiter = ','): string {
  return csvLine(fields.map(spreadsheetSafe), delimiter);
}
