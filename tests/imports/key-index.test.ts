import { describe, expect, it } from 'vitest';
import { KeyIndex } from '../../src/imports/key-index';

describe('KeyIndex (the in-file dedupe in memory)', () => {
  it('answers as a Map that keeps the first row of each key, through growth and for any text', () => {
    const index = new KeyIndex();
    const ref = new Map<string, number>();
    const keyOf = (i: number) => (i % 3 === 0 ? `email:user${i % 70_000}@例子.公司` : i % 3 === 1 ? `phone:+86138${String(i % 50_000).padStart(8, '0')}` : `externalId:${'x'.repeat(i % 40)}${i % 90_000}`);
    for (let i = 0; i < 200_000; i++) {
      const k = keyOf(i);
      index.set(k, i);
      if (!ref.has(k)) ref.set(k, i);
    }
    expect(index.size).toBe(ref.size);
    for (const [k, row] of ref) expect(index.get(k)).toBe(row);
    expect(index.get('email:nobody@例子.公司')).toBeUndefined();
    expect(index.has('')).toBe(false);
    index.set('', 7);
    expect(index.get('')).toBe(7);
    // Different keys whose 32-bit hashes are equal stay apart (FNV-1a: "costarring" / "liquid" collide).
    index.set('costarring', 1);
    index.set('liquid', 2);
    expect([index.get('costarring'), index.get('liquid')]).toEqual([1, 2]);
  });
});
