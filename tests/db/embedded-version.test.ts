import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { EMBEDDED_POSTGRES_MAJOR, EmbeddedDatabaseVersionError, openDatabase } from '../../src/db/client';

const ROOT = path.join(import.meta.dirname, '../..');
const TSX = path.join(ROOT, 'node_modules/.bin/tsx');

/**
 * Postgres cannot open another major's data directory and PGlite then only says "failed to initialize": an embedded
 * database written by an older itinera (PGlite 0.3, Postgres 17) is refused with a sentence saying what to do.
 */
describe('embedded database version', () => {
  it('EMBEDDED_POSTGRES_MAJOR is the Postgres the bundled PGlite runs and writes into PG_VERSION', async () => {
    const dir = path.join(mkdtempSync(path.join(tmpdir(), 'itinera-pgver-')), 'pglite');
    const d = await openDatabase({ pgliteDir: dir });
    try {
      const res = (await d.db.execute(sql`select current_setting('server_version_num')::int as v`)) as unknown as { rows: { v: number }[] };
      expect(Math.floor(res.rows[0]!.v / 10_000)).toBe(EMBEDDED_POSTGRES_MAJOR);
    } finally {
      await d.close();
    }
    expect(readFileSync(path.join(dir, 'PG_VERSION'), 'utf8').trim()).toBe(String(EMBEDDED_POSTGRES_MAJOR));
    // Its own directory opens again.
    const again = await openDatabase({ pgliteDir: dir });
    await again.ping();
    await again.close();
  });

  it('a directory of another major is refused, left as it was, and db:migrate exits 1 with the sentence', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'itinera-pgver-'));
    const dir = path.join(dataDir, 'pglite');
    mkdirSync(path.join(dir, 'base'), { recursive: true });
    writeFileSync(path.join(dir, 'PG_VERSION'), '17\n');
    writeFileSync(path.join(dir, 'base', 'marker'), 'old data');
    const before = readdirSync(dir, { recursive: true }).sort();

    const refused = openDatabase({ pgliteDir: dir });
    await expect(refused).rejects.toBeInstanceOf(EmbeddedDatabaseVersionError);
    await expect(refused).rejects.toThrow(`${path.resolve(dir)} was written by Postgres 17`);
    // Refused again the same way: the lock was released, nothing was written.
    await expect(openDatabase({ pgliteDir: dir })).rejects.toThrow('move the directory aside');
    expect(existsSync(`${dir}.lock`)).toBe(false);
    expect(readdirSync(dir, { recursive: true }).sort()).toEqual(before);
    expect(readFileSync(path.join(dir, 'base', 'marker'), 'utf8')).toBe('old data');

    const cli = spawnSync(TSX, [path.join(ROOT, 'src/db/migrate-cli.ts')], {
      env: { ...process.env, DATABASE_URL: '', DATA_DIR: dataDir, LOG_LEVEL: 'error' },
      encoding: 'utf8',
    });
    expect(cli.status, cli.stderr).toBe(1);
    expect(cli.stderr).toContain(`was written by Postgres 17; this itinera embeds Postgres ${EMBEDDED_POSTGRES_MAJOR}`);
    expect(cli.stderr).toContain('由 Postgres 17 写入');
    expect(cli.stderr).not.toMatch(/\n\s+at /);
    expect(readFileSync(path.join(dir, 'PG_VERSION'), 'utf8')).toBe('17\n');
  });
});
