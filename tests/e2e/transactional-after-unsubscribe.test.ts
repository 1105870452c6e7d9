import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { publishJourney } from '../../src/publishing/journeys';
import { loadTemplateCatalog } from '../../src/templates/catalog';
import { TEMPLATES_DIR } from '../../src/paths';
import { startTestStack, type TestStack } from '../helpers/stack';
import { until } from '../helpers/until';

// One journey per email, each entered by its own event: a newsletter (marketing), an order confirmation
// (transactional) and a later promotion (marketing).
const journey = (id: string, event: string, template: string, category: 'marketing' | 'transactional') => `
id: ${id}
name: ${id}
triggers: [{ type: event, event: ${event} }]
start: send
steps:
  send: { type: send_email, template: ${template}, category: ${category}, next: done }
  done: { type: exit }
`;

describe('a marketing unsubscribe never blocks transactional mail', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack();
    const templates = await loadTemplateCatalog(TEMPLATES_DIR);
    await publishJourney(stack.db.db, journey('newsletter', 'lead.created', 'welcome', 'marketing'), { templates });
    await publishJourney(stack.db.db, journey('order-confirmation', 'order.placed', 'renewal-reminder', 'transactional'), { templates });
    await publishJourney(stack.db.db, journey('promotion', 'promo.due', 'product-a-case-study', 'marketing'), { templates });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('after a one-click unsubscribe, a journey transactional email reaches the SMTP server and a marketing one does not', async () => {
    const integration = `Bearer ${stack.keys.integration}`;
    const marketer = `Bearer ${stack.keys.marketer}`;
    const created = await request(stack.app)
      .put('/v1/contacts/tx-c1')
      .set('Authorization', integration)
      .send({ email: 'zhao.lei@example.cn', firstName: 'Lei', timezone: 'UTC', consent: { email: 'opted_in' } })
      .expect(201);
    const contactId: string = created.body.id;
    const send = (id: string, type: string) =>
      request(stack.app).post('/v1/events').set('Authorization', integration).send({ id, type, contact: { externalId: 'tx-c1' } }).expect(202);
    const messageOf = (journeyId: string) =>
      until(`the ${journeyId} message`, async () => {
        const res = await request(stack.app).get('/v1/messages').query({ contactId, journeyId }).set('Authorization', marketer).expect(200);
        const m = res.body.items[0] as { status: string } | undefined;
        return m && !['reserved', 'sending'].includes(m.status) ? m : undefined;
      });

    // The marketing email arrives, and its RFC 8058 one-click unsubscribe goes through the real endpoint.
    await send('tx-e1', 'lead.created');
    const [newsletter] = await stack.smtp.waitFor(1);
    const head = newsletter!.raw.slice(0, newsletter!.raw.search(/\r?\n\r?\n/)).replace(/\r?\n[ \t]+/g, ' ');
    const oneClick = head.match(/^List-Unsubscribe: .*?<http:\/\/itinera\.test(\/u\/[^>]+)>/im)![1]!;
    await request(stack.app).post(oneClick).type('form').send('List-Unsubscribe=One-Click').expect(200);
    const contact = await request(stack.app).get(`/v1/contacts/${contactId}`).set('Authorization', integration).expect(200);
    expect(contact.body.consent.email).toBe('opted_out');

    // The order confirmation still goes.
    await send('tx-e2', 'order.placed');
    expect(await messageOf('order-confirmation')).toMatchObject({ status: 'sent' });
    const [, receipt] = await stack.smtp.waitFor(2);
    expect(receipt!.parsed.to).toMatchObject({ text: 'zhao.lei@example.cn' });
    // Transactional mail carries no marketing unsubscribe.
    expect(receipt!.raw).not.toMatch(/^List-Unsubscribe:/im);

    // The promotion does not.
    await send('tx-e3', 'promo.due');
    expect(await messageOf('promotion')).toMatchObject({ status: 'no_consent' });
    expect(stack.smtp.messages).toHaveLength(2);
  });
});
