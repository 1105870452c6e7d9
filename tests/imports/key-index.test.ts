import { describe, expect, it } from 'vitest';
import { KeyIndex } from '../../src/imports/key-index';

describe('KeyIndex (the in-file dedupe in memory)', () => {
  it('answers for each key the row that registered it, through growth and for any text', () => {
    const index = new KeyIndex();
    const ref = new Map<string, number>();
    const keyOf = (i: number) => (i % 3 === 0 ? `email:user${i}@例子.公司` : i % 3 === 1 ? `phone:+86138${String(i).padStart(8, '0')}` : `externalId:${'x'.repeat(i % 40)}${i}`);
    for (let i = 1; i <= 200_000; i++) {
      index.add(keyOf(i), i);
      ref.set(keyOf(i), i);
    }
    expect(index.size).toBe(ref.size);
    let shared = 0;
    for (const [k, row] of ref) {
      const rows = index.candidates(k);
      expect(rows).toContain(row);
      if (rows.length > 1) shared++;
    }
    // 64-bit fingerprints: 200,000 keys share none.
    expect(shared).toBe(0);
    expect(index.candidates('email:nobody@例子.公司')).toEqual([]);
    expect(index.candidates('')).toEqual([]);
    index.add('', 7);
    expect(index.candidates('')).toEqual([7]);
    expect(() => index.add('email:a@b', 0)).toThrow(RangeError);
  });

  it('keeps every row of a fingerprint, in row order, for the caller to confirm', () => {
    const index = new KeyIndex();
    // The same key given twice stands for two keys sharing a fingerprint: both rows come back, lowest first.
    index.add('email:same@x', 9);
    index.add('email:same@x', 4);
    expect(index.candidates('email:same@x')).toEqual([4, 9]);
    // FNV-1a alone collides on "costarring" / "liquid"; the second hash keeps them apart.
    index.add('costarring', 1);
    index.add('liquid', 2);
    expect([index.candidates('costarring'), index.candidates('liquid')]).toEqual([[1], [2]]);
  });
});
