import type { Topics } from '../contacts/topics';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { and, desc, eq, inArray, isNotNull, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { journeys, journeyVersions } from '../db/schema';
import { batched } from '../db/batch';
import { DomainError, NotFoundError, ValidationError } from '../errors';
import { compileJourney, formatError } from '../journey/compiler';
import type { OutboundAllowList } from '../net/addresses';
import type { JourneyPlan, PlanCondition } from '../journey/plan';
import type { TemplateCatalog } from '../templates/catalog';
import { contentHash } from '../journey/versions';
import type { ContactTrigger, EventTrigger, TriggerSource } from '../ingest/router';

export type PublishResult = { journeyId: string; version: number; contentHash: string; created: boolean };

/** Archiving retires a journey id for good: its runs, messages and stats keep pointing at it. */
export class JourneyArchivedError extends DomainError {
  constructor(journeyId: string) {
    super('journey_archived', 409, `Journey "${journeyId}" is archived: it cannot be edited, published, paused or resumed; publish the journey under a new id`);
  }
}

/**
 * Compiles and publishes a journey. A new, immutable, numbered version is written only when the compiled plan's
 * content hash is new; publishing identical content returns the existing version.
 */
export async function publishJourney(
  db: Db,
  source: string,
  /** `timeScale`: test-only, see CompileOptions.timeScale (the differential suite publishes scaled plans). */
  opts: { file?: string; templates?: TemplateCatalog; publishedBy?: string; outboundAllow?: OutboundAllowList; topics?: Topics; timeScale?: number },
): Promise<PublishResult> {
  const compiled = compileJourney(source, { file: opts.file, templates: opts.templates, outboundAllow: opts.outboundAllow, ...(opts.topics ? { topics: opts.topics } : {}), ...(opts.timeScale !== undefined ? { timeScale: opts.timeScale } : {}) });
  if (!compiled.ok) {
    throw new ValidationError(
      `The journey is invalid:\n${compiled.errors.map(formatError).join('\n')}`,
      compiled.errors.map((e) => ({ path: e.path, message: e.message })),
    );
  }
  const plan = compiled.plan;
  const hash = contentHash(plan);
  return db.transaction(async (tx) => {
    await tx
      .insert(journeys)
      .values({ id: plan.id, name: plan.name, status: 'active', draftSource: source })
      // A draft goes live with its first version; a paused journey stays paused (resuming is a separate decision).
      .onConflictDoUpdate({
        target: journeys.id,
        set: { name: plan.name, draftSource: source, status: sql`case when ${journeys.status} = 'draft' then 'active' else ${journeys.status} end`, updatedAt: sql`now()` },
      });
    // Lock the journey row so two concurrent publishes cannot pick the same version number.
    const [j] = await tx.select().from(journeys).where(eq(journeys.id, plan.id)).for('update');
    // Throwing rolls back the upsert above, so an archived journey keeps its last draft too.
    if (j?.status === 'archived') throw new JourneyArchivedError(plan.id);
    const [same] = await tx
      .select({ version: journeyVersions.version })
      .from(journeyVersions)
      .where(and(eq(journeyVersions.journeyId, plan.id), eq(journeyVersions.contentHash, hash)));
    if (same) return { journeyId: plan.id, version: same.version, contentHash: hash, created: false };
    const version = (j?.latestVersion ?? 0) + 1;
    await tx.insert(journeyVersions).values({
      journeyId: plan.id,
      version,
      contentHash: hash,
      source,
      plan: plan as unknown as Record<string, unknown>,
      publishedBy: opts.publishedBy ?? null,
    });
    await tx.update(journeys).set({ latestVersion: version }).where(eq(journeys.id, plan.id));
    return { journeyId: plan.id, version, contentHash: hash, created: true };
  });
}

/** Publishes every journey YAML in a directory (scoring.yaml is the scoring model, not a journey). */
export async function publishJourneyDir(db: Db, dir: string, templates?: TemplateCatalog): Promise<PublishResult[]> {
  const files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f) && f !== 'scoring.yaml').sort();
  const out: PublishResult[] = [];
  for (const f of files) {
    const file = path.join(dir, f);
    try {
      out.push(await publishJourney(db, readFileSync(file, 'utf8'), { file: path.relative(process.cwd(), file), templates, publishedBy: 'startup' }));
    } catch (err) {
      // A journey archived through the API stays archived even while its file is still in journeys/.
      if (!(err instanceof JourneyArchivedError)) throw err;
    }
  }
  return out;
}

export type JourneyStatus = 'draft' | 'active' | 'paused' | 'archived';
export type StatusAction = 'pause' | 'resume' | 'archive';

const TRANSITIONS: Record<StatusAction, { from: JourneyStatus[]; to: JourneyStatus }> = {
  pause: { from: ['active'], to: 'paused' },
  resume: { from: ['paused'], to: 'active' },
  archive: { from: ['draft', 'active', 'paused'], to: 'archived' },
};

/**
 * Pauses, resumes or archives a journey. Only `active` journeys start runs (see {@link dbTriggerSource}); runs already
 * in flight are not touched and finish on their pinned version. Repeating the current state is a no-op
 * (`changed: false`) so a retried request succeeds; any other move not in the table is a 409.
 */
