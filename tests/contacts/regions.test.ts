/**
 * Rules compare folded values (issue 15, item 9): contacts store folded regions (`北京市` → `CN-BJ`), and the journey
 * compiler and the scoring model fold the region values their rules compare with the same function, so the samples
 * still do what their comments say. Contacts are written through the real pipeline into real Postgres.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { and, eq } from 'drizzle-orm';
import { compileJourney } from '../../src/journey/compiler';
import { evaluate } from '../../src/journey/conditions';
import type { JourneyPlan, PlanCondition } from '../../src/journey/plan';
import { toJourneyContact } from '../../src/db/contact-view';
import { scoreEvents } from '../../src/db/schema';
import { upsertContact } from '../../src/contacts/upsert';
import { MACRO_REGIONS, normalizeRegion, regionRuleValues } from '../../src/contacts/regions';
import { loadScoringModel, type ScoringModel } from '../../src/scoring/model';
import { SCORING_MODEL_FILE } from '../../src/paths';
import { createTestDatabase } from '../helpers/db';

const JOURNEYS_DIR = path.join(import.meta.dirname, '../../journeys');

function plan(source: string): JourneyPlan {
  const r = compileJourney(source);
  if (!r.ok) throw new Error(r.errors.map((e) => `${e.path}: ${e.message}`).join('\n'));
  return r.plan;
}

describe('region folding', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let scoring: ScoringModel;
  beforeAll(async () => {
    db = await createTestDatabase();
    scoring = await loadScoringModel(SCORING_MODEL_FILE);
  });
  afterAll(async () => {
    await db?.drop();
  });
  const write = async (externalId: string, region: string) =>
    (await upsertContact({ db: db.db, scoring }, externalId, { region }, { source: 'api', key: `k-${externalId}`, actor: 'test' })).contact;

  it('folds provinces, macro-regions and China the way the rule values need', () => {
    expect(normalizeRegion('北京市')).toBe('CN-BJ');
    expect(normalizeRegion('East China')).toBe('华东');
    expect(normalizeRegion('华东地区')).toBe('华东');
    expect(normalizeRegion('North China')).toBe('华北');
    expect(normalizeRegion('east')).toBe('east'); // a coarse CRM value is kept as written
    expect(regionRuleValues('北京')).toEqual(['CN-BJ']);
    expect(regionRuleValues('华东')).toEqual(['华东', 'CN-SH', 'CN-JS', 'CN-ZJ', 'CN-AH', 'CN-FJ', 'CN-JX', 'CN-SD']);
    expect(regionRuleValues('CN')).toContain('CN-GD');
    expect(regionRuleValues('east')).toEqual(['east']);
    // Every province of a macro-region is a real province code.
    for (const m of MACRO_REGIONS) for (const p of m.provinces) expect(normalizeRegion(p)).toBe(p);
  });

  it('a rule written region in [北京, 华东] matches contacts written 北京市 and 浙江省, through the compiled plan', async () => {
    const p = plan(`
id: region-rule
name: region rule
triggers: [{ type: audience, filter: { field: region, in: [北京, 华东] } }]
start: done
steps:
  done: { type: exit, reason: done }
`);
    const filter = (p.triggers[0] as { filter: PlanCondition }).filter;
    const matches = async (externalId: string, region: string) =>
      evaluate(filter, { contact: toJourneyContact(await write(externalId, region)), now: Date.now(), events: [] } as never);
    expect(await matches('r-bj', '北京市')).toBe(true);
    expect(await matches('r-zj', '浙江省')).toBe(true);
    expect(await matches('r-sh', 'Shanghai')).toBe(true);
    expect(await matches('r-gd', '广东')).toBe(false);
    expect(await matches('r-sg', 'Singapore')).toBe(false);
  });

  it('eq and neq on a macro-region cover its provinces', () => {
    const p = plan(`
id: region-eq
name: region eq
triggers: [{ type: audience, filter: { all: [{ field: region, eq: 华南 }, { field: region, neq: 广东 }] } }]
start: done
steps:
  done: { type: exit, reason: done }
`);
    const filter = (p.triggers[0] as { filter: PlanCondition }).filter;
    const test = (region: string) => evaluate(filter, { contact: { id: 'x', region, tags: [], attributes: {}, score: 0 }, now: 0, events: [] } as never);
    expect(test('CN-GX')).toBe(true);
    expect(test('CN-GD')).toBe(false);
    expect(test('CN-SH')).toBe(false);
  });

  it("mql-handoff's territory rules pick sales-east for a contact written 上海市, sales-north for 北京, the fallback elsewhere", async () => {
    const p = plan(readFileSync(path.join(JOURNEYS_DIR, 'mql-handoff.yaml'), 'utf8'));
    const step = p.steps['assign-rep'] as unknown as { assignment: { rules: { when: PlanCondition; team?: string }[]; fallbackTeam: string } };
    const team = async (externalId: string, region: string) => {
      const contact = toJourneyContact(await write(externalId, region));
      return step.assignment.rules.find((r) => evaluate(r.when, { contact, now: Date.now(), events: [] } as never))?.team ?? step.assignment.fallbackTeam;
    };
    expect(await team('h-sh', '上海市')).toBe('sales-east');
    expect(await team('h-east', 'east')).toBe('sales-east');
    expect(await team('h-bj', '北京')).toBe('sales-north');
    expect(await team('h-gd', 'Guangdong')).toBe('sales-south');
    expect(await team('h-xj', '新疆')).toBe('sales-inside');
  });

  it("scoring's target-region fit rule gives its points to a contact in China written 上海市 or 香港, not to one elsewhere", async () => {
    const points = async (externalId: string, region: string) => {
      const c = await write(externalId, region);
      const rows = await db.db.select().from(scoreEvents).where(and(eq(scoreEvents.contactId, c.id), eq(scoreEvents.rule, 'target-region')));
      return rows.reduce((s, r) => s + r.delta, 0);
    };
    expect(await points('s-sh', '上海市')).toBe(5);
    expect(await points('s-hk', '香港')).toBe(5);
    expect(await points('s-sg', 'SG')).toBe(5);
    expect(await points('s-us', 'California')).toBe(0);
  });
});
