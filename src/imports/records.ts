/**
 * An upload as records: decoded (UTF-8 or GBK, strictly: a byte that is not valid in the encoding is an error naming
 * its offset, not a replacement character in a contact's name) and split into CSV records or JSON lines as it streams.
 * Without an encoding (`auto`) a file is read as UTF-8 until a byte is not valid UTF-8; if every byte before it was
 * ASCII (which reads the same in both), the file is read as GBK from there on, strictly too — so a GBK file is read as
 * GBK and a UTF-8 file as UTF-8, and one that is neither is refused, never guessed.
 */
import { CsvParser } from './csv';

export const ImportFormat = { Csv: 'csv', Jsonl: 'jsonl' } as const;
export type ImportFormat = (typeof ImportFormat)[keyof typeof ImportFormat];

export const ImportEncoding = { Utf8: 'utf-8', Gbk: 'gbk' } as const;
export type ImportEncoding = (typeof ImportEncoding)[keyof typeof ImportEncoding];

/** A record as stored: CSV fields (`f`) or one JSON line (`l`), and why it could not be read whole (`e`). */
export type RawRecord = { f: string[]; e?: string } | { l: string; e?: string };

/** Splits text into lines (CRLF, LF or CR), skipping blank ones; a line longer than `maxLine` is cut and flagged. */
export class LineSplitter {
  private line = '';
  private error: string | undefined;
  private skipLf = false;
  private started = false;
  constructor(private readonly maxLine: number) {}

  push(text: string): RawRecord[] {
    const out: RawRecord[] = [];
    let i = 0;
    if (!this.started && text.length > 0) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) i = 1;
    }
    while (i < text.length) {
      if (this.skipLf) {
        this.skipLf = false;
        if (text[i] === '\n') {
          i++;
          continue;
        }
      }
      let j = i;
      while (j < text.length && text[j] !== '\n' && text[j] !== '\r') j++;
      this.append(text.slice(i, j));
      if (j < text.length) {
        if (text[j] === '\r') this.skipLf = true;
        this.flush(out);
      }
      i = j + 1;
    }
    return out;
  }

  end(): RawRecord[] {
    const out: RawRecord[] = [];
    this.flush(out);
    return out;
  }

  private append(s: string) {
    if (this.line.length + s.length > this.maxLine) {
      this.error ??= `the line is longer than ${this.maxLine.toLocaleString('en-US')} characters`;
      s = s.slice(0, Math.max(0, this.maxLine - this.line.length));
    }
    if (s.includes('\0')) {
      this.error ??= 'the line contains a NUL character';
      s = s.replaceAll('\0', '');
    }
    this.line += s;
  }

  private flush(out: RawRecord[]) {
    const line = this.line;
    const error = this.error;
    this.line = '';
    this.error = undefined;
    if (line.trim() === '' && !error) return;
    out.push(error ? { l: line, e: error } : { l: line });
  }
}

export class UploadDecodeError extends Error {}

/** What the caller may ask for: an encoding, or `auto` (see the module comment). */
export type EncodingChoice = ImportEncoding | 'auto';

export type RecordReaderOptions = { format: ImportFormat; encoding: EncodingChoice; delimiter?: string; maxCell: number };

/**
 * Reads bytes into records, calling `onRecords` as they complete (awaited: back-pressure for the caller's writes).
 * @returns the encoding the file was read in
 * @throws UploadDecodeError when the bytes are not valid in the encoding (with `auto`: in UTF-8 nor in GBK)
 */
export async function readRecords(source: AsyncIterable<Buffer | string> | Iterable<Buffer | string>, opts: RecordReaderOptions, onRecords: (records: RawRecord[]) => Promise<void>): Promise<ImportEncoding> {
  let encoding: ImportEncoding = opts.encoding === 'auto' ? ImportEncoding.Utf8 : opts.encoding;
  let decoder = new TextDecoder(encoding, { fatal: true });
  const csv = opts.format === 'csv' ? new CsvParser({ ...(opts.delimiter ? { delimiter: opts.delimiter } : {}), maxCell: opts.maxCell }) : undefined;
  const lines = opts.format === 'jsonl' ? new LineSplitter(opts.maxCell) : undefined;
  const feed = (text: string): RawRecord[] => (csv ? csv.push(text).map((r) => (r.error ? { f: r.fields, e: r.error } : { f: r.fields })) : lines!.push(text));
  let offset = 0;
  // Auto: whether every byte read so far was ASCII, i.e. reads the same in UTF-8 and in GBK.
  let asciiSoFar = opts.encoding === 'auto';
  const refuse = () =>
    new UploadDecodeError(
      opts.encoding === 'auto'
        ? `the file is neither valid utf-8 nor valid gbk (near byte ${offset.toLocaleString('en-US')}); pass the encoding it is written in`
        : `the file is not valid ${opts.encoding} (near byte ${offset.toLocaleString('en-US')}); pass the encoding it is written in (utf-8 or gbk)`,
    );
  const decode = (chunk: Buffer | undefined): string => {
    try {
      // 0xFF is no byte of GBK, yet Node's GBK decoder drops it silently even when fatal: refused here instead.
      if (encoding === ImportEncoding.Gbk && chunk?.includes(0xff)) throw new UploadDecodeError('0xFF');
      return chunk ? decoder.decode(chunk, { stream: true }) : decoder.decode();
    } catch {
      if (!asciiSoFar || encoding === ImportEncoding.Gbk) throw refuse();
      // Nothing non-ASCII was read before this chunk, so nothing read so far reads differently in GBK.
      encoding = ImportEncoding.Gbk;
      decoder = new TextDecoder(encoding, { fatal: true });
      asciiSoFar = false;
      return decode(chunk);
    }
  };
  for await (const chunk of source) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    const got = feed(decode(buf));
    if (asciiSoFar && !buf.every((b) => b < 0x80)) asciiSoFar = false;
    offset += buf.length;
    if (got.length) await onRecords(got);
  }
  const tail = [...feed(decode(undefined)), ...(csv ? csv.end().map((r) => (r.error ? { f: r.fields, e: r.error } : { f: r.fields })) : lines!.end())];
  if (tail.length) await onRecords(tail);
  return encoding;
}