export async function setJourneyStatus(
  db: Db,
  journeyId: string,
  action: StatusAction,
): Promise<{ journeyId: string; status: JourneyStatus; previous: JourneyStatus; changed: boolean }> {
  const { from, to } = TRANSITIONS[action];
  return db.transaction(async (tx) => {
    const [j] = await tx.select({ status: journeys.status }).from(journeys).where(eq(journeys.id, journeyId)).for('update');
    if (!j) throw new NotFoundError('Journey', journeyId);
    const previous = j.status as JourneyStatus;
    if (previous === to) return { journeyId, status: to, previous, changed: false };
    if (previous === 'archived') throw new JourneyArchivedError(journeyId);
    if (!from.includes(previous)) {
      const why = previous === 'draft' ? 'it has never been published (publish it to make it active)' : `it is ${previous}`;
      throw new DomainError('invalid_transition', 409, `Journey "${journeyId}" cannot ${action}: ${why}`);
    }
    await tx.update(journeys).set({ status: to, updatedAt: sql`now()` }).where(eq(journeys.id, journeyId));
    return { journeyId, status: to, previous, changed: true };
  });
}

/** A published version's plan; versions are immutable, so a run may load it again at any time. */
export async function loadPlan(db: Db, journeyId: string, version: number): Promise<JourneyPlan> {
  const [row] = await db
    .select({ plan: journeyVersions.plan })
    .from(journeyVersions)
    .where(and(eq(journeyVersions.journeyId, journeyId), eq(journeyVersions.version, version)));
  if (!row) throw new NotFoundError('Journey version', `${journeyId}@${version}`);
  return row.plan as unknown as JourneyPlan;
}

/**
 * `loadPlan` that keeps what it read: versions are immutable, and thousands of runs (or launch pages) share a handful
 * of them. Failed reads are not kept. The cache is dropped whole past `max` entries.
 */
export function cachedPlanLoader(db: Db, max = 1000): (journeyId: string, version: number) => Promise<JourneyPlan> {
  const plans = new Map<string, Promise<JourneyPlan>>();
  return (journeyId, version) => {
    const key = `${journeyId}@${version}`;
    let plan = plans.get(key);
    if (!plan) {
      if (plans.size >= max) plans.clear();
      plan = loadPlan(db, journeyId, version);
      plans.set(key, plan);
      plan.catch(() => plans.delete(key));
    }
    return plan;
  };
}

/** The audience a journey declares for launches: its audience trigger's filter, else a schedule trigger's audience. */
export function declaredAudience(plan: JourneyPlan): PlanCondition | undefined {
  for (const t of plan.triggers) {
    if (t.type === 'audience') return t.filter;
    if (t.type === 'schedule' && t.audience) return t.audience;
  }
  return undefined;
}

/**
 * Triggers of the latest version of every active journey; new entries always start on the latest version. Drafts,
 * paused and archived journeys start nothing, while the router still signals their running runs.
 */
export function dbTriggerSource(db: Db): TriggerSource {
  // Which version is live is read every time (pause, resume and publish take effect at once, from any process); the
  // plans are immutable per version, so they are read once and kept with their event triggers indexed by type.
  const plan = cachedPlanLoader(db);
  const indexed = new Map<string, Promise<Map<string, EventTrigger[]>>>();
  const triggersOf = (journeyId: string, version: number) => {
    const key = `${journeyId}@${version}`;
    let index = indexed.get(key);
    if (!index) {
      if (indexed.size >= 1000) indexed.clear();
      index = plan(journeyId, version).then((p) => {
        const byType = new Map<string, EventTrigger[]>();
        for (const t of p.triggers) {
          if (t.type !== 'event') continue;
          const list = byType.get(t.event) ?? [];
          list.push({ journeyId, version, eventType: t.event, where: t.where, entry: p.entry, unknownContact: p.settings.unknownContact });
          byType.set(t.event, list);
        }
        return byType;
      });
      indexed.set(key, index);
      index.catch(() => indexed.delete(key));
    }
    return index;
  };
  // Change and audience triggers, kept per version like the event triggers.
  const contactIndexed = new Map<string, Promise<ContactTrigger[]>>();
  const contactTriggersOf = (journeyId: string, version: number) => {
    const key = `${journeyId}@${version}`;
    let list = contactIndexed.get(key);
    if (!list) {
      if (contactIndexed.size >= 1000) contactIndexed.clear();
      list = plan(journeyId, version).then((p) =>
        p.triggers.flatMap((t): ContactTrigger[] => (t.type === 'change' || t.type === 'audience' ? [{ journeyId, version, trigger: t, entry: p.entry }] : [])),
      );
      contactIndexed.set(key, list);
      list.catch(() => contactIndexed.delete(key));
    }
    return list;
  };
  // One read for the calls made together (the events of one burst): each still reads after it was called.
  const liveVersions = batched<null, { id: string; version: number | null }[]>(async (calls) => {
    const rows = await db
      .select({ id: journeys.id, version: journeys.latestVersion })
      .from(journeys)
      .where(and(inArray(journeys.status, ['active']), isNotNull(journeys.latestVersion)))
      .orderBy(desc(journeys.id));
    return calls.map(() => rows);
  });
  return {
    async triggersFor(eventType) {
      const live = await liveVersions(null);
      const out: EventTrigger[] = [];
      for (const r of live) out.push(...((await triggersOf(r.id, r.version!)).get(eventType) ?? []));
      return out;
    },
    async contactTriggers() {
      const out: ContactTrigger[] = [];
      for (const r of await liveVersions(null)) out.push(...(await contactTriggersOf(r.id, r.version!)));
      return out;
    },
  };
}
