/**
 * Activities of the bare baselines. The trivial four return at once, so only Temporal's cost is measured. The effect
 * four do what the four-action journey's activities do — the same SMTP send through a pool of the same size to the
 * same sink, the same score and tag SQL on the same contacts table, the same webhook POST to the same receiver — with
 * none of itinera's bookkeeping (no idempotency rows, projections, consent, rendering or audit), so the journey's
 * ratio against them is the engine's overhead alone.
 */
import nodemailer from 'nodemailer';
import pg from 'pg';

export const trivialActivities = {
  async bareOne(_: { contactId: string }) {
    return 1;
  },
  async bareTwo(_: { contactId: string }) {
    return 1;
  },
  async bareThree(_: { contactId: string }) {
    return 1;
  },
  async bareFour(_: { contactId: string }) {
    return 1;
  },
};

export type EffectTargets = { smtpUrl: string; smtpPool: number; databaseUrl: string; dbPool: number; webhookUrl: string };

/** About the size of the rendered welcome email (bench/scenarios/email.ts uses the same sample for its baseline). */
export const SAMPLE_TEXT = 'Hello reader. '.repeat(150);

export function createEffectActivities(t: EffectTargets) {
  const mail = nodemailer.createTransport({ pool: true, url: t.smtpUrl, maxConnections: t.smtpPool, maxMessages: Infinity });
  const pool = new pg.Pool({ connectionString: t.databaseUrl, max: t.dbPool });
  return {
    activities: {
      async bareSendEmail(a: { contactId: string; email: string }) {
        await mail.sendMail({ from: 'bench <bench@itinera.test>', to: a.email, subject: 'Welcome', html: `<p>${SAMPLE_TEXT}</p>`, text: SAMPLE_TEXT });
        return 1;
      },
      async bareScore(a: { contactId: string; email: string }) {
        await pool.query('update contacts set score = score + 5, updated_at = now() where id = $1', [a.contactId]);
        return 1;
      },
      async bareTag(a: { contactId: string; email: string }) {
        await pool.query("update contacts set tags = array_append(tags, 'benchmarked'), updated_at = now() where id = $1 and not ('benchmarked' = any(tags))", [a.contactId]);
        return 1;
      },
      async bareWebhook(a: { contactId: string; email: string }) {
        const res = await fetch(`${t.webhookUrl}/contacts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: a.contactId, email: a.email }) });
        await res.body?.cancel();
        if (!res.ok) throw new Error(`webhook answered ${res.status}`);
        return 1;
      },
    },
    async close() {
      mail.close();
      await pool.end();
    },
  };
}

export type BareActivities = typeof trivialActivities & ReturnType<typeof createEffectActivities>['activities'];
