import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { eq } from 'drizzle-orm';
import { buildApp } from '../../src/api/app';
import { applyTracking, resolveClick, resolveUnsubscribe } from '../../src/channels/email/tracking';
import { contacts, events, suppressions } from '../../src/db/schema';
import { dbTriggerSource } from '../../src/publishing/journeys';
import { createTestDatabase } from '../helpers/db';
import { connectTestTemporal, type TestTemporal } from '../helpers/temporal';
import { ALPHABET, everySubstitution } from '../helpers/tokens';

const SECRETS = ['tracking-tokens-secret-0123456789abcdef'];

/** Real click and unsubscribe tokens, as a marketing email carries them. */
function realTokens(contactId: string) {
  const tracked = applyTracking(
    { html: '<html><body><a href="https://shop.example.com/sale">Sale</a></body></html>', text: 'Sale' },
    { baseUrl: 'http://itinera.test', secrets: SECRETS, messageKey: `journey:j:${contactId}:send`, contactId, kind: 'marketing', physicalAddress: 'ACME Ltd · 1 Main St' },
  );
  const click = tracked.html.match(/href="http:\/\/itinera\.test\/t\/c\/([^"]+)"/)![1]!;
  const unsubscribe = tracked.unsubscribeUrl!.replace('http://itinera.test/u/', '');
  return { click, unsubscribe };
}

/** The token with its signature's last character replaced by one that decodes to the same bytes (the old bug). */
function sameBytesVariants(token: string): string[] {
  const last = ALPHABET.indexOf(token.at(-1)!);
  return [1, 2, 3].map((x) => token.slice(0, -1) + ALPHABET[last ^ x]);
}

describe('a modified click or unsubscribe token is refused', () => {
  it('every one-character change of a real click or unsubscribe token fails to resolve', () => {
    const { click, unsubscribe } = realTokens('3f8e1c9a-0000-4000-8000-000000000001');
    expect(resolveClick(SECRETS, click).ok).toBe(true);
    expect(resolveUnsubscribe(SECRETS, unsubscribe).ok).toBe(true);
    for (const t of everySubstitution(click)) expect(resolveClick(SECRETS, t).ok, t).toBe(false);
    for (const t of everySubstitution(unsubscribe)) expect(resolveUnsubscribe(SECRETS, t).ok, t).toBe(false);
  });

  describe('through the HTTP endpoints', () => {
    let db: Awaited<ReturnType<typeof createTestDatabase>>;
    let temporal: TestTemporal;
    let app: ReturnType<typeof buildApp>;
    let contactId: string;

    beforeAll(async () => {
      [db, temporal] = await Promise.all([createTestDatabase(), connectTestTemporal()]);
      app = buildApp({ database: db, temporal: temporal.client, taskQueue: temporal.taskQueue, triggers: dbTriggerSource(db.db), signingSecrets: SECRETS });
      const [row] = await db.db.insert(contacts).values({ email: 'li.na@example.cn', consent: { email: 'opted_in' } }).returning();
      contactId = row!.id;
    });
    afterAll(async () => {
      await temporal?.close();
      await db?.drop();
    });

    it('a tampered click token answers 400 and redirects nowhere; the genuine one redirects', async () => {
      const { click } = realTokens(contactId);
      const sigStart = click.indexOf('.') + 1;
      const payloadChange = click.slice(0, 5) + (click[5] === 'A' ? 'B' : 'A') + click.slice(6);
      const sigChange = click.slice(0, sigStart) + (click[sigStart] === 'A' ? 'B' : 'A') + click.slice(sigStart + 1);
      for (const forged of [...sameBytesVariants(click), payloadChange, sigChange]) {
        const res = await request(app).get(`/t/c/${forged}`).expect(400);
        expect(res.headers.location, forged).toBeUndefined();
      }
      expect(await db.db.select().from(events).where(eq(events.contactId, contactId))).toHaveLength(0);
      const ok = await request(app).get(`/t/c/${click}`).expect(302);
      expect(ok.headers.location).toBe('https://shop.example.com/sale');
    });

    it('a tampered unsubscribe POST opts nobody out; the genuine one does', async () => {
      const { unsubscribe } = realTokens(contactId);
      const payloadChange = unsubscribe.slice(0, 7) + (unsubscribe[7] === 'A' ? 'B' : 'A') + unsubscribe.slice(8);
      for (const forged of [...sameBytesVariants(unsubscribe), payloadChange]) {
        await request(app).post(`/u/${forged}`).type('form').send('List-Unsubscribe=One-Click').expect(400);
        await request(app).get(`/u/${forged}`).expect(400);
      }
      const [still] = await db.db.select().from(contacts).where(eq(contacts.id, contactId));
      expect(still!.consent.email).toBe('opted_in');
      expect(await db.db.select().from(suppressions)).toHaveLength(0);

      await request(app).post(`/u/${unsubscribe}`).type('form').send('List-Unsubscribe=One-Click').expect(200);
      const [after] = await db.db.select().from(contacts).where(eq(contacts.id, contactId));
      expect(after!.consent.email).toBe('opted_out');
    });
  });
});
