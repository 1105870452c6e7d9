import { activityLog } from './log';
import { contactForSend, isSkipped, messageRow, recordSkip } from './message-rows';
import { eq, getTableColumns, inArray, sql } from 'drizzle-orm';
import { applyTracking, messageLinks, pageLanguage } from '../channels/email/tracking';
import { SmtpPermanentError, toSmtpError } from '../channels/email/mailer';
import { toJourneyContact } from '../db/contact-view';
import { findMessageByKey, suppressionOf, type ContactRow, type MessageRow } from '../db/queries';
import { erasedAddresses, erasedAddressSql, erasureSalts } from '../contacts/erased-address';
import { MARKETING_ONLY_SUPPRESSIONS, mayDeliver, SuppressionReason } from '../contacts/may-deliver';
import { batched } from '../db/batch';
import { preparedSql } from '../db/prepared';
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


type Claim = { key: string; contactId: string; journeyId: string; workflowId: string; stepId: string; template: string };
type Prior = Pick<MessageRow, 'status' | 'providerMessageId' | 'error'>;
type Claimed = {
  /** `suppression`: the address's suppression reason, null when it is not suppressed. */
  contact: (ContactRow & { suppression: string | null }) | undefined;
  /** The row under this key as it was before the claim (the statement's snapshot). */
  prior: Prior | undefined;
  /** The row's id when this attempt now holds it as `sending`; undefined when nothing was claimed. */
  claimedId: string | undefined;
};
type Reservation = { key: string; contactId: string; journeyId: string; workflowId: string; stepId: string; recipient: string; template: string };
type Sent = { key: string; providerMessageId: string; subject: string; html: string | null };

/**
 * The largest HTML kept for the hosted copy (characters). Sample templates render to a few KB; a message larger than
 * this is sent but not hosted (its view-in-browser link answers 404 "no longer available"), so one oversized
 * template cannot grow the messages table without bound.
 */
export const MAX_HOSTED_HTML_CHARS = 200_000;

/** The contact's columns, selected by name and mapped as drizzle maps them (timestamps, jsonb, arrays). */
const CONTACT_COLUMNS = Object.entries(getTableColumns(contacts)).map(([field, column]) => ({ field, column, alias: `c_${column.name}` }));
const contactColumnsSql = sql.join(CONTACT_COLUMNS.map((c) => sql`c.${sql.identifier(c.column.name)} as ${sql.identifier(c.alias)}`), sql`, `);
function contactFromRow(raw: Record<string, unknown>): ContactRow | undefined {
  if (raw['c_id'] == null) return undefined;
  return Object.fromEntries(CONTACT_COLUMNS.map(({ field, column, alias }) => [field, raw[alias] == null ? raw[alias] : column.mapFromDriverValue(raw[alias])])) as ContactRow;
}

/**
 * A send's statements, each group-committed across the sends in flight (src/db/batch.ts). A send of a live contact
 * makes two round trips: the claim before rendering and the record after the server's answer. A batch travels as one
 * JSON parameter, so each statement's text is constant: they are named prepared statements, parsed and planned once
 * per connection (planning the claim cost more than running it; planning the record, a third of its cost).
 */
