import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { randomUUID } from 'node:crypto';
import { armActivities } from '../../src/activities/arms';
import type { ActivityDeps } from '../../src/activities/deps';
import { runArms } from '../../src/db/schema';
import { createTestDatabase } from '../helpers/db';

describe('recordArm', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.drop();
  });

  it('records a run’s arm once per split: a retry or a loop back changes nothing; a re-entry is a new run', async () => {
    const acts = armActivities({ db: db.db } as ActivityDeps);
    const arm = { workflowId: 'journey:j:c', runId: 'r1', journeyId: 'j', version: 1, contactId: randomUUID(), splitId: 'ab', arm: 'control', holdout: true, stepSeq: 3 };
    expect(await acts.recordArm(arm)).toEqual({ recorded: true });
    const [first] = await db.db.select().from(runArms).where(eq(runArms.workflowId, arm.workflowId));
    expect(await acts.recordArm({ ...arm, stepSeq: 9 })).toEqual({ recorded: false });
    expect(await acts.recordArm({ ...arm, splitId: 'second', arm: 'x', holdout: false })).toEqual({ recorded: true });
    expect(await acts.recordArm({ ...arm, runId: 'r2' })).toEqual({ recorded: true });
    const rows = await db.db.select().from(runArms).where(eq(runArms.workflowId, arm.workflowId));
    expect(rows.map((r) => [r.runId, r.splitId, r.arm, r.holdout, r.stepSeq]).sort()).toEqual([
      ['r1', 'ab', 'control', true, 3],
      ['r1', 'second', 'x', false, 3],
      ['r2', 'ab', 'control', true, 3],
    ]);
    // The first write's time stays: conversions are judged against it.
    expect(rows.find((r) => r.runId === 'r1' && r.splitId === 'ab')!.assignedAt).toEqual(first!.assignedAt);
  });
});
