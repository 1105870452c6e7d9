import { activityLog } from './log';
import { contactForSend, isSkipped, messageRow, recordSkip } from './message-rows';
import { eq, inArray, sql, type SQL } from 'drizzle-orm';
import { applyTracking, messageLinks, pageLanguage } from '../channels/email/tracking';
import { SmtpPermanentError, toSmtpError } from '../channels/email/mailer';
import { toJourneyContact } from '../db/contact-view';
import { findMessageByKey, suppressionOf, type ContactRow, type MessageRow } from '../db/queries';
import { erasedAddresses, erasedAddressSql, erasureSalts } from '../contacts/erased-address';
import { MARKETING_ONLY_SUPPRESSIONS, mayDeliver, SuppressionReason } from '../contacts/may-deliver';
import { batched } from '../db/batch';
import { contacts, messages, suppressions } from '../db/schema';
import type { Db } from '../db/client';
import { buildTemplateContext } from '../templates/context';
import { renderInline } from '../templates/inline';
import type { Activities, SendEmailInput, SendEmailResult, Skipped } from '../contracts';
import type { ActivityDeps } from './deps';
import { storableText } from '../bounds';
import { applyFeedback } from '../deliverability/apply';
import { BounceClass, classifyBounce } from '../deliverability/classify';
import { FeedbackSource } from '../deliverability/feedback';
import { verpAddress } from '../deliverability/verp';


type Lookup = { key: string; contactId: string };
type Found = {
  /** `suppression`: the address's suppression reason, null when it is not suppressed. */
  contact: (ContactRow & { suppression: string | null }) | undefined;
  message: Pick<MessageRow, 'status' | 'providerMessageId' | 'error'> | undefined;
};
type Reservation = {
  key: string; contactId: string; journeyId: string; workflowId: string; stepId: string; recipient: string; template: string; subject: string;
  html: string | null;
};

/**
 * The largest HTML kept for the hosted copy (characters). Sample templates render to a few KB; a message larger than
 * this is sent but not hosted (its view-in-browser link answers 404 "no longer available"), so one oversized
 * template cannot grow the messages table without bound.
 */
export const MAX_HOSTED_HTML_CHARS = 200_000;

/**
 * The three statements of a send (look-up, reservation, mark sent), each group-committed across the sends in flight
 * (src/db/batch.ts): per send they were most of the cost of the path. Every send still awaits its own statement. A
 * batch travels as one JSON parameter, so the SQL text is constant (cheap to build, planned like any other).
 */
