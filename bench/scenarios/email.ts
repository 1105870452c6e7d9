/**
 * Email throughput: emails/s through itinera's send path (the sendEmail activity: reserve in Postgres, render the
 * template with tracking links, pooled SMTP, mark sent) against raw pooled nodemailer sending a message of the same
 * size to the same SMTP sink, side by side in one run. The activity is called directly (no Temporal), as the worker
 * would call it, with the mailer and pool size `npm run worker` builds from SMTP_URL/SMTP_POOL_SIZE.
 */
import nodemailer from 'nodemailer';
import { SAMPLE_TEXT } from '../bare/activities';
import { createActivities } from '../../src/activities';
import { inArray } from 'drizzle-orm';
import { contacts, messages } from '../../src/db/schema';
import { activityDeps } from '../../src/wiring/activities';
import { createMailer, createRenderer } from '../../src/wiring/channels';
import { ratioOf, type Metric } from '../lib/report';
import type { Stack } from '../lib/context';
import { mapLimit, progressEvery } from '../lib/stack';
import type { ScenarioOutput } from './types';

export async function emailScenario(stack: Stack, opts: { count: number; concurrency: number }): Promise<ScenarioOutput> {
  const { count, concurrency } = opts;
  const db = stack.db.db;
  const rows = await db
    .insert(contacts)
    .values(Array.from({ length: count + 1 }, (_, i) => ({ externalId: `mail-${i}`, email: `reader${i}@bench.test`, firstName: 'Reader', consent: { email: 'opted_in' as const } })))
    .returning({ id: contacts.id });
  const config = stack.config('bench-email');
  const { mailer } = createMailer({ config });
  const activities = createActivities(activityDeps({ config, database: stack.db, mailer, renderer: await createRenderer(), secrets: [stack.signingSecret], scoring: stack.scoring }));
  const keys = new Set<string>();
  const acceptedAt = new Map<string, number>();
  stack.sink.onMessage = (_to, at, key) => {
    if (key?.startsWith('bench:')) {
      keys.add(key);
      acceptedAt.set(key, at);
    }
  };
  const send = (i: number, key: string) =>
    activities.sendEmail({ idempotencyKey: key, contactId: rows[i]!.id, journeyId: 'bench', workflowId: `bench-${i}`, stepId: 'welcome', template: 'welcome', category: 'marketing' });
  try {
    // Warm both paths (connections, template compilation) before timing.
    await send(count, 'warm');
    const before = stack.sink.received();
    let stop = progressEvery(5000, () => `itinera: ${stack.sink.received() - before} of ${count} sent`);
    const t0 = performance.now();
    try {
      await mapLimit(count, concurrency, async (i) => {
        const r = await send(i, `bench:${i}`);
        if (r.status !== 'sent') throw new Error(`send ${i}: ${r.status}`);
      });
    } finally {
      stop();
    }
    const oursMs = performance.now() - t0;
    const delivered = stack.sink.received() - before;
    // The sink's 250 → the `sent` record's statement: a worker killed inside this window resends the email.
    const recorded = await db
      .select({ key: messages.idempotencyKey, sentAt: messages.sentAt })
      .from(messages)
      .where(inArray(messages.idempotencyKey, [...acceptedAt.keys()]));
    const lags = recorded.flatMap((r) => (r.sentAt ? [Math.max(0, r.sentAt.getTime() - acceptedAt.get(r.key)!)] : [])).sort((a, b) => a - b);
    const lagAt = (q: number) => lags[Math.min(lags.length - 1, Math.floor(q * lags.length))] ?? 0;

    // Baseline: a message of the same size, pre-rendered, straight through pooled nodemailer with the same pool size.
    const sample = { from: config.smtp.from, subject: 'Welcome', html: `<p>${SAMPLE_TEXT}</p>`, text: SAMPLE_TEXT };
    const raw = nodemailer.createTransport({ pool: true, url: stack.sink.url, maxConnections: config.smtp.poolSize, maxMessages: Infinity });
    await raw.sendMail({ ...sample, to: 'warm@bench.test' });
    const rawBefore = stack.sink.received();
    stop = progressEvery(5000, () => `raw nodemailer: ${stack.sink.received() - rawBefore} of ${count} sent`);
    const t1 = performance.now();
    try {
      await mapLimit(count, concurrency, async (i) => {
        await raw.sendMail({ ...sample, to: `reader${i}@bench.test`, headers: { 'X-Itinera-Idempotency-Key': `raw:${i}` } });
      });
    } finally {
      stop();
    }
    const rawMs = performance.now() - t1;
    raw.close();

    const ours = count / (oursMs / 1000);
    const baseline = count / (rawMs / 1000);
    const metrics: Metric[] = [
      {
        metric: 'emails_per_second', value: Math.round(ours), unit: 'emails/s', baseline: Math.round(baseline), ratio: ratioOf(ours, baseline), kind: 'throughput', baselineName: 'raw nodemailer',
        targets: [{ on: 'value', op: '>=', bound: 250 }, { on: 'ratio', op: '>=', bound: 0.9 }],
      },
      { metric: 'record_lag_p50', value: lagAt(0.5), unit: 'ms', baseline: null, ratio: null, kind: 'latency' },
      { metric: 'record_lag_p99', value: lagAt(0.99), unit: 'ms', baseline: null, ratio: null, kind: 'latency' },
    ];
    return {
      metrics,
      params: { count, concurrency, smtpPool: config.smtp.poolSize, database: stack.db.kind, deliveredOurs: delivered, distinctIdempotencyKeys: keys.size },
      notes: delivered === count && keys.size === count ? [] : [`the sink got ${delivered} of ${count} messages (${keys.size} distinct keys)`],
    };
  } finally {
    stack.sink.onMessage = undefined;
    await mailer.close?.();
  }
}
