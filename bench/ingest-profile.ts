/**
 * Where a `POST /v1/events` request's time goes, without Temporal: the bench's ingest load (autocannon in a child
 * process, `page.viewed` for 1,000 known contacts, scoring on) against the production app in this process, every SQL
 * statement counted and timed by its shape.
 *   npx tsx bench/ingest-profile.ts [--seconds 10] [--connections 20]
 * Prints events/s, p50/p99, statements and transactions per event, and time inside SQL by statement shape. No journey
 * is published, so routing makes no Temporal call. A diagnostic, not a benchmark: `npm run bench -- --only ingest` is
 * the measure of record.
 */
import type { AddressInfo } from 'node:net';
import type { Client } from '@temporalio/client';
import { createTestDatabase } from '../tests/helpers/db';
import { buildApp } from '../src/api/app';
import { createApiKey } from '../src/api/auth';
import { contacts } from '../src/db/schema';
import { dbTriggerSource } from '../src/publishing/journeys';
import { createLogger } from '../src/logger';
import { loadScoringModel } from '../src/scoring/model';
import { SCORING_MODEL_FILE } from '../src/paths';
import { runLoad } from './scenarios/ingest';
import { installStatementTimer } from './lib/statement-timer';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const seconds = opt('seconds', 10);
const connections = opt('connections', 20);

const timer = installStatementTimer({ shapeLength: 120, counting: false });
const { bySql } = timer;

const database = await createTestDatabase({ poolSize: opt('pool', 10), prefix: 'itinera_ingest_prof' });
try {
  const db = database.db;
  const scoring = await loadScoringModel(SCORING_MODEL_FILE);
  const { key } = await createApiKey(db, { name: 'profile', role: 'integration' });
  await db.insert(contacts).values(Array.from({ length: 1000 }, (_, c) => ({ externalId: `ingest-${c}`, email: `visitor${c}@bench.test` })));
  const app = buildApp({
    database,
    // No journey is published: nothing reaches Temporal (a call would fail loudly on this empty object).
    temporal: {} as Client,
    taskQueue: 'profile',
    triggers: dbTriggerSource(db),
    scoring,
    logger: createLogger('warn', 'ingest-profile'),
    signingSecrets: ['profile-secret-profile-secret-profile'],
    rateLimit: { perSecond: 1e9, burst: 1e9 },
  });
  const server = await new Promise<import('node:http').Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/events`;
  timer.counting = true;
  const cpu0 = process.cpuUsage();
  const r = await runLoad({ url, token: key, warmSeconds: 0, seconds, connections, contacts: 1000, tag: 'prof' });
  timer.counting = false;
  const cpu = process.cpuUsage(cpu0);
  server.closeAllConnections();
  server.close();
  const rows = [...bySql.entries()].sort((a, b) => b[1].ms - a[1].ms);
  const total = rows.reduce((s, [, e]) => s + e.n, 0);
  const begins = (bySql.get('begin')?.n ?? 0) + (bySql.get('BEGIN')?.n ?? 0);
  process.stdout.write(`${r.ok} events in ${seconds} s: ${(r.ok / seconds).toFixed(0)}/s, p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms (non-2xx ${r.non2xx}, errors ${r.errors})\n`);
  process.stdout.write(`CPU of this process (the API): ${((cpu.user + cpu.system) / 1000 / r.ok).toFixed(2)} ms per event\n`);
  process.stdout.write(`statements: ${total} (${(total / r.ok).toFixed(2)} per event), transactions: ${begins} (${(begins / r.ok).toFixed(2)} per event)\n`);
  for (const [k, e] of rows.slice(0, 40)) process.stdout.write(`${(e.n / r.ok).toFixed(2).padStart(6)}/ev ${e.ms.toFixed(0).padStart(8)} ms ${(e.ms / e.n).toFixed(2).padStart(7)} ms/st  ${k}\n`);
} finally {
  await database.drop();
}
