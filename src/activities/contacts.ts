import { ApplicationFailure } from '@temporalio/activity';
import { eq, sql } from 'drizzle-orm';
import { INT32_MAX, INT32_MIN } from '../bounds';
import type { DbOrTx } from '../db/client';
import { contactAudit, contacts, conversions, scoreEvents } from '../db/schema';
import type { Activities, ContactActionInput as Keyed, ContactActionResult } from '../contracts';
import { LIFECYCLE_ORDER } from '../journey/schema';
import type { ActivityDeps } from './deps';
import { recordContactChange } from '../contacts/changes';
import { routeStoredEvents } from '../contacts/outbox';
import type { IncomingEvent } from '../ingest/event';

/**
 * Built-in contact fields a set_attribute step may write, journey name → column (the compiler refuses the others:
 * id, created_at, email, phone, score, tags, lifecycle_stage have their own paths).
 */
const CONTACT_COLUMNS: Record<string, 'firstName' | 'lastName' | 'company' | 'jobTitle' | 'industry' | 'region' | 'timezone' | 'locale' | 'ownerId'> = {
  first_name: 'firstName',
  last_name: 'lastName',
  company: 'company',
  job_title: 'jobTitle',
  industry: 'industry',
  region: 'region',
  timezone: 'timezone',
  locale: 'locale',
  owner_id: 'ownerId',
};

/** The change a step made, as `contact.updated` (source `journey`, keyed by the step's idempotency key). */
async function recordStepChange(tx: DbOrTx, input: Keyed, before: typeof contacts.$inferSelect): Promise<IncomingEvent[]> {
  const [after] = await tx.select().from(contacts).where(eq(contacts.id, before.id));
  if (!after) return [];
  const { events } = await recordContactChange(tx, { before, after, source: 'journey', key: input.idempotencyKey, workflowId: input.workflowId });
  return events;
}

/**
 * Runs `change` and its audit row in one transaction, under a row lock on the contact. The audit row's unique
 * idempotency key makes the whole change happen once: a retry finds the key and changes nothing. The change's
 * `contact.updated` is stored in the same transaction and routed after it.
 */
async function onceWithAudit(
  deps: Pick<ActivityDeps, 'db' | 'ingest'>,
  input: Keyed & { action: string; detail: Record<string, unknown> },
  change: (tx: DbOrTx, contact: typeof contacts.$inferSelect) => Promise<Record<string, unknown> | void>,
): Promise<ContactActionResult> {
  let stored: IncomingEvent[] = [];
  const result = await deps.db.transaction(async (tx) => {
    const [contact] = await tx.select().from(contacts).where(eq(contacts.id, input.contactId)).for('update');
    if (!contact) throw ApplicationFailure.nonRetryable(`contact ${input.contactId} does not exist`, 'ContactNotFound');
    const inserted = await tx
      .insert(contactAudit)
      .values({ idempotencyKey: input.idempotencyKey, contactId: input.contactId, action: input.action, detail: input.detail, actor: input.actor })
      .onConflictDoNothing({ target: contactAudit.idempotencyKey })
      .returning({ id: contactAudit.id });
    if (inserted.length === 0) return { applied: false, duplicate: true };
    const extra = await change(tx, contact);
    if (extra) await tx.update(contactAudit).set({ detail: { ...input.detail, ...extra } }).where(eq(contactAudit.id, inserted[0]!.id));
    stored = await recordStepChange(tx, input, contact);
    return { applied: true, duplicate: false };
  });
  await routeStoredEvents(deps.ingest, stored);
  return result;
}

