import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { and, eq } from 'drizzle-orm';
import { messageLinks } from '../../src/channels/email/tracking';
import { upsertContactByExternalId } from '../../src/db/queries';
import { contactAudit, contacts, events, suppressions } from '../../src/db/schema';
import { signToken } from '../../src/channels/tokens';
import { startTestStack, TEST_SECRETS, type TestStack } from '../helpers/stack';

const BASE = 'http://itinera.test';
const local = (url: string) => url.slice(BASE.length);
const formToken = (html: string) => /name="form" value="([^"]+)"/.exec(html)![1]!;
const checked = (html: string) => [...html.matchAll(/name="topic" value="([^"]+)"( checked)?/g)].filter((m) => m[2]).map((m) => m[1]);

/**
 * The preference centre (signed page, CSRF-safe form) and the preferences API, against the real app, database and
 * send activity: a topic opt-out stores contact.unsubscribed with channel and topic, and marketing about that topic is
 * skipped while other topics and transactional mail still go.
 */
describe('topics and the preference centre', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack();
  });
  afterAll(async () => {
    await stack?.stop();
  });

  const contact = async (name: string, locale: string) =>
    (await upsertContactByExternalId(stack.db.db, { externalId: name, email: `${name}@example.com`, locale, consent: { email: 'opted_in', sms: 'opted_in' }, phone: '+8613800138000' })).id;
  const prefsLink = (contactId: string, language: 'zh' | 'en') =>
    local(messageLinks({ baseUrl: BASE, secrets: TEST_SECRETS, messageKey: `m-${contactId}`, contactId, kind: 'marketing', language }).preferences);
  let n = 0;
  const send = (contactId: string, topic: string | undefined, category: 'marketing' | 'transactional' = 'marketing') =>
    stack.activities.sendEmail({
      idempotencyKey: `pref-send-${++n}`, contactId, journeyId: 'prefs', workflowId: `journey:prefs:${contactId}`, stepId: `s${n}`,
      template: 'welcome', category, ...(topic ? { topic } : {}),
    });

  it('the page opts out of one topic: stored, audited, contact.unsubscribed (email, topic) emitted, that topic skipped', async () => {
    const id = await contact('pref-en', 'en');
    const link = prefsLink(id, 'en');
    const page = await request(stack.app).get(link).expect(200);
    expect(page.text).toContain('lang="en"');
    expect(page.text).toContain('Email preferences');
    expect(checked(page.text)).toEqual(['newsletter', 'product_updates', 'events']);

    const saved = await request(stack.app)
      .post(link)
      .type('form')
      .send(`form=${encodeURIComponent(formToken(page.text))}&action=save&topic=newsletter&topic=events`)
      .expect(200);
    expect(saved.text).toContain('Your preferences are saved.');
    expect(checked(saved.text)).toEqual(['newsletter', 'events']);

    const [row] = await stack.db.db.select().from(contacts).where(eq(contacts.id, id));
    expect(row!.topicConsent).toEqual({ email: { newsletter: 'opted_in', product_updates: 'opted_out', events: 'opted_in' } });
    expect(row!.consent.email).toBe('opted_in');
    const unsubscribed = await stack.db.db.select().from(events).where(and(eq(events.contactId, id), eq(events.type, 'contact.unsubscribed')));
    expect(unsubscribed.map((e) => e.properties)).toEqual([{ channel: 'email', topic: 'product_updates', source: 'preference_page' }]);
    const audit = await stack.db.db.select().from(contactAudit).where(and(eq(contactAudit.contactId, id), eq(contactAudit.action, 'preferences')));
    expect(audit).toHaveLength(1);

    expect(await send(id, 'product_updates')).toMatchObject({ status: 'no_consent' });
    expect(await send(id, 'newsletter')).toMatchObject({ status: 'sent' });
    expect(await send(id, undefined)).toMatchObject({ status: 'sent' });
    expect(await send(id, 'product_updates', 'transactional')).toMatchObject({ status: 'sent' });
  });

  it('refuses a POST without a form token we served, or with an unknown topic, and changes nothing', async () => {
    const id = await contact('pref-csrf', 'en');
    const link = prefsLink(id, 'en');
    await request(stack.app).post(link).type('form').send('action=unsubscribe_all').expect(400);
    await request(stack.app).post(link).type('form').send('form=forged.token-value&action=unsubscribe_all').expect(400);
    // A form token of another contact's page does not work here.
    const other = await contact('pref-csrf-other', 'en');
    const otherPage = await request(stack.app).get(prefsLink(other, 'en')).expect(200);
    await request(stack.app).post(link).type('form').send(`form=${encodeURIComponent(formToken(otherPage.text))}&action=unsubscribe_all`).expect(400);
    const page = await request(stack.app).get(link).expect(200);
    await request(stack.app).post(link).type('form').send(`form=${encodeURIComponent(formToken(page.text))}&action=save&topic=bogus`).expect(400);
    const [row] = await stack.db.db.select().from(contacts).where(eq(contacts.id, id));
    expect(row!.consent.email).toBe('opted_in');
    expect(row!.topicConsent).toEqual({});
  });

  it('is localized for zh-CN and unsubscribes from all marketing email', async () => {
    const id = await contact('pref-zh', 'zh-CN');
    const link = prefsLink(id, 'zh');
    const page = await request(stack.app).get(link).expect(200);
    expect(page.text).toContain('lang="zh-CN"');
    for (const label of ['订阅偏好', '新闻通讯', '产品动态', '活动与直播', '退订全部营销邮件']) expect(page.text).toContain(label);
    const done = await request(stack.app).post(link).type('form').send(`form=${encodeURIComponent(formToken(page.text))}&action=unsubscribe_all`).expect(200);
    expect(done.text).toContain('您已退订全部营销邮件');
    const [row] = await stack.db.db.select().from(contacts).where(eq(contacts.id, id));
    expect(row!.consent.email).toBe('opted_out');
    const types = (await stack.db.db.select().from(events).where(eq(events.contactId, id))).map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['contact.unsubscribed', 'email.unsubscribed']));
    expect(await send(id, 'newsletter')).toMatchObject({ status: 'no_consent' });
    expect(await send(id, undefined, 'transactional')).toMatchObject({ status: 'sent' });

    // The same page takes it back: consent opted in again, the `unsubscribed` suppression lifted.
    expect(done.text).toContain('重新订阅营销邮件');
    const back = await request(stack.app).post(link).type('form').send(`form=${encodeURIComponent(formToken(done.text))}&action=resubscribe`).expect(200);
    expect(back.text).toContain('新闻通讯');
    expect(checked(back.text)).toEqual(['newsletter', 'product_updates', 'events']);
    const [again] = await stack.db.db.select().from(contacts).where(eq(contacts.id, id));
    expect(again!.consent.email).toBe('opted_in');
    expect(await stack.db.db.select().from(suppressions).where(eq(suppressions.address, again!.email!))).toEqual([]);
    expect(await send(id, 'newsletter')).toMatchObject({ status: 'sent' });
  });

  it('cannot lift a complaint: no resubscribe button, and a forged resubscribe changes nothing', async () => {
    const id = await contact('pref-complaint', 'en');
    await stack.db.db.insert(suppressions).values({ channel: 'email', address: 'pref-complaint@example.com', reason: 'complaint' });
    const link = prefsLink(id, 'en');
    const page = await request(stack.app).get(link).expect(200);
    expect(page.text).toContain('You are unsubscribed from all marketing email');
    expect(page.text).not.toContain('value="resubscribe"');
    // A form token of this contact (signed as our page would) still cannot lift the complaint.
    const form = signToken(TEST_SECRETS, { k: 'f', c: id }, 3600);
    await request(stack.app).post(link).type('form').send(`form=${encodeURIComponent(form)}&action=resubscribe`).expect(200);
    expect((await stack.db.db.select().from(suppressions).where(eq(suppressions.address, 'pref-complaint@example.com')))[0]?.reason).toBe('complaint');
    expect(await send(id, 'newsletter')).toMatchObject({ status: 'suppressed' });
  });

  it('GET/PUT /v1/contacts/:id/preferences read and change topics per channel', async () => {
    const id = await contact('pref-api', 'en');
    const got = await request(stack.app).get(`/v1/contacts/${id}/preferences`).set('Authorization', `Bearer ${stack.keys.marketer}`).expect(200);
    expect(got.body.email).toEqual({ marketing: 'opted_in', suppressed: null, topics: { newsletter: true, product_updates: true, events: true } });
    expect(got.body.topics.map((t: { id: string }) => t.id)).toEqual(['newsletter', 'product_updates', 'events']);

    const bad = await request(stack.app)
      .put(`/v1/contacts/${id}/preferences`)
      .set('Authorization', `Bearer ${stack.keys.integration}`)
      .send({ sms: { topics: { evnts: false } } })
      .expect(400);
    expect(bad.body.errors[0].path).toBe('sms.topics.evnts');
    // A body naming no channel (here only a key JSON.parse keeps as its own: the fuzz suite's case) is told so at a
    // field, never at the body.
    const none = await request(stack.app)
      .put(`/v1/contacts/${id}/preferences`)
      .set('Authorization', `Bearer ${stack.keys.integration}`)
      .set('Content-Type', 'application/json')
      .send('{"__proto__":{"x":1}}')
      .expect(400);
    // (The unknown key itself is reported at its object, as everywhere: `Unrecognized key: "__proto__"`.)
    const named = none.body.errors.filter((e: { message: string }) => !/^Unrecognized key/.test(e.message));
    expect(named).toEqual([expect.objectContaining({ path: 'email', message: 'name at least one channel: email or sms' })]);

    const put = await request(stack.app)
      .put(`/v1/contacts/${id}/preferences`)
      .set('Authorization', `Bearer ${stack.keys.integration}`)
      .send({ sms: { topics: { events: false } } })
      .expect(200);
    expect(put.body.sms.topics).toEqual({ newsletter: true, product_updates: true, events: false });
    expect(put.body.email.topics.events).toBe(true);
    const unsubscribed = await stack.db.db.select().from(events).where(and(eq(events.contactId, id), eq(events.type, 'contact.unsubscribed')));
    expect(unsubscribed.map((e) => e.properties)).toEqual([{ channel: 'sms', topic: 'events', source: 'api' }]);
    // Saying the same again changes and emits nothing.
    await request(stack.app).put(`/v1/contacts/${id}/preferences`).set('Authorization', `Bearer ${stack.keys.integration}`).send({ sms: { topics: { events: false } } }).expect(200);
    expect(await stack.db.db.select().from(events).where(and(eq(events.contactId, id), eq(events.type, 'contact.unsubscribed')))).toHaveLength(1);

    const sms = await stack.activities.sendSms({ idempotencyKey: 'pref-sms-1', contactId: id, journeyId: 'prefs', workflowId: `journey:prefs:${id}`, stepId: 'sms', body: 'hi', category: 'marketing', topic: 'events' });
    expect(sms).toMatchObject({ status: 'no_consent' });
    await request(stack.app).get(`/v1/contacts/00000000-0000-4000-8000-000000000000/preferences`).set('Authorization', `Bearer ${stack.keys.marketer}`).expect(404);
  });
});
