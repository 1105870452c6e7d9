import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CsvParser, csvExportLine, csvLine, parseCsv, spreadsheetSafe } from '../../src/imports/csv';
import { LineSplitter, readRecords, UploadDecodeError, type RawRecord } from '../../src/imports/records';

describe('CSV (RFC 4180)', () => {
  it('reads quoted fields, escaped quotes, embedded newlines, a BOM and CRLF', () => {
    const text = '\uFEFFid,name,note\r\n1,"Lin, Ada","said ""hi""\r\nthen left"\r\n2,Bo,\r\n';
    expect(parseCsv(text)).toEqual([
      { fields: ['id', 'name', 'note'] },
      { fields: ['1', 'Lin, Ada', 'said "hi"\r\nthen left'] },
      { fields: ['2', 'Bo', ''] },
    ]);
  });

  it('ends records at LF, CRLF and a lone CR alike, skips blank lines, reads a last line without a newline', () => {
    expect(parseCsv('a,b\n1,2\r\n\r\n3,4\r5,6').map((r) => r.fields)).toEqual([['a', 'b'], ['1', '2'], ['3', '4'], ['5', '6']]);
  });

  it('gives the same records however the text is cut into pieces', () => {
    const text = 'a,b\r\n"x\r\n""y""",z\r\n"",\r\n';
    const whole = parseCsv(text);
    for (let cut = 0; cut <= text.length; cut++) {
      const p = new CsvParser();
      expect([...p.push(text.slice(0, cut)), ...p.push(text.slice(cut)), ...p.end()]).toEqual(whole);
    }
  });

  it('flags an unterminated quoted field and an oversized cell on their record, and keeps reading', () => {
    const recs = parseCsv(`a,b\n${'x'.repeat(20)},1\n2,3\n"open,4`, { maxCell: 10 });
    expect(recs[1]).toEqual({ fields: ['x'.repeat(10), '1'], error: 'a cell is longer than 10 characters' });
    expect(recs[2]).toEqual({ fields: ['2', '3'] });
    expect(recs[3]!.error).toMatch(/not closed/);
  });

  it('honours another delimiter', () => {
    expect(parseCsv('a;b\n"1;2";3', { delimiter: ';' }).map((r) => r.fields)).toEqual([['a', 'b'], ['1;2', '3']]);
  });

  it('writes what it reads (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.string({ unit: fc.constantFrom('a', ',', '"', '\r', '\n', ' ', '北') }), { minLength: 2, maxLength: 4 }), { minLength: 1, maxLength: 5 }), (rows) => {
        const text = rows.map((r) => csvLine(r)).join('');
        expect(parseCsv(text).map((r) => r.fields)).toEqual(rows);
      }),
    );
  });
});

describe('JSON Lines and decoding', () => {
  it('splits lines on LF, CRLF and CR, skipping blank ones', () => {
    const s = new LineSplitter(100);
    expect([...s.push('{"a":1}\r\n\n{"b"'), ...s.push(':2}\r{"c":3}'), ...s.end()]).toEqual([{ l: '{"a":1}' }, { l: '{"b":2}' }, { l: '{"c":3}' }]);
  });

  it('decodes GBK when told, and refuses bytes that are not valid in the encoding', async () => {
    const gbk = Buffer.from([0x65, 0x6d, 0x61, 0x69, 0x6c, 0x2c, 0xc3, 0xfb, 0x0a, 0x61, 0x40, 0x62, 0x2e, 0x63, 0x6e, 0x2c, 0xb1, 0xb1, 0xbe, 0xa9, 0x0a]); // "email,名\na@b.cn,北京\n"
    const got: RawRecord[] = [];
    await readRecords([gbk.subarray(0, 7), gbk.subarray(7)], { format: 'csv', encoding: 'gbk', maxCell: 1000 }, async (r) => void got.push(...r));
    expect(got).toEqual([{ f: ['email', '名'] }, { f: ['a@b.cn', '北京'] }]);
    await expect(readRecords([gbk], { format: 'csv', encoding: 'utf-8', maxCell: 1000 }, async () => {})).rejects.toThrow(UploadDecodeError);
    // 0xFF is no GBK byte (Node's decoder would drop it without a word).
    await expect(readRecords([Buffer.from([0x61, 0x0a, 0xff, 0x0a])], { format: 'csv', encoding: 'gbk', maxCell: 1000 }, async () => {})).rejects.toThrow(UploadDecodeError);
  });

  it('without an encoding reads UTF-8 as UTF-8 and a GBK file as GBK, and says which', async () => {
    const gbk = Buffer.from([0x65, 0x6d, 0x61, 0x69, 0x6c, 0x2c, 0xc3, 0xfb, 0x0a, 0x61, 0x40, 0x62, 0x2e, 0x63, 0x6e, 0x2c, 0xb1, 0xb1, 0xbe, 0xa9, 0x0a]); // "email,名\na@b.cn,北京\n"
    const read = async (chunks: Buffer[]) => {
      const got: RawRecord[] = [];
      const encoding = await readRecords(chunks, { format: 'csv', encoding: 'auto', maxCell: 1000 }, async (r) => void got.push(...r));
      return { encoding, got };
    };
    const expected = [{ f: ['email', '名'] }, { f: ['a@b.cn', '北京'] }];
    expect(await read([gbk])).toEqual({ encoding: 'gbk', got: expected });
    // ASCII first (it reads the same in both), the first GBK byte in a later chunk: still all GBK.
    expect(await read([gbk.subarray(0, 6), gbk.subarray(6)])).toEqual({ encoding: 'gbk', got: expected });
    expect(await read([Buffer.from('email,名\na@b.cn,北京\n')])).toEqual({ encoding: 'utf-8', got: expected });
    expect(await read([Buffer.from('email\na@b.cn\n')])).toEqual({ encoding: 'utf-8', got: [{ f: ['email'] }, { f: ['a@b.cn'] }] });
    // UTF-8 text, then a byte that is not UTF-8: no guessing, the file is refused.
    await expect(read([Buffer.from('email,名\n'), Buffer.from([0x61, 0x2c, 0xff, 0x0a])])).rejects.toThrow(/neither valid utf-8 nor valid gbk/);
    await expect(read([Buffer.from([0x61, 0x0a, 0xff, 0xff, 0x0a])])).rejects.toThrow(UploadDecodeError);
  });
});

describe('formula cells in exported CSV', () => {
  it('prefixes a cell a spreadsheet would run, leaves numbers, phones and text alone', () => {
    for (const bad of ["=cmd|' /C calc'!A0", '@SUM(A1:A2)', "+cmd|' /C calc'!A0", '-2+3+cmd|x', '\t=1+1', '\r=1', '=HYPERLINK("http://x")']) expect(spreadsheetSafe(bad), bad).toBe(`'${bad}`);
    for (const ok of ['+86 138 0013 8000', '+8613800138000', '-12.5', '-', 'Ada', 'a=b', '', '(010) 1234-5678']) expect(spreadsheetSafe(ok), ok).toBe(ok);
    expect(csvExportLine(['=1+1', 'x,y', '+86 138'])).toBe(`'=1+1,"x,y",+86 138\r\n`);
  });
});
