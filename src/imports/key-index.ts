/**
 * The in-file dedupe of an import in memory: for each match key (`email:…`, `phone:…`, `externalId:…`) registered by
 * a row of the file, a 64-bit fingerprint of the key and that row — no key text. A 1,000,000-row file has ~2.7 million
 * keys: a `Map<string, number>` holds them in ~270 MiB of heap, this in ~50 MiB (an open-addressing table of two 32-bit
 * hashes and a row per slot). A lookup answers the rows whose key has the same fingerprint (almost always the one row
 * that registered it, or none); the caller confirms a row against the keys stored with it, so a fingerprint shared by
 * two keys never makes two rows duplicates.
 */
export class KeyIndex {
  /** Per slot: the key's first hash (0 with `rows` 0: empty), its second hash, its row (rows start at 1). */
  private h1 = new Int32Array(1 << 12);
  private h2 = new Int32Array(1 << 12);
  private rows = new Int32Array(1 << 12);
  size = 0;

  /** FNV-1a and a multiply-xorshift hash over the key's UTF-16 code units: two independent 32-bit hashes. */
  private static hashes(key: string): [number, number] {
    let a = 0x811c9dc5;
    let b = 0x9e3779b9;
    for (let i = 0; i < key.length; i++) {
      const c = key.charCodeAt(i);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x85ebca6b);
      b ^= b >>> 13;
    }
    b = Math.imul(b ^ (b >>> 16), 0xc2b2ae35);
    return [a | 0, (b ^ (b >>> 16)) | 0];
  }

  /** The rows registered with `key`'s fingerprint, in ascending order (usually none or one). */
  candidates(key: string): number[] {
    const [a, b] = KeyIndex.hashes(key);
    const mask = this.rows.length - 1;
    const out: number[] = [];
    for (let s = a & mask; this.rows[s] !== 0; s = (s + 1) & mask) {
      if (this.h1[s] === a && this.h2[s] === b) out.push(this.rows[s]!);
    }
    return out.length > 1 ? out.sort((x, y) => x - y) : out;
  }

  /** Registers `key` for `row` (≥ 1). The caller registers a key once, for the first row that has it. */
  add(key: string, row: number): void {
    if (row < 1) throw new RangeError(`row ${row}: rows start at 1`);
    const [a, b] = KeyIndex.hashes(key);
    this.put(a, b, row);
    this.size++;
    if (this.size * 10 > this.rows.length * 7) this.grow();
  }

  private put(a: number, b: number, row: number): void {
    const mask = this.rows.length - 1;
    let s = a & mask;
    while (this.rows[s] !== 0) s = (s + 1) & mask;
    this.h1[s] = a;
    this.h2[s] = b;
    this.rows[s] = row;
  }

  private grow(): void {
    const { h1, h2, rows } = this;
    this.h1 = new Int32Array(rows.length * 2);
    this.h2 = new Int32Array(rows.length * 2);
    this.rows = new Int32Array(rows.length * 2);
    for (let s = 0; s < rows.length; s++) if (rows[s] !== 0) this.put(h1[s]!, h2[s]!, rows[s]!);
  }
}
