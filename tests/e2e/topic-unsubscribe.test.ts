import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { and, eq } from 'drizzle-orm';
import { messageLinks } from '../../src/channels/email/tracking';
import { upsertContactByExternalId } from '../../src/db/queries';
import { contacts, events, suppressions } from '../../src/db/schema';
import { startTestStack, TEST_SECRETS, type TestStack } from '../helpers/stack';

const BASE = 'http://itinera.test';

/**
 * RFC 8058 one-click unsubscribe per topic: a message about a topic carries a List-Unsubscribe link signed for that
 * topic, and the receiver's one-click POST withdraws that topic only; the page offers all marketing email too; links
 * signed without a topic (every link sent before) still withdraw everything.
 */
describe('one-click unsubscribe per topic', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack();
  });
  afterAll(async () => {
    await stack?.stop();
  });

  let n = 0;
  const send = (contactId: string, topic: string | undefined) =>
    stack.activities.sendEmail({
      idempotencyKey: `topic-unsub-${++n}`, contactId, journeyId: 'topics', workflowId: `journey:topics:${contactId}`, stepId: `s${n}`,
      template: 'welcome', category: 'marketing', ...(topic ? { topic } : {}),
    });
  const oneClickOf = (raw: string) => {
    const head = raw.slice(0, raw.search(/\r?\n\r?\n/)).replace(/\r?\n[ \t]+/g, ' ');
    return head.match(/^List-Unsubscribe: .*?<http:\/\/itinera\.test(\/u\/[^>]+)>/im)![1]!;
  };
  const row = async (id: string) => (await stack.db.db.select().from(contacts).where(eq(contacts.id, id)))[0]!;
  const unsubscribed = async (id: string) => (await stack.db.db.select().from(events).where(and(eq(events.contactId, id), eq(events.type, 'contact.unsubscribed')))).map((e) => e.properties);

  it("the receiver's one-click POST withdraws the message's topic only; other topics still go; the page offers all", async () => {
    const id = (await upsertContactByExternalId(stack.db.db, { externalId: 'tu-1', email: 'tu-1@example.com', locale: 'zh-CN', consent: { email: 'opted_in' } })).id;
    expect(await send(id, 'newsletter')).toMatchObject({ status: 'sent' });
    const [mail] = await stack.smtp.waitFor(1);
    const link = oneClickOf(mail!.raw);

    // The page: this topic, or all marketing email — in the message's language.
    const pageHtml = (await request(stack.app).get(link).expect(200)).text;
    expect(pageHtml).toContain('不再接收我们的“新闻通讯”邮件？');
    expect(pageHtml).toContain('name="scope" value="all"');
    expect(pageHtml).toContain('退订全部营销邮件');

    const done = await request(stack.app).post(link).type('form').send('List-Unsubscribe=One-Click').expect(200);
    expect(done.text).toContain('您将不再收到我们的“新闻通讯”邮件');
    const after = await row(id);
    expect(after.topicConsent).toEqual({ email: { newsletter: 'opted_out' } });
    expect(after.consent.email).toBe('opted_in');
    expect(await stack.db.db.select().from(suppressions).where(eq(suppressions.address, 'tu-1@example.com'))).toHaveLength(0);
    expect(await unsubscribed(id)).toEqual([{ channel: 'email', topic: 'newsletter', source: 'unsubscribe_link' }]);

    // A receiver repeating the POST changes nothing more.
    await request(stack.app).post(link).type('form').send('List-Unsubscribe=One-Click').expect(200);
    expect(await unsubscribed(id)).toHaveLength(1);

    expect(await send(id, 'newsletter')).toMatchObject({ status: 'no_consent' });
    expect(await send(id, 'events')).toMatchObject({ status: 'sent' });
    expect(await send(id, undefined)).toMatchObject({ status: 'sent' });

    // "All marketing email" from the same link's page.
    await request(stack.app).post(link).type('form').send('scope=all').expect(200);
    expect((await row(id)).consent.email).toBe('opted_out');
    expect(await send(id, 'events')).toMatchObject({ status: 'no_consent' });
  });

  it('a link signed without a topic (as every link sent before) still withdraws all marketing email', async () => {
    const id = (await upsertContactByExternalId(stack.db.db, { externalId: 'tu-2', email: 'tu-2@example.com', consent: { email: 'opted_in' } })).id;
    const old = messageLinks({ baseUrl: BASE, secrets: TEST_SECRETS, messageKey: 'old-message', contactId: id, kind: 'marketing' }).unsubscribe!.slice(BASE.length);
    const pageHtml = (await request(stack.app).get(old).expect(200)).text;
    expect(pageHtml).not.toContain('name="scope"');
    await request(stack.app).post(old).type('form').send('List-Unsubscribe=One-Click').expect(200);
    expect((await row(id)).consent.email).toBe('opted_out');
    expect(await unsubscribed(id)).toEqual([expect.objectContaining({ channel: 'email', source: 'unsubscribe_link' })]);
  });
});
