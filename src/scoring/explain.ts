/**
 * "Which rules produced today's score": the contact's score broken down by the `score_events` rows behind it.
 */
import { eq, sql } from 'drizzle-orm';
import type { DbOrTx } from '../db/client';
import { contacts, scoreEvents } from '../db/schema';
import { NotFoundError } from '../errors';
import { sortedThresholds } from './engine';
import type { ScoringModel } from './model';

export type BreakdownLine = {
  /** Rule id; for journey/manual rows without one, their reason. */
  rule: string;
  /** rule | fit | decay | journey | manual | unrecorded */
  source: string;
  points: number;
  count: number;
  lastAt: Date | null;
};

export type ThresholdStatus = { id: string; at: number; lifecycleStage?: string; emit?: string };

export type ScoreExplanation = {
  contactId: string;
  score: number;
  /** Largest contribution first; the points always sum to `score`. */
  breakdown: BreakdownLine[];
  fit: number;
  /** Event rules (behaviour and event penalties), before decay. */
  behaviour: number;
  /** Negative or 0. */
  decay: number;
  /** Journey and manual changes, and any score not backed by rows. */
  other: number;
  thresholds: { next: (ThresholdStatus & { pointsToGo: number }) | null; reached: ThresholdStatus[] };
};

/**
 * A score set without a `score_events` row (an import, a direct update) appears as one `unrecorded` line, so the
 * breakdown still sums to the score and the gap is visible rather than hidden.
 */
export async function explainScore(db: DbOrTx, model: ScoringModel, contactId: string): Promise<ScoreExplanation> {
  const [contact] = await db.select({ id: contacts.id, score: contacts.score }).from(contacts).where(eq(contacts.id, contactId));
  if (!contact) throw new NotFoundError('contact', contactId);
  const label = sql<string>`coalesce(${scoreEvents.rule}, ${scoreEvents.reason})`;
  const rows = await db
    .select({
      rule: label,
      source: scoreEvents.source,
      points: sql<number>`sum(${scoreEvents.delta})`.mapWith(Number),
      count: sql<number>`count(*)`.mapWith(Number),
      lastAt: sql<Date>`max(${scoreEvents.createdAt})`.mapWith(scoreEvents.createdAt),
    })
    .from(scoreEvents)
    .where(eq(scoreEvents.contactId, contactId))
    .groupBy(scoreEvents.source, label);
  // Net-zero lines stay (fit +20 then -20 on a job change): the count still explains the history.
  const breakdown: BreakdownLine[] = [...rows];
  const recorded = breakdown.reduce((s, r) => s + r.points, 0);
  if (recorded !== contact.score) {
    breakdown.push({ rule: 'unrecorded', source: 'unrecorded', points: contact.score - recorded, count: 0, lastAt: null });
  }
  breakdown.sort((a, b) => b.points - a.points || a.source.localeCompare(b.source) || a.rule.localeCompare(b.rule));
  const by = (source: string) => breakdown.filter((r) => r.source === source).reduce((s, r) => s + r.points, 0);
  const fit = by('fit');
  const behaviour = by('rule');
  const decay = by('decay');
  const status = ([id, t]: ReturnType<typeof sortedThresholds>[number]): ThresholdStatus => ({
    id,
    at: t.at,
    ...(t.lifecycle_stage ? { lifecycleStage: t.lifecycle_stage } : {}),
    ...(t.emit ? { emit: t.emit } : {}),
  });
  const all = sortedThresholds(model);
  const nextT = all.find(([, t]) => t.at > contact.score);
  return {
    contactId,
    score: contact.score,
    breakdown,
    fit,
    behaviour,
    decay,
    other: contact.score - fit - behaviour - decay,
    thresholds: {
      next: nextT ? { ...status(nextT), pointsToGo: nextT[1].at - contact.score } : null,
      reached: all.filter(([, t]) => t.at <= contact.score).map(status),
    },
  };
}
