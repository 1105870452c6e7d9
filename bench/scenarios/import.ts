/**
 * Contact import (issue 17): a generated CSV — 5% rows repeating an earlier row's email, 1% bad rows, 20% rows updating
 * one of the existing contacts — uploaded through `POST /v1/imports` of the production app and written by itinera's
 * worker (`contactImportWorkflow`), beside a bare `COPY` of the same file into Postgres. Counts are checked exactly.
 */
import { createWriteStream, chmodSync, rmSync, statSync } from 'node:fs';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { isNull, sql } from 'drizzle-orm';
import { contacts } from '../../src/db/schema';
import { buildApp } from '../../src/api/app';
import { IMPORT_CHUNK_SIZE } from '../../src/api/routes/imports';
import { createApiKey } from '../../src/api/auth';
import { csvLine } from '../../src/imports/csv';
import { dbTriggerSource } from '../../src/publishing/journeys';
import { createLogger } from '../../src/logger';
import { ratioOf, round, type Metric } from '../lib/report';
import type { RunningWorker, Stack } from '../lib/context';
import { procMemory, progressEvery } from '../lib/stack';
import type { ScenarioOutput } from './types';

export type ImportBenchOptions = { rows: number; existing: number; taskQueue: string; worker: RunningWorker };

const kindOf = (i: number, existing: number) =>
  i % 100 === 50 ? 'bad' : i % 20 === 7 && i >= 2000 ? 'dup' : i % 5 === 3 && Math.floor(i / 5) < existing ? 'existing' : 'new';

/** Writes the file and returns what each count must be. */
export async function writeImportFile(file: string, rows: number, existing: number) {
  const out = createWriteStream(file);
  const expected = { created: 0, updated: 0, merged: 0, rejected: 0 };
  let buf = csvLine(['crm_id', 'email', 'mobile', 'name', 'city', 'tags']);
  for (let i = 0; i < rows; i++) {
    const k = kindOf(i, existing);
    if (k === 'bad') {
      buf += csvLine([`N${i}`, `not-an-email-${i}`, '', `Bad ${i}`, '', '']);
      expected.rejected++;
    } else if (k === 'dup') {
      // A row 1,006 rows earlier (j % 20 === 1: always a new row; in the same chunk or the one before), by email and
      // without a CRM id: merged into it.
      buf += csvLine(['', `n${i - 1006}@bench.test`, '', `Dup ${i}`, '上海', 'dup']);
      expected.merged++;
    } else if (k === 'existing') {
      const e = Math.floor(i / 5);
      buf += csvLine([`E${e}`, `e${e}@bench.test`, '', `Known ${e}`, '北京市', 'vip;expo']);
      expected.updated++;
    } else {
      buf += csvLine([`N${i}`, `n${i}@bench.test`, `13${String(100_000_000 + i).slice(-9)}`, `Name ${i}`, i % 2 ? '北京市' : '广东省', 'vip; expo']);
      expected.created++;
    }
    if (buf.length > 1 << 16) {
      if (!out.write(buf)) await once(out, 'drain');
      buf = '';
    }
  }
  out.end(buf);
  await once(out, 'finish');
  return expected;
}

const listen = (app: ReturnType<typeof buildApp>) =>
  new Promise<Server>((resolve, reject) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
  });

