import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { and, eq } from 'drizzle-orm';
import { contacts, events, messages, suppressions } from '../../src/db/schema';
import { publishJourney } from '../../src/publishing/journeys';
import { loadTemplateCatalog } from '../../src/templates/catalog';
import { TEMPLATES_DIR } from '../../src/paths';
import { startTestStack, type TestStack } from '../helpers/stack';
import { until } from '../helpers/until';

// The welcome email, then wait for it to be opened; a second marketing email after a pause tests the unsubscribe. The
// test ends the pause itself (ops skip-wait) once it has unsubscribed: a pause of a few seconds raced the test's
// requests on a busy machine, and the follow-up could go out before the unsubscribe.
const JOURNEY = `
id: tracked
name: Tracked welcome
triggers: [{ type: event, event: lead.created }]
start: welcome
steps:
  welcome: { type: send_email, template: welcome, next: wait-open }
  wait-open:
    type: wait_for_event
    event: email.opened
    timeout: 1h
    on_event: opened
    on_timeout: not-opened
  opened: { type: tag, tags: [opened-welcome], next: pause }
  not-opened: { type: tag, tags: [never-opened], next: pause }
  pause: { type: wait, duration: 1h, next: follow-up }
  follow-up: { type: send_email, template: product-a-case-study, next: done }
  done: { type: exit }
`;

describe('a journey email carries working open, click and one-click unsubscribe links', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack();
    await publishJourney(stack.db.db, JOURNEY, { templates: await loadTemplateCatalog(TEMPLATES_DIR) });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('opens reach the waiting run, clicks redirect only where signed, one-click unsubscribe suppresses the next send', async () => {
    const res = await request(stack.app)
      .post('/v1/events')
      .set('Authorization', `Bearer ${stack.keys.integration}`)
      .send({ id: 'trk-1', type: 'lead.created', contact: { externalId: 'trk-c1', email: 'wang.fang@example.cn', firstName: 'Fang', timezone: 'UTC' } })
      .expect(202);
    const workflowId: string = res.body.accepted[0].runs[0];
    const [mail] = await stack.smtp.waitFor(1, 30_000);
    const html = String(mail!.parsed.html);
    const local = (url: string) => url.replace('http://itinera.test', '');

    // Open pixel: a GIF, and the open reaches the run waiting for it.
    const pixel = html.match(/<img[^>]+src="(http:\/\/itinera\.test\/t\/o\/[^"]+)"/)![1]!;
    const gif = await request(stack.app).get(local(pixel)).expect(200);
    expect(gif.headers['content-type']).toBe('image/gif');
    const [contact] = await until(async () => {
      const rows = await stack.db.db.select().from(contacts).where(eq(contacts.externalId, 'trk-c1'));
      return rows[0]?.tags.includes('opened-welcome') ? rows : undefined;
    });
    expect(contact!.tags).not.toContain('never-opened');
    // A forged pixel still answers a GIF (mail clients must not break) but records nothing.
    await request(stack.app).get(`${local(pixel)}x`).expect(200);
    const opens = await stack.db.db.select().from(events).where(and(eq(events.contactId, contact!.id), eq(events.type, 'email.opened')));
    expect(opens).toHaveLength(1);

    // Click: 302 to the destination the token signs; a tampered token is refused and redirects nowhere.
    const click = html.match(/href="(http:\/\/itinera\.test\/t\/c\/[^"]+)"/)![1]!;
    const hop = await request(stack.app).get(local(click)).expect(302);
    expect(hop.headers.location).toMatch(/^https?:\/\//);
    expect(hop.headers.location).not.toContain('itinera.test');
    const forged = await request(stack.app).get(`${local(click).slice(0, -3)}abc`).expect(400);
    expect(forged.headers.location).toBeUndefined();

    // RFC 8058: the List-Unsubscribe header's https URI takes a one-click POST.
    const head = mail!.raw.slice(0, mail!.raw.search(/\r?\n\r?\n/)).replace(/\r?\n[ \t]+/g, ' ');
    expect(head).toMatch(/^List-Unsubscribe-Post: List-Unsubscribe=One-Click$/im);
    const oneClick = head.match(/^List-Unsubscribe: .*?<(http:\/\/itinera\.test\/u\/[^>]+)>/im)![1]!;
    await request(stack.app).post(local(oneClick)).type('form').send('List-Unsubscribe=One-Click').expect(200);
    const [after] = await stack.db.db.select().from(contacts).where(eq(contacts.id, contact!.id));
    expect(after!.consent.email).toBe('opted_out');
    expect(await stack.db.db.select().from(suppressions).where(eq(suppressions.address, 'wang.fang@example.cn'))).toHaveLength(1);

    // The follow-up, due after the pause, is not sent: consent is checked at send time.
    const ops = `Bearer ${stack.keys.ops}`;
    await until(async () => {
      const run = await request(stack.app).get(`/v1/runs/${encodeURIComponent(workflowId)}`).set('Authorization', ops);
      return run.body.currentStep === 'pause' ? true : undefined;
    });
    await request(stack.app).post(`/v1/runs/${encodeURIComponent(workflowId)}/skip-wait`).set('Authorization', ops).expect(200);
    const followUp = await until(async () => {
      const rows = await stack.db.db.select().from(messages).where(and(eq(messages.workflowId, workflowId), eq(messages.stepId, 'follow-up')));
      return rows[0];
    });
    expect(followUp.status).toMatch(/no_consent|suppressed/);
    await new Promise((r) => setTimeout(r, 500));
    expect(stack.smtp.messages).toHaveLength(1);
  });
});
