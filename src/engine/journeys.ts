import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { and, desc, eq, inArray } from 'drizzle-orm';
import type { Db } from '../db/client';
import { journeys, journeyVersions } from '../db/schema';
import { NotFoundError, ValidationError } from '../errors';
import { compileJourney, formatError } from '../journey/compiler';
import type { JourneyPlan } from '../journey/plan';
import type { TemplateCatalog } from '../journey/templates';
import { contentHash } from '../journey/versions';
import type { EventTrigger, TriggerSource } from './router';

export type PublishResult = { journeyId: string; version: number; contentHash: string; created: boolean };

/**
 * Compiles and publishes a journey. A new, immutable, numbered version is written only when the compiled plan's
 * content hash is new; publishing identical content returns the existing version.
 */
export async function publishJourney(
  db: Db,
  source: string,
  opts: { file?: string; templates?: TemplateCatalog; publishedBy?: string },
): Promise<PublishResult> {
  const compiled = compileJourney(source, { file: opts.file, templates: opts.templates });
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
      .onConflictDoUpdate({ target: journeys.id, set: { name: plan.name, draftSource: source } });
    // Lock the journey row so two concurrent publishes cannot pick the same version number.
    const [j] = await tx.select().from(journeys).where(eq(journeys.id, plan.id)).for('update');
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
    out.push(await publishJourney(db, readFileSync(file, 'utf8'), { file: path.relative(process.cwd(), file), templates, publishedBy: 'startup' }));
  }
  return out;
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

/** Triggers of the latest version of every active journey; new entries always start on the latest version. */
export function dbTriggerSource(db: Db): TriggerSource {
  return {
    async triggersFor(eventType) {
      const rows = await db
        .select({ id: journeys.id, version: journeys.latestVersion, plan: journeyVersions.plan })
        .from(journeys)
        .innerJoin(journeyVersions, and(eq(journeyVersions.journeyId, journeys.id), eq(journeyVersions.version, journeys.latestVersion)))
        .where(inArray(journeys.status, ['active']))
        .orderBy(desc(journeys.id));
      const out: EventTrigger[] = [];
      for (const r of rows) {
        const plan = r.plan as unknown as JourneyPlan;
        for (const t of plan.triggers) {
          if (t.type === 'event' && t.event === eventType) out.push({ journeyId: r.id, version: r.version!, eventType, where: t.where, entry: plan.entry });
        }
      }
      return out;
    },
  };
}