function sendStatements(db: Db, urgent: Db, salts: readonly string[]) {
  const saltsJson = JSON.stringify(salts);
  // Each input row finds its contact and message through their unique indexes: a LATERAL subquery with a LIMIT is a
  // per-row index probe, whatever the planner guesses of the batch's size (100 rows for any set-returning function)
  // or of a table never analyzed yet, where a join could pick a sequential scan of the whole table for one send.
  // Taking a send's row (messages as m): a new one, or one no send is known to have left (reserved, or sending when
  // an attempt died not knowing the server's answer — then the retry resends with the same Message-ID).
  const takeRow = sql`on conflict (idempotency_key) do update set
      status = 'sending',
      attempts = m.attempts + 1,
      error = case when m.status = 'sending' then 'previous attempt outcome unknown; resent with the same Message-ID' else m.error end,
      updated_at = now()
    where m.status in ('reserved', 'sending')
    returning m.idempotency_key as key, m.id`;
  const claimSql = preparedSql<Record<string, unknown>>(db, 'itinera_send_email_claim', sql`
    with r as (
      select * from jsonb_to_recordset(${sql.placeholder('batch')}::jsonb) as r(key text, "contactId" uuid, "journeyId" text, "workflowId" text, "stepId" text, template text)
    ), claimed as (
      insert into ${messages} as m (idempotency_key, channel, contact_id, journey_id, workflow_id, step_id, recipient, template, status, attempts)
      select r.key, 'email', r."contactId", r."journeyId", r."workflowId", r."stepId", c.email, r.template, 'sending', 1
      from r cross join lateral (
        select email from ${contacts} where id = r."contactId" and merged_into is null and email is not null limit 1
      ) c
      order by r.key
      ${takeRow}
    )
    select r.key as claim_key, cl.id as claimed_id, p.status as prior_status, p.provider_message_id as prior_provider_message_id, p.error as prior_error,
      ${contactColumnsSql},
      -- The address itself, or the hash an erased contact's address is kept under (which wins).
      (select s.reason from ${suppressions} s where s.channel = 'email'
        and (s.address = c.email or s.address in ${erasedAddressSql(sql`${sql.placeholder('salts')}`, 'email', sql`c.email`)})
        order by s.address = c.email limit 1) as suppression
    from r
    left join lateral (select * from ${contacts} where id = r."contactId" limit 1) c on true
    left join lateral (select status, provider_message_id, error from ${messages} where idempotency_key = r.key limit 1) p on true
    left join claimed cl on cl.key = r.key`);
  const reserveSql = preparedSql<{ key: string; id: string }>(db, 'itinera_send_email_reserve', sql`
    insert into ${messages} as m (idempotency_key, channel, contact_id, journey_id, workflow_id, step_id, recipient, template, status, attempts)
    select r.key, 'email', r."contactId", r."journeyId", r."workflowId", r."stepId", r.recipient, r.template, 'sending', 1
    from jsonb_to_recordset(${sql.placeholder('batch')}::jsonb) as r(key text, "contactId" uuid, "journeyId" text, "workflowId" text, "stepId" text, recipient text, template text)
    ${takeRow}`);
  // The rows are found by key through the unique index (= any of the keys), then joined to their values.
  const markSentSql = preparedSql(urgent, 'itinera_send_email_sent', sql`
    update ${messages} as m set status = 'sent', provider_message_id = r."providerMessageId", subject = r.subject, html = r.html, sent_at = now(), updated_at = now()
    from jsonb_to_recordset(${sql.placeholder('batch')}::jsonb) as r(key text, "providerMessageId" text, subject text, html text)
    where m.idempotency_key = any(array(select jsonb_array_elements_text(${sql.placeholder('keys')}::jsonb))) and m.idempotency_key = r.key`);
  return {
    /**
     * One statement: the contact with its address's suppression reason, the row already under the key, and the claim.
     * The claim is taken for every live (unmerged) contact that has an address, before consent and suppression are
     * decided in TypeScript (src/contacts/may-deliver.ts stays the one place that decides): a send decided against
     * then records its skip over the claim, as a skip always has (recordSkip), so no email leaves for it. The claim
     * only takes a row that is new or still `reserved`/`sending` (a retry), so a send already finished keeps its
     * outcome and the answer is read from `prior`, the statement's snapshot from before the claim. (Two attempts of
     * one key in the same batch make the statement fail; the batcher then claims them one at a time.)
     */
    claim: batched<Claim, Claimed>(async (items) => {
      // Key order: concurrent batches lock rows in one order.
      const batch = JSON.stringify([...items].sort((a, b) => (a.key < b.key ? -1 : 1)));
      const found = await claimSql({ batch, salts: saltsJson });
      const byKey = new Map(found.map((f) => [f['claim_key'] as string, f]));
      return items.map((i) => {
        const f = byKey.get(i.key);
        const contact = f ? contactFromRow(f) : undefined;
        return {
          contact: contact ? { ...contact, suppression: (f!['suppression'] as string | null) ?? null } : undefined,
          prior: f?.['prior_status'] != null ? { status: f['prior_status'] as string, providerMessageId: (f['prior_provider_message_id'] as string | null) ?? null, error: (f['prior_error'] as string | null) ?? null } : undefined,
          claimedId: (f?.['claimed_id'] as string | null | undefined) ?? undefined,
        };
      });
    }),
    /**
     * The slow path's reservation (a merged contact, mailed at its survivor): `sending` before SMTP starts; answers the
     * row's id, or undefined when an attempt racing this one already finished the send.
     */
    reserve: batched<Reservation, string | undefined>(async (items) => {
      const taken = await reserveSql({ batch: JSON.stringify([...items].sort((a, b) => (a.key < b.key ? -1 : 1))) });
      const ids = new Map(taken.map((r) => [r.key, r.id]));
      return items.map((i) => ids.get(i.key));
    }),
    /**
     * The record: `sent`, with the subject and the hosted copy of what was sent. On its own connections: from the
     * server's `250` to this commit, a crash makes the retry resend the email.
     */
    markSent: batched<Sent, void>(async (items) => {
      await markSentSql({ batch: JSON.stringify(items), keys: JSON.stringify(items.map((i) => i.key)) });
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
async function recordSent(stmt: ReturnType<typeof sendStatements>, sent: Sent): Promise<void> {
  const { key } = sent;
  const deadline = Date.now() + RECORD_SENT_PATIENCE_MS;
  for (let wait = 250; ; wait = Math.min(wait * 2, 2000)) {
    try {
      return await stmt.markSent(sent);
    } catch (err) {
      if (Date.now() + wait > deadline) throw err;
      // drizzle wraps the driver's error (and its SQLSTATE) as `cause`.
      const e = err as { code?: unknown; cause?: { code?: unknown } };
      activityLog('warn', 'could not record an accepted email as sent; trying again', { key, code: e.code ?? e.cause?.code });
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
     * Claim → render → send → record, keyed by a unique idempotency key: one round trip to the database before the
     * SMTP transaction (the claim, which also reads the contact and its suppression) and one after it (the record).
     *
     * A retry decides from what the row says: `sent`/`bounced`/skipped → answer as before, send nothing;
     * `reserved` → no SMTP transaction began, or the server refused with a reply code (so nothing was accepted) →
     * send; `sending` → the earlier attempt died after its claim and before recording the server's reply, possibly
     * inside the SMTP transaction (a render that throws puts the row back to `reserved`). That
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
    const key = input.idempotencyKey;
    const hit = await stmt.claim({ key, contactId: input.contactId, journeyId: input.journeyId, workflowId: input.workflowId, stepId: input.stepId, template: input.template });
    // A merged (or missing) contact takes the slow path: it reads the survivor, whose address decides suppression.
    // The claim took nothing for it (nor for a contact without an address).
    const fast = hit.contact && !hit.contact.mergedInto ? { ...hit, contact: hit.contact } : undefined;
    const existing = fast ? fast.prior : await findMessageByKey(db, key);
    const answered = finished(existing);
    if (answered) return answered;

    const row = fast?.contact ?? (await contactForSend(db, input.contactId));
    const base = messageRow(input, 'email', row.email ?? '', { template: input.template });
    // Over this attempt's claim, if it took one: the row answers the skip to every retry.
    const skip = (status: Skipped) => recordSkip(db, base, status);
    // Consent and suppression are checked at send time, not at entry: a contact may unsubscribe while waiting.
    if (!row.email) return skip('no_address');
    const suppression = fast ? fast.contact.suppression : await suppressionOf(db, 'email', row.email, erasedAddresses(salts, 'email', row.email));
    const decision = mayDeliver({
      channel: 'email', category: input.category, consent: row.consent.email, suppression,
      ...(input.topic !== undefined ? { topic: { id: input.topic, consent: row.topicConsent.email?.[input.topic] } } : {}),
    });
    if (!decision.deliver) return skip(decision.skip);

    const uncertain = existing?.status === 'sending';
    if (uncertain) {
      activityLog('warn', 'resending an email whose earlier attempt has an unknown outcome (same Message-ID)', { key });
    }
    const reserved = fast
      ? fast.claimedId
      : await stmt.reserve({ key, contactId: input.contactId, journeyId: input.journeyId, workflowId: input.workflowId, stepId: input.stepId, recipient: row.email, template: input.template });
    if (reserved === undefined) {
      // Another attempt finished this send between our look-up and the claim: answer what it recorded, send nothing.
      const done = await findMessageByKey(db, key);
      const again = finished(done);
      if (again) return again;
      throw new Error(`email ${key}: reservation refused in status ${done?.status ?? '(none)'}`);
    }

    let message;
    try {
      message = renderMessage(input, row);
    } catch (err) {
      // Nothing reached the server: the retry is not uncertain (unless an earlier attempt already was).
      if (!uncertain) await setStatus(key, { status: 'reserved' }).catch(() => undefined);
      throw err;
    }
    const { tracked, subject } = message;
    const html = tracked.webHtml && tracked.webHtml.length <= MAX_HOSTED_HTML_CHARS ? tracked.webHtml : null;

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
            .set({ status: 'bounced', subject, error: storableText(smtp.message), updatedAt: sql`now()` })
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
    await recordSent(stmt, { key, providerMessageId: result.messageId, subject, html });
    return { status: 'sent', messageId: result.messageId, duplicate: false };
  }

  /** The message as this contact receives it: the template rendered in their language, links signed and tracked. */
  function renderMessage(input: SendEmailInput, row: ContactRow) {
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
    return { tracked, subject };
  }
}