function sendStatements(db: Db, urgent: Db, salts: readonly string[]) {
  const rows = async <R>(q: SQL): Promise<R[]> => {
    const res = (await db.execute(q)) as unknown as { rows?: R[] };
    return res.rows ?? (res as unknown as R[]);
  };
  const findContacts = db
    .select({
      contact: contacts,
      // The address itself, or the hash an erased contact's address is kept under (which wins).
      suppression: sql<string | null>`(select ${suppressions.reason} from ${suppressions} where ${suppressions.channel} = 'email'
        and (${suppressions.address} = ${contacts.email} or ${suppressions.address} in ${erasedAddressSql(JSON.stringify(salts), 'email', sql`${contacts.email}`)})
        order by ${suppressions.address} = ${contacts.email} limit 1)`,
    })
    .from(contacts)
    .where(sql`${contacts.id} in (select jsonb_array_elements_text(${sql.placeholder('ids')}::jsonb)::uuid)`)
    .prepare('itinera_send_email_contacts');
  return {
    /** The contacts with their address's suppression reason, and the messages already recorded under these keys. */
    lookup: batched<Lookup, Found>(async (items) => {
      const ids = JSON.stringify([...new Set(items.map((i) => i.contactId))]);
      const keys = JSON.stringify(items.map((i) => i.key));
      const [found, recorded] = await Promise.all([
        findContacts.execute({ ids }),
        rows<{ key: string; status: string; provider_message_id: string | null; error: string | null }>(sql`
          select idempotency_key as key, status, provider_message_id, error from ${messages}
          where idempotency_key in (select jsonb_array_elements_text(${keys}::jsonb))`),
      ]);
      const byId = new Map(found.map((r) => [r.contact.id, { ...r.contact, suppression: r.suppression }]));
      const byKey = new Map(recorded.map((r) => [r.key, { status: r.status, providerMessageId: r.provider_message_id, error: r.error }]));
      return items.map((i) => ({ contact: byId.get(i.contactId), message: byKey.get(i.key) }));
    }),
    /**
     * `sending` before SMTP starts; answers the row's id. The conflict update only takes a row that is still
     * `reserved`/`sending`, so an attempt racing one that already finished gets undefined instead of overwriting `sent`. (Two attempts of one key in
     * the same batch make the statement fail; the batcher then reserves them one at a time.)
     */
    reserve: batched<Reservation, string | undefined>(async (items) => {
      // Key order: concurrent batches lock rows in one order.
      const batch = JSON.stringify([...items].sort((a, b) => (a.key < b.key ? -1 : 1)));
      const taken = await rows<{ key: string; id: string }>(sql`
        insert into ${messages} as m (idempotency_key, channel, contact_id, journey_id, workflow_id, step_id, recipient, template, subject, html, status, attempts)
        select r.key, 'email', r."contactId", r."journeyId", r."workflowId", r."stepId", r.recipient, r.template, r.subject, r.html, 'sending', 1
        from jsonb_to_recordset(${batch}::jsonb) as r(key text, "contactId" uuid, "journeyId" text, "workflowId" text, "stepId" text, recipient text, template text, subject text, html text)
        on conflict (idempotency_key) do update set
          status = 'sending',
          html = excluded.html,
          attempts = m.attempts + 1,
          error = case when m.status = 'sending' then 'previous attempt outcome unknown; resent with the same Message-ID' else m.error end,
          updated_at = now()
        where m.status in ('reserved', 'sending')
        returning m.idempotency_key as key, m.id`);
      const ids = new Map(taken.map((r) => [r.key, r.id]));
      return items.map((i) => ids.get(i.key));
    }),
    /** On its own connections: from the server's `250` to this commit, a crash makes the retry resend the email. */
    markSent: batched<{ key: string; providerMessageId: string }, void>(async (items) => {
      await urgent.execute(sql`
        update ${messages} as m set status = 'sent', provider_message_id = r."providerMessageId", sent_at = now(), updated_at = now()
        from jsonb_to_recordset(${JSON.stringify(items)}::jsonb) as r(key text, "providerMessageId" text)
        where m.idempotency_key = r.key`);
      return items.map(() => undefined);
    }),
  };
}

/** What a finished send recorded, answered again to a retry; undefined while the send may still (re)start. */
function finished(row: Pick<MessageRow, 'status' | 'providerMessageId' | 'error'> | undefined): SendEmailResult | undefined {
  if (row?.status === 'sent') return { status: 'sent', messageId: row.providerMessageId ?? '', duplicate: true };
  if (row?.status === 'bounced') return { status: 'bounced', error: row.error ?? '', duplicate: true };
  if (row && isSkipped(row.status)) return { status: row.status, duplicate: true };
  return undefined;
}

/**
 * How long a send keeps trying to record that the server accepted its email: within the send's 60 s start-to-close
 * timeout (src/workflows/journey.ts), with room to answer.
 */
export const RECORD_SENT_PATIENCE_MS = 40_000;

/**
 * The server has accepted the email: only this process knows it. Failing now would make the activity's retry find
 * `sending` and resend, so a database outage (a Postgres restart, a failover) is waited out here instead; only a
 * process that dies (or an outage longer than {@link RECORD_SENT_PATIENCE_MS}) leaves the resend to the retry.
 */
