/**
 * Email throughput: emails/s through itinera's send path (the sendEmail activity: claim in Postgres, render the
 * template with tracking links, pooled SMTP, record sent) against raw pooled nodemailer sending the same mail (the
 * subject, HTML, text and headers itinera rendered for the warm-up send, pre-rendered) to the same SMTP sink through
 * the same pool size, side by side in one run. The activity is called directly (no Temporal), as the worker would
 * call it, with the mailer and pool size `npm run worker` builds from SMTP_URL/SMTP_POOL_SIZE. The three are measured
 * in alternating rounds, so a change in the machine's load falls on all of them. The earlier baseline,
 * a 4 KB sample text (bench/bare/activities.ts, what the journeys scenario's bare workflow sends), is kept beside it
 * as context: itinera's rendered welcome email is several times larger, and nodemailer's encoding cost grows with it.
 */
import nodemailer, { type Transporter } from 'nodemailer';
import { SAMPLE_TEXT } from '../bare/activities';
import { createActivities } from '../../src/activities';
import { inArray } from 'drizzle-orm';
import { contacts, messages } from '../../src/db/schema';
import { activityDeps } from '../../src/wiring/activities';
import { createMailer, createRenderer } from '../../src/wiring/channels';
import type { Mailer, OutgoingEmail } from '../../src/activities/deps';
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
  const { mailer: smtp } = createMailer({ config });
  // The warm-up send's message, as itinera handed it to the mailer: what the baseline sends.
  let rendered: OutgoingEmail | undefined;
  const mailer: Mailer = {
    send(msg) {
      rendered ??= msg;
      return smtp.send(msg);
    },
    close: () => smtp.close(),
  };
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
  // On a shared machine the load moves in seconds: the sends are measured in alternating rounds (itinera, the same
  // mail raw, the sample text raw; a quarter of the sends each), and each side's rate is its sends over its summed time.
  const rounds = Math.min(4, count);
  const slices = Array.from({ length: rounds }, (_, r) => {
    const from = Math.floor((r * count) / rounds);
    return { from, n: Math.floor(((r + 1) * count) / rounds) - from };
  });
  const raws: Transporter[] = [];
  try {
    // Warm every path (connections, template compilation) before timing.
    await send(count, 'warm');
    if (!rendered) throw new Error('the warm-up send handed no message to the mailer');
    const same = { from: rendered.from, subject: rendered.subject, html: rendered.html, text: rendered.text, headers: rendered.headers ?? {} };
    const small = { from: config.smtp.from, subject: 'Welcome', html: `<p>${SAMPLE_TEXT}</p>`, text: SAMPLE_TEXT, headers: {} };
    // Baselines, straight through pooled nodemailer with the same pool size: the same mail, pre-rendered; the 4 KB
    // sample text (context). Each its own pool, as a process would have.
    const rawSide = async (name: string, mail: typeof same) => {
      const raw = nodemailer.createTransport({ pool: true, url: stack.sink.url, maxConnections: config.smtp.poolSize, maxMessages: Infinity });
      raws.push(raw);
      await raw.sendMail({ ...mail, to: 'warm@bench.test' });
      return (i: number) => raw.sendMail({ ...mail, to: `reader${i}@bench.test`, headers: { ...mail.headers, 'X-Itinera-Idempotency-Key': `raw:${name}:${i}` } }).then(() => undefined);
    };
    const sides = [
      {
        name: 'itinera',
        send: async (i: number) => {
          const r = await send(i, `bench:${i}`);
          if (r.status !== 'sent') throw new Error(`send ${i}: ${r.status}`);
        },
        ms: 0,
      },
      { name: 'raw nodemailer, same mail', send: await rawSide('same', same), ms: 0 },
      { name: 'raw nodemailer, 4 KB sample', send: await rawSide('small', small), ms: 0 },
    ];
    const before = stack.sink.received();
    let delivered = 0;
    for (const [r, slice] of slices.entries()) {
      for (const side of sides) {
        const at = stack.sink.received();
        const stop = progressEvery(5000, () => `round ${r + 1} of ${rounds}, ${side.name}: ${stack.sink.received() - at} of ${slice.n} sent`);
        const t0 = performance.now();
        try {
          await mapLimit(slice.n, concurrency, (k) => side.send(slice.from + k));
        } finally {
          stop();
        }
        side.ms += performance.now() - t0;
        if (side.name === 'itinera') delivered += stack.sink.received() - at;
      }
    }
    const rate = (ms: number) => count / (ms / 1000);
    const [ours, baseline, baselineSmall] = sides.map((side) => rate(side.ms)) as [number, number, number];
    const allDelivered = stack.sink.received() - before === 3 * count;
    // The sink's 250 → the `sent` record's statement: a worker killed inside this window resends the email.
    const recorded = await db
      .select({ key: messages.idempotencyKey, sentAt: messages.sentAt })
      .from(messages)
      .where(inArray(messages.idempotencyKey, [...acceptedAt.keys()]));
    const lags = recorded.flatMap((r) => (r.sentAt ? [Math.max(0, r.sentAt.getTime() - acceptedAt.get(r.key)!)] : [])).sort((a, b) => a - b);
    const lagAt = (q: number) => lags[Math.min(lags.length - 1, Math.floor(q * lags.length))] ?? 0;

    const metrics: Metric[] = [
      {
        metric: 'emails_per_second', value: Math.round(ours), unit: 'emails/s', baseline: Math.round(baseline), ratio: ratioOf(ours, baseline), kind: 'throughput', baselineName: 'raw nodemailer, same mail',
        targets: [{ on: 'value', op: '>=', bound: 250 }, { on: 'ratio', op: '>=', bound: 0.9 }],
      },
      {
        metric: 'emails_per_second_vs_sample_text', value: Math.round(ours), unit: 'emails/s', baseline: Math.round(baselineSmall), ratio: ratioOf(ours, baselineSmall), kind: 'throughput',
        baselineName: 'raw nodemailer, 4 KB sample text (context)',
      },
      { metric: 'record_lag_p50', value: lagAt(0.5), unit: 'ms', baseline: null, ratio: null, kind: 'latency' },
      { metric: 'record_lag_p99', value: lagAt(0.99), unit: 'ms', baseline: null, ratio: null, kind: 'latency' },
    ];
    return {
      metrics,
      params: {
        count, concurrency, rounds, smtpPool: config.smtp.poolSize, database: stack.db.kind, deliveredOurs: delivered, distinctIdempotencyKeys: keys.size,
        mailChars: { same: (same.html?.length ?? 0) + (same.text?.length ?? 0), sampleText: small.html.length + small.text.length },
      },
      notes: [
        ...(delivered === count && keys.size === count ? [] : [`the sink got ${delivered} of ${count} messages (${keys.size} distinct keys)`]),
        ...(allDelivered ? [] : ['the sink did not get every baseline message']),
      ],
    };
  } finally {
    stack.sink.onMessage = undefined;
    for (const raw of raws) raw.close();
    await mailer.close();
  }
}
