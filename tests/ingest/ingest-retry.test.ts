import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@temporalio/client';
import { eq } from 'drizzle-orm';
import { contacts, events } from '../../src/db/schema';
import { ingestEvent } from '../../src/ingest/event';
import type { EventTrigger, TriggerSource } from '../../src/ingest/router';
import { createTestDatabase } from '../helpers/db';

// Found by the chaos suite: while Temporal was down the API stored an event, failed to route it and answered 500; the
// CRM's retry of the same id was then reported a duplicate and never routed, so that contact never entered the journey.
describe('an event whose routing fails', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('stays unrouted, so the sender’s retry of the same id is routed instead of dropped as a duplicate', async () => {
    const [contact] = await db.db.insert(contacts).values({ externalId: 'ing-1', email: 'ing-1@example.test' }).returning();
    let routingUp = false;
    const asked: string[] = [];
    const triggers: TriggerSource = {
      async triggersFor(type): Promise<EventTrigger[]> {
        asked.push(type);
        if (!routingUp) throw new Error('14 UNAVAILABLE: connection refused');
        return [];
      },
    };
    const deps = { db: db.db, router: { temporal: undefined as unknown as Client, taskQueue: 'unused', triggers } };
    const event = { id: 'evt-ing-1', type: 'lead.created', contactId: contact!.id, properties: {}, occurredAt: new Date(), source: 'api' };

    await expect(ingestEvent(deps, event)).rejects.toThrow(/UNAVAILABLE/);
    const [stored] = await db.db.select().from(events).where(eq(events.id, 'evt-ing-1'));
    expect(stored!.routedAt).toBeNull();

    routingUp = true;
    await expect(ingestEvent(deps, event)).resolves.toMatchObject({ id: 'evt-ing-1', duplicate: false });
    expect(asked).toEqual(['lead.created', 'lead.created']);
    const [routed] = await db.db.select().from(events).where(eq(events.id, 'evt-ing-1'));
    expect(routed!.routedAt).toBeInstanceOf(Date);
    // Routed once, it is a duplicate from now on.
    await expect(ingestEvent(deps, event)).resolves.toMatchObject({ duplicate: true, runs: [] });
    expect(asked).toHaveLength(2);
  });
});