export function contactActivities(deps: ActivityDeps): Pick<Activities, 'tagContact' | 'untagContact' | 'setContactAttribute' | 'setLifecycleStage' | 'updateScore' | 'recordConversion'> {
  const { db } = deps;
  return {
    async tagContact(input: Keyed & { tags: string[] }): Promise<ContactActionResult> {
      return onceWithAudit(deps, { ...input, action: 'tag', detail: { tags: input.tags } }, async (tx, c) => {
        const next = [...new Set([...c.tags, ...input.tags])];
        await tx.update(contacts).set({ tags: next, updatedAt: sql`now()` }).where(eq(contacts.id, c.id));
      });
    },

    async untagContact(input: Keyed & { tags: string[] }): Promise<ContactActionResult> {
      return onceWithAudit(deps, { ...input, action: 'untag', detail: { tags: input.tags } }, async (tx, c) => {
        const drop = new Set(input.tags);
        await tx.update(contacts).set({ tags: c.tags.filter((t) => !drop.has(t)), updatedAt: sql`now()` }).where(eq(contacts.id, c.id));
      });
    },

    async setContactAttribute(input: Keyed & { name: string; field?: string; value: unknown }): Promise<ContactActionResult> {
      // `field` is the step's contact path; runs scheduled before it existed send only the attribute `name`.
      const column = input.field !== undefined && !input.field.startsWith('attributes.') ? CONTACT_COLUMNS[input.field] : undefined;
      if (input.field !== undefined && !input.field.startsWith('attributes.') && input.field !== 'country' && column === undefined) {
        throw ApplicationFailure.nonRetryable(`a journey cannot set the contact field ${JSON.stringify(input.field)}`, 'FieldNotWritable');
      }
      // `country` is kept in attributes (contacts have no column for it); journeys read it as `country`.
      const name = input.field === 'country' ? 'country' : input.name;
      return onceWithAudit(deps, { ...input, action: 'set_attribute', detail: { name: input.field ?? name, value: input.value } }, async (tx, c) => {
        if (column !== undefined) {
          await tx.update(contacts).set({ [column]: input.value, updatedAt: sql`now()` }).where(eq(contacts.id, c.id));
          return { previous: (c as Record<string, unknown>)[column] ?? null };
        }
        await tx
          .update(contacts)
          .set({ attributes: { ...c.attributes, [name]: input.value }, updatedAt: sql`now()` })
          .where(eq(contacts.id, c.id));
        return { previous: c.attributes[name] ?? null };
      });
    },

    /** Moves the lifecycle stage; `forwardOnly` keeps a customer from being demoted to MQL by a nurture journey. */
    async setLifecycleStage(input: Keyed & { stage: string; forwardOnly?: boolean }): Promise<ContactActionResult & { stage: string }> {
      let stage = input.stage;
      const r = await onceWithAudit(deps, { ...input, action: 'set_lifecycle_stage', detail: { stage: input.stage } }, async (tx, c) => {
        const from = LIFECYCLE_ORDER.indexOf(c.lifecycleStage as (typeof LIFECYCLE_ORDER)[number]);
        const to = LIFECYCLE_ORDER.indexOf(input.stage as (typeof LIFECYCLE_ORDER)[number]);
        if (input.forwardOnly && from > to) {
          stage = c.lifecycleStage;
          return { previous: c.lifecycleStage, skipped: 'would move backwards' };
        }
        await tx.update(contacts).set({ lifecycleStage: input.stage, updatedAt: sql`now()` }).where(eq(contacts.id, c.id));
        return { previous: c.lifecycleStage };
      });
      return { ...r, stage };
    },

    async updateScore(input: Keyed & { delta: number; reason: string }): Promise<ContactActionResult & { score?: number }> {
      let stored: IncomingEvent[] = [];
      const result = await db.transaction(async (tx) => {
        const [c] = await tx.select().from(contacts).where(eq(contacts.id, input.contactId)).for('update');
        if (!c) throw ApplicationFailure.nonRetryable(`contact ${input.contactId} does not exist`, 'ContactNotFound');
        // The score column is 32-bit: it saturates there (the recorded delta is what was applied) rather than failing
        // the write on every retry.
        const score = Math.min(INT32_MAX, Math.max(INT32_MIN, c.score + input.delta));
        const inserted = await tx
          .insert(scoreEvents)
          .values({
            idempotencyKey: input.idempotencyKey,
            contactId: c.id,
            delta: score - c.score,
            scoreAfter: score,
            reason: input.reason,
            source: 'journey',
            rule: input.actor,
          })
          .onConflictDoNothing({ target: scoreEvents.idempotencyKey })
          .returning({ id: scoreEvents.id });
        if (inserted.length === 0) return { applied: false, duplicate: true, score: c.score };
        await tx.update(contacts).set({ score, updatedAt: sql`now()` }).where(eq(contacts.id, c.id));
        stored = await recordStepChange(tx, input, c);
        return { applied: true, duplicate: false, score };
      });
      await routeStoredEvents(deps.ingest, stored);
      return result;
    },

    async recordConversion(input: {
      idempotencyKey: string;
      journeyId: string;
      version: number;
      contactId: string;
      goal: string;
      value?: number;
    }): Promise<{ recorded: boolean }> {
      const rows = await db
        .insert(conversions)
        .values({
          idempotencyKey: input.idempotencyKey,
          journeyId: input.journeyId,
          version: input.version,
          contactId: input.contactId,
          goal: input.goal,
          value: input.value === undefined ? null : String(input.value),
        })
        .onConflictDoNothing({ target: conversions.idempotencyKey })
        .returning({ id: conversions.id });
      return { recorded: rows.length === 1 };
    },
  };
}