async function recordSent(stmt: ReturnType<typeof sendStatements>, key: string, providerMessageId: string): Promise<void> {
  const deadline = Date.now() + RECORD_SENT_PATIENCE_MS;
  for (let wait = 250; ; wait = Math.min(wait * 2, 2000)) {
    try {
      return await stmt.markSent({ key, providerMessageId });
    } catch (err) {
      if (Date.now() + wait > deadline) throw err;
      activityLog('warn', 'could not record an accepted email as sent; trying again', { key, code: (err as { code?: unknown }).code });
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}

export function emailActivities(deps: ActivityDeps): Pick<Activities, 'sendEmail'> {
  const { db } = deps;
  const salts = erasureSalts(deps.tracking.secrets);
  let statements: ReturnType<typeof sendStatements> | undefined;
  // Sends of one key running in this process at once (an attempt that timed out still running beside its retry) go
  // one after the other, so the later one finds the first's outcome instead of a second `sending` reservation.
  const inFlight = new Map<string, Promise<unknown>>();
  const setStatus = (key: string, values: Partial<typeof messages.$inferInsert>) =>
    db.update(messages).set({ ...values, updatedAt: sql`now()` }).where(eq(messages.idempotencyKey, key));

  return {
    /**
     * Reserve → send → mark sent, keyed by a unique idempotency key.
     *
     * A retry decides from what the row says: `sent`/`bounced`/skipped → answer as before, send nothing;
     * `reserved` → no SMTP transaction began, or the server refused with a reply code (so nothing was accepted) →
     * send; `sending` → the earlier attempt died between starting the SMTP transaction and recording its reply. That
     * window (the server's final `250` in flight, or our single UPDATE after it) cannot be closed by SMTP, which has
     * no way to ask "did you accept message X?". We resend with the same deterministic Message-ID and idempotency
     * header so receivers and our own SMTP sink can drop the duplicate, and we mark the row so it is counted.
     */
    async sendEmail(input: SendEmailInput): Promise<SendEmailResult> {
      const key = input.idempotencyKey;
      for (let prior = inFlight.get(key); prior; prior = inFlight.get(key)) await prior.catch(() => undefined);
      const run = send(input);
      inFlight.set(key, run);
      try {
        return await run;
      } finally {
        if (inFlight.get(key) === run) inFlight.delete(key);
      }
    },
  };

  async function send(input: SendEmailInput): Promise<SendEmailResult> {
    const stmt = (statements ??= sendStatements(db, deps.urgentDb ?? db, salts));
    const hit = await stmt.lookup({ key: input.idempotencyKey, contactId: input.contactId });
    // A merged (or missing) contact takes the slow path: it reads the survivor, whose address decides suppression.
    const fast = hit.contact && !hit.contact.mergedInto ? { ...hit, contact: hit.contact } : undefined;
    const existing = fast ? fast.message : await findMessageByKey(db, input.idempotencyKey);
    const answered = finished(existing);
    if (answered) return answered;

    const row = fast?.contact ?? (await contactForSend(db, input.contactId));
    const base = messageRow(input, 'email', row.email ?? '', { template: input.template });
    const skip = (status: Skipped) => recordSkip(db, base, status);
    // Consent and suppression are checked at send time, not at entry: a contact may unsubscribe while waiting.
    if (!row.email) return skip('no_address');
    const suppression = fast ? fast.contact.suppression : await suppressionOf(db, 'email', row.email, erasedAddresses(salts, 'email', row.email));
    const decision = mayDeliver({
      channel: 'email', category: input.category, consent: row.consent.email, suppression,
      ...(input.topic !== undefined ? { topic: { id: input.topic, consent: row.topicConsent.email?.[input.topic] } } : {}),
    });
    if (!decision.deliver) return skip(decision.skip);

    const contact = toJourneyContact(row);
    const locale = input.locale ?? contact.locale ?? undefined;
    // Signed before rendering, so the template's footer places them; pages open in the message's language.
    const links = messageLinks({
      baseUrl: deps.tracking.baseUrl,
      secrets: deps.tracking.secrets,
      messageKey: input.idempotencyKey,
      contactId: input.contactId,
      kind: input.category,
      language: pageLanguage(locale),
      // The one-click unsubscribe of a message about a topic withdraws that topic only (its page offers all).
      ...(input.topic !== undefined ? { listId: input.topic } : {}),
    });
    const context = buildTemplateContext({
      contact,
      trigger: input.trigger ? { properties: input.trigger } : undefined,
      journey: { id: input.journeyId, name: input.journeyName ?? input.journeyId },
      links,
      sender: { address: deps.tracking.physicalAddress },
    });
    const rendered = deps.renderer.render(input.template, locale, context);
    const tracked = applyTracking(
      { html: rendered.html, text: rendered.text },
      {
        baseUrl: deps.tracking.baseUrl,
        secrets: deps.tracking.secrets,
        messageKey: input.idempotencyKey,
        contactId: input.contactId,
        kind: input.category,
        links,
        physicalAddress: deps.tracking.physicalAddress,
        ...(deps.tracking.unsubscribeMailto ? { unsubscribeMailto: deps.tracking.unsubscribeMailto } : {}),
      },
    );
    // A step's subject override is an inline template, one line like the template's own subject.
    const subject = input.subject !== undefined ? renderInline(input.subject, context).replace(/\s+/g, ' ').trim() : rendered.subject;

    const uncertain = existing?.status === 'sending';
    if (uncertain) {
      activityLog('warn', 'resending an email whose earlier attempt has an unknown outcome (same Message-ID)', { key: input.idempotencyKey });
    }
    const reserved = await stmt.reserve({
      key: input.idempotencyKey, contactId: input.contactId, journeyId: input.journeyId, workflowId: input.workflowId,
      stepId: input.stepId, recipient: row.email, template: input.template, subject,
      html: tracked.webHtml && tracked.webHtml.length <= MAX_HOSTED_HTML_CHARS ? tracked.webHtml : null,
    });
    if (reserved === undefined) {
      // Another attempt finished this send between our look-up and now: answer what it recorded, send nothing.
      const done = await findMessageByKey(db, input.idempotencyKey);
      const again = finished(done);
      if (again) return again;
      throw new Error(`email ${input.idempotencyKey}: reservation refused in status ${done?.status ?? '(none)'}`);
    }

    let result;
    try {
      result = await deps.mailer.send({
        from: input.from ?? deps.defaultFrom,
        to: row.email,
        subject,
        html: tracked.html,
        text: tracked.text,
        headers: tracked.headers,
        idempotencyKey: input.idempotencyKey,
        // The row id (kept by a retry's reservation) names this message in the return path reports are sent to.
        ...(deps.verp ? { envelopeFrom: verpAddress(deps.tracking.secrets, deps.verp.domain, reserved) } : {}),
      });
    } catch (err) {
      const smtp = toSmtpError(err);
      if (smtp instanceof SmtpPermanentError) {
        // Refused for good: the journey takes its failure path. Whether the *address* is bad is the reply's to say
        // (src/deliverability/classify.ts): a hard bounce (5.1.1 user unknown; or a refusal with no reply code, such
        // as an address the client rejects) suppresses it at once; a policy refusal (5.7.x: the receiver refusing us)
        // never does; a soft one (5.2.2 mailbox full) counts towards BOUNCE_SOFT_LIMIT.
        const bounce = classifyBounce(smtp.responseCode !== undefined ? String(smtp.responseCode) : undefined, smtp.response ?? smtp.message);
        const klass = bounce?.class ?? BounceClass.Hard;
        await db.transaction(async (tx) => {
          await tx
            .update(messages)
            .set({ status: 'bounced', error: storableText(smtp.message), updatedAt: sql`now()` })
            .where(eq(messages.idempotencyKey, input.idempotencyKey));
          if (klass !== BounceClass.Hard) return;
          // An address only unsubscribed (or complained) becomes bounced: from now on transactional mail stops too.
          await tx
            .insert(suppressions)
            .values({ channel: 'email', address: row.email!, reason: SuppressionReason.Bounced })
            .onConflictDoUpdate({
              target: [suppressions.channel, suppressions.address],
              set: { reason: SuppressionReason.Bounced },
              setWhere: inArray(suppressions.reason, [...MARKETING_ONLY_SUPPRESSIONS]),
            });
        });
        // Recorded like a DSN (stats, the soft-bounce count, email.bounced to journeys). The outcome above stands if
        // this fails: the answer is `bounced` either way, and a retry finds it recorded.
        if (deps.ingest) {
          await applyFeedback({ db, ingest: deps.ingest, ...(deps.deliverability ? { options: deps.deliverability } : {}) }, {
            source: FeedbackSource.Smtp, eventId: input.idempotencyKey, occurredAt: new Date(), refs: { messageIds: [], idempotencyKeys: [input.idempotencyKey] },
            recipient: row.email!.toLowerCase(), kind: 'bounce', class: klass, code: bounce?.code ?? null, diagnostic: storableText(smtp.message),
          }).catch((e: unknown) => activityLog('warn', 'could not record an SMTP refusal as a bounce', { key: input.idempotencyKey, code: (e as { code?: unknown }).code }));
        }
        return { status: 'bounced', error: smtp.message, duplicate: false };
      }
      // A reply code means the server refused this transaction, so nothing was accepted: the retry is not uncertain.
      if (smtp.responseCode !== undefined) await setStatus(input.idempotencyKey, { status: 'reserved', error: storableText(smtp.message) });
      throw smtp;
    }
    await recordSent(stmt, input.idempotencyKey, result.messageId);
    return { status: 'sent', messageId: result.messageId, duplicate: false };
  }
}
