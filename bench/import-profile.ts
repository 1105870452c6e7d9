/**
 * Where an import's time goes, chunk by chunk, without Temporal: the bench's generated file stored as the API stores
 * it, then `runImportChunk` called in this process until the import is done, every SQL statement timed by its shape.
 *   npx tsx bench/import-profile.ts --rows 20000 [--existing 4000]
 * Prints wall time per chunk, time inside SQL by statement shape, and the rest (JavaScript in this process).
 * A diagnostic, not a benchmark: `npm run bench -- --only import` is the measure of record.
 */
import os from 'node:os';
import path from 'node:path';
import { createReadStream, rmSync } from 'node:fs';
import { sql } from 'drizzle-orm';
import { createTestDatabase } from '../tests/helpers/db';
import { storeImport } from '../src/imports/store';
import { runImportChunk } from '../src/imports/store';
import { loadScoringModel } from '../src/scoring/model';
import { SCORING_MODEL_FILE } from '../src/paths';
import { ingestDeps } from '../src/wiring/ingest';
import { writeImportFile } from './scenarios/import';
import { installStatementTimer } from './lib/statement-timer';
import { backendCpuSeconds } from './lib/stack';
import type { Client } from '@temporalio/client';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const rows = opt('rows', 20_000);
const existing = opt('existing', Math.floor(rows / 5));

// Every statement timed by its shape (first words, numbers and lists folded).
const { bySql } = installStatementTimer({ shapeLength: 110 });

const db = await createTestDatabase({ poolSize: 10, prefix: 'itinera_prof' });
const file = path.join(os.tmpdir(), `itinera-import-profile-${process.pid}.csv`);
try {
  await db.db.execute(sql`insert into contacts (external_id, email, first_name) select 'E' || g, 'e' || g || '@bench.test', 'Seed' from generate_series(0, ${existing - 1}) g`);
  const expected = await writeImportFile(file, rows, existing);
  const scoring = await loadScoringModel(SCORING_MODEL_FILE);
  // No journey is published: routing a contact.updated is only its mark (no Temporal call is made).
  const ingest = ingestDeps({ db: db.db, temporal: {} as Client, taskQueue: 'profile', scoring });
  const t0 = performance.now();
  const imp = await storeImport(
    db.db,
    createReadStream(file),
    { id: 'import_profile', options: { format: 'csv', encoding: 'auto', country: 'CN', precedence: ['externalId', 'email', 'phone'], duplicates: 'merge', dryRun: false }, sha256: 'x', bytes: 0 },
    { maxBytes: 1 << 30, maxCell: 1 << 20, chunkSize: opt('chunk', 500) },
  );
  const stored = performance.now() - t0;
  bySql.clear();
  process.stdout.write(`stored ${imp.totalRows} rows in ${imp.chunks} chunks: ${(stored / 1000).toFixed(1)} s\n`);
  const backendCpu = () => backendCpuSeconds(db.db);
  const pg0 = await backendCpu();
  const cpu0 = process.cpuUsage();
  const t1 = performance.now();
  let r;
  do {
    r = await runImportChunk({ db: db.db, scoring, ingest }, imp.id);
  } while (!r.done);
  const wall = performance.now() - t1;
  const cpu = process.cpuUsage(cpu0);
  const [row] = ((await db.db.execute(sql`select created, updated, merged, rejected, status from contact_imports where id = ${imp.id}`)) as unknown as { rows: Record<string, unknown>[] }).rows;
  process.stdout.write(`chunks: ${(wall / 1000).toFixed(1)} s, ${Math.round(rows / (wall / 1000))} rows/s; process CPU user ${(cpu.user / 1e6).toFixed(1)} s system ${(cpu.system / 1e6).toFixed(1)} s; load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);
  process.stdout.write(`counts ${JSON.stringify(row)} expected ${JSON.stringify(expected)}\n`);
  process.stdout.write(`Postgres backends CPU: ${(await backendCpu() - pg0).toFixed(1)} s\n`);
  const tables = ((await db.db.execute(sql`select relname, n_tup_ins, n_tup_upd, n_tup_hot_upd from pg_stat_user_tables where n_tup_ins + n_tup_upd > 0 order by n_tup_ins + n_tup_upd desc`)) as unknown as { rows: unknown[] }).rows;
  for (const t of tables) process.stdout.write(`  ${JSON.stringify(t)}\n`);
  const total = [...bySql.values()].reduce((s, e) => s + e.ms, 0);
  process.stdout.write(`in SQL (summed over concurrent statements): ${(total / 1000).toFixed(1)} s\n`);
  for (const [k, e] of [...bySql.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 30)) {
    process.stdout.write(`${(e.ms / 1000).toFixed(2).padStart(8)} s ${String(e.n).padStart(6)}× ${k}\n`);
  }
} finally {
  rmSync(file, { force: true });
  await db.drop();
}