export async function importScenario(stack: Stack, opts: ImportBenchOptions): Promise<ScenarioOutput> {
  const db = stack.db.db;
  const notes: string[] = [];
  // Readable by the Postgres server too, for the bare COPY.
  const file = path.join(os.tmpdir(), `itinera-bench-import-${process.pid}.csv`);
  try {
    process.stdout.write(`    import: seeding ${opts.existing.toLocaleString('en')} existing contacts, writing ${opts.rows.toLocaleString('en')} rows…\n`);
    await db.execute(sql`insert into contacts (external_id, email, first_name) select 'E' || g, 'e' || g || '@bench.test', 'Seed' from generate_series(0, ${opts.existing - 1}) g`);
    const expected = await writeImportFile(file, opts.rows, opts.existing);
    chmodSync(file, 0o644);
    const bytes = statSync(file).size;

    const { key } = await createApiKey(db, { name: 'bench import', role: 'marketer' });
    const app = buildApp({
      database: stack.db,
      temporal: stack.client,
      taskQueue: opts.taskQueue,
      triggers: dbTriggerSource(db),
      scoring: stack.scoring,
      logger: createLogger('warn', 'bench-api'),
      signingSecrets: [stack.signingSecret],
      importMaxBytes: Math.max(bytes + 1, 256 * 1024 * 1024),
    });
    const server = await listen(app);
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const auth = { Authorization: `Bearer ${key}` };
    let status: Record<string, unknown> = {};
    const t0 = Date.now();
    let uploadedAt = 0;
    let peak = 0;
    try {
      const res = await fetch(`${base}/v1/imports?fileName=bench.csv`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'text/csv' },
        body: Readable.toWeb(createReadStream(file)) as ReadableStream,
        duplex: 'half',
      } as RequestInit & { duplex: 'half' });
      status = (await res.json()) as Record<string, unknown>;
      if (res.status !== 202) throw new Error(`upload refused: ${res.status} ${JSON.stringify(status)}`);
      uploadedAt = Date.now();
      const stop = progressEvery(10_000, () => `${String(status.rowsDone)}/${String(status.totalRows)} rows, ${String(status.rowsPerSecond)} rows/s, worker RSS ${Math.round((procMemory(opts.worker.pid)?.rss ?? 0) / 2 ** 20)} MiB`);
      try {
        while (status.status === 'running') {
          await new Promise((r) => setTimeout(r, 1000));
          peak = Math.max(peak, procMemory(opts.worker.pid)?.hwm ?? 0);
          const r = await fetch(`${base}/v1/imports/${String(status.importId)}`, { headers: auth });
          status = (await r.json()) as Record<string, unknown>;
        }
      } finally {
        stop();
      }
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
    const total = (Date.now() - t0) / 1000;
    const processing = (Date.now() - uploadedAt) / 1000;
    peak = Math.max(peak, procMemory(opts.worker.pid)?.hwm ?? 0);
    const got = { created: status.created, updated: status.updated, merged: status.merged, rejected: status.rejected };
    const exact = JSON.stringify(got) === JSON.stringify(expected) && status.status === 'completed';
    const live = (await db.select({ n: sql<number>`count(*)::int` }).from(contacts).where(isNull(contacts.mergedInto)))[0]?.n ?? -1;
    const contactsExact = live === opts.existing + expected.created;
    if (!exact) notes.push(`COUNTS DIFFER: expected ${JSON.stringify(expected)}, got ${JSON.stringify(got)} (${String(status.status)})`);
    if (!contactsExact) notes.push(`CONTACTS DIFFER: expected ${opts.existing + expected.created} live contacts, found ${live}`);

    // The baseline: the same bytes into a table of text columns, nothing checked, nothing matched.
    let copySeconds: number | null = null;
    if (stack.db.url) {
      await db.execute(sql.raw('create table bench_import_copy (crm_id text, email text, mobile text, name text, city text, tags text)'));
      const c0 = Date.now();
      await db.execute(sql.raw(`copy bench_import_copy from '${file.replace(/'/g, "''")}' with (format csv, header true)`));
      copySeconds = (Date.now() - c0) / 1000;
      await db.execute(sql.raw('drop table bench_import_copy'));
    } else notes.push('no bare COPY baseline on PGlite (set DATABASE_URL)');

    const rate = opts.rows / total;
    const copyRate = copySeconds ? opts.rows / copySeconds : null;
    const metrics: Metric[] = [
      { metric: 'import rows/s (upload to completed)', value: round(rate), unit: 'rows/s', baseline: copyRate === null ? null : round(copyRate), ratio: copyRate === null ? null : ratioOf(rate, copyRate), kind: 'throughput', baselineName: 'bare COPY', targets: [{ on: 'value', op: '>=', bound: round(1_000_000 / 300) }] },
      { metric: 'import wall time', value: round(total), unit: 's', baseline: copySeconds === null ? null : round(copySeconds), ratio: copySeconds === null ? null : ratioOf(total, copySeconds), kind: 'latency', baselineName: 'bare COPY', ...(opts.rows >= 1_000_000 ? { targets: [{ on: 'value' as const, op: '<=' as const, bound: 300 }] } : {}) },
      { metric: 'upload (stored in chunks)', value: round(total - processing), unit: 's', baseline: null, ratio: null, kind: 'info' },
      { metric: 'worker peak RSS', value: round(peak / 2 ** 20), unit: 'MiB', baseline: null, ratio: null, kind: 'size', targets: [{ on: 'value', op: '<=', bound: 1024 }] },
      { metric: 'counts exact', value: exact && contactsExact ? 1 : 0, unit: 'bool', baseline: null, ratio: null, kind: 'info', targets: [{ on: 'value', op: '>=', bound: 1 }] },
    ];
    if (!stack.db.url) notes.push('worker ran in-process (PGlite): its RSS is the harness process');
    if (copyRate !== null) notes.push(`a bare COPY of the same file is ${Math.round(copyRate / rate).toLocaleString('en')}× faster (${round(rate)} vs ${round(copyRate)} rows/s): it checks, matches and merges nothing`);
    notes.push(`at this rate 1,000,000 rows take ${Math.round(1_000_000 / rate)} s (goal: 300 s)`);
    return { metrics, params: { rows: opts.rows, existing: opts.existing, bytes, expected, got, chunkSize: IMPORT_CHUNK_SIZE }, notes };
  } finally {
    rmSync(file, { force: true });
  }
}
