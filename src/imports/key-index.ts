/**
 * The in-file dedupe of an import in memory: each match key (`email:…`, `phone:…`, `externalId:…`) with the first row
 * of the file that registered it. A 1,000,000-row file has ~2.7 million keys; a `Map<string, number>` holds them in
 * ~270 MiB of heap, this in ~100 MiB (the keys' UTF-8 bytes in one buffer, an open-addressing table of 32-bit hashes
 * and rows beside it). Exact: a hash match is confirmed by comparing the key's bytes.
 */
/** Entries and key bytes grow by half when full (doubling leaves up to half of the largest arrays unused). */
const GROWTH = 1.5;

export class KeyIndex {
  /** Entry number + 1 per slot (0: empty); capacity a power of two, at most 70 % full. */
  private slots = new Int32Array(1 << 12);
  private hashes = new Int32Array(1 << 11);
  private rows = new Int32Array(1 << 11);
  /** Where each entry's key starts in `pool`: it ends where the next one starts (the last one at `used`). */
  private starts = new Int32Array(1 << 11);
  private pool = Buffer.allocUnsafe(1 << 16);
  private used = 0;
  size = 0;

  private static hash(key: string): number {
    // FNV-1a over UTF-16 code units.
    let h = 0x811c9dc5;
    for (let i = 0; i < key.length; i++) {
      h ^= key.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
    return h | 0;
  }

  private find(key: string, h: number): number {
    const mask = this.slots.length - 1;
    for (let s = h & mask; ; s = (s + 1) & mask) {
      const e = this.slots[s]!;
      if (e === 0) return -1 - s;
      const i = e - 1;
      if (this.hashes[i] === h && this.pool.toString('utf8', this.starts[i], i + 1 < this.size ? this.starts[i + 1] : this.used) === key) return i;
    }
  }

  /** The row that registered `key`, if one did. */
  get(key: string): number | undefined {
    const i = this.find(key, KeyIndex.hash(key));
    return i >= 0 ? this.rows[i] : undefined;
  }

  has(key: string): boolean {
    return this.find(key, KeyIndex.hash(key)) >= 0;
  }

  /** Registers `key` for `row` unless a row registered it already (the first row keeps it). */
  set(key: string, row: number): void {
    const h = KeyIndex.hash(key);
    const found = this.find(key, h);
    if (found >= 0) return;
    const i = this.size;
    if (i >= this.rows.length) this.growEntries();
    const bytes = Buffer.byteLength(key, 'utf8');
    if (this.used + bytes > this.pool.length) {
      const next = Buffer.allocUnsafe(Math.max(Math.ceil(this.pool.length * GROWTH), this.used + bytes));
      this.pool.copy(next, 0, 0, this.used);
      this.pool = next;
    }
    this.pool.write(key, this.used, 'utf8');
    this.starts[i] = this.used;
    this.used += bytes;
    this.hashes[i] = h;
    this.rows[i] = row;
    this.size++;
    this.slots[-1 - found] = i + 1;
    if (this.size * 10 > this.slots.length * 7) this.rehash();
  }

  private growEntries(): void {
    const grow = (a: Int32Array) => {
      const b = new Int32Array(Math.ceil(a.length * GROWTH));
      b.set(a);
      return b;
    };
    this.hashes = grow(this.hashes);
    this.rows = grow(this.rows);
    this.starts = grow(this.starts);
  }

  private rehash(): void {
    const slots = new Int32Array(this.slots.length * 2);
    const mask = slots.length - 1;
    for (let i = 0; i < this.size; i++) {
      let s = this.hashes[i]! & mask;
      while (slots[s] !== 0) s = (s + 1) & mask;
      slots[s] = i + 1;
    }
    this.slots = slots;
  }
}
