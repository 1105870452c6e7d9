/**
 * The console in a real browser (Debian's chromium driven by playwright-core) against the real stack: the API app on
 * a real port, Postgres, the Temporal dev server and a worker. Its own vitest project (`browser`), so it can be left
 * out only by choosing projects; `npm test` runs it. Screenshots go to test-artifacts/console/ (gitignored).
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { SCORING_MODEL_FILE } from '../../src/paths';
import { loadScoringModel } from '../../src/scoring/model';
import { contacts, events, journeyRuns, messages } from '../../src/db/schema';
import { eq } from 'drizzle-orm';
import { startTestStack, type TestStack } from '../helpers/stack';
import { scaled } from '../helpers/timing';
import { until } from '../helpers/until';
import { startHttp, type TestHttp } from '../channels/support/http';
import { LOCAL_ALLOW } from '../helpers/outbound';
import { publishJourney } from '../../src/publishing/journeys';
import { buildConsole, LABELLED_TIME, launchChromium, screenshot, seriousViolations, shows, signInAs, WAIT, watchProblems } from '../helpers/browser';

const journey = `
id: trial-browser
name: Trial follow-up
triggers: [{ type: event, event: trial.started }]
start: wait-demo
steps:
  wait-demo: { type: wait_for_event, event: demo.booked, timeout: 1h, on_event: pick, on_timeout: timed-out }
  pick:
    type: split
    paths:
      - { name: a, percent: 50, next: booked }
      - { name: b, percent: 50, next: booked }
  booked: { type: exit, reason: booked }
  timed-out: { type: exit, reason: timed-out }
`;

/** A webhook that fails while the receiver is down: a stuck run to find and retry. */
const hookJourney = (url: string) => `
id: hook-browser
name: CRM sync
triggers: [{ type: event, event: order.placed }]
start: call
steps:
  call: { type: webhook, url: "${url}/hook", timeout: 5s, retries: 10, next: done }
  done: { type: exit }
`;

/** Runs that wait an hour for an event that never comes: something to act on in bulk and one by one. */
const holdJourney = `
id: hold-browser
name: Hold
triggers: [{ type: event, event: signup.hold }]
start: hold
steps:
  hold: { type: wait_for_event, event: never.happens, timeout: 1h, on_event: done, on_timeout: done }
  done: { type: exit }
`;

/** A welcome email, a split, a wait; the goal is a booked demo: a step's messages, conversions and arms to show. */
const nodeJourney = `
id: node-browser
name: Welcome series
triggers: [{ type: event, event: signup.node }]
goals: [{ id: booked, name: Demo booked, event: demo.node }]
start: hello
steps:
  hello: { type: send_email, template: welcome, next: pick }
  pick:
    type: split
    paths:
      - { name: a, percent: 50, next: wait }
      - { name: b, percent: 50, next: wait }
  wait: { type: wait_for_event, event: never.happens, timeout: 1h, on_event: done, on_timeout: done }
  done: { type: exit }
`;

/** Entered by launches only: every run parks for an hour. */
const launchJourney = `
id: launch-browser
name: Launch test
triggers: [{ type: event, event: never.sent }]
start: hold
steps:
  hold: { type: wait, duration: 1h, next: done }
  done: { type: exit }
`;

describe('the console in a real browser', () => {
  let stack: TestStack;
  let server: Server;
  let base: string;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const problems: string[] = [];
  let receiver: TestHttp;
  let receiverFails = true;

  beforeAll(async () => {
    const dist = buildConsole();
    receiver = await startHttp((_req, res) => {
      res.statusCode = receiverFails ? 500 : 200;
      res.end(receiverFails ? 'upstream down' : 'ok');
    });
    stack = await startTestStack({ consoleDist: dist, scoring: await loadScoringModel(SCORING_MODEL_FILE) });
    server = await new Promise<Server>((resolve) => {
      const s = stack.app.listen(0, '127.0.0.1', () => resolve(s));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const as = { Authorization: `Bearer ${stack.keys.marketer}` };
    await request(stack.app).post('/v1/journeys').set(as).set('content-type', 'application/yaml').send(journey).expect(201);
    await request(stack.app).post('/v1/journeys/trial-browser/publish').set(as).expect(201);
    browser = await launchChromium();
    context = await browser.newContext({ locale: 'en-US', viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    watchProblems(page, problems);
  });
  afterAll(async () => {
    await browser?.close();
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
    await stack?.stop();
    await receiver?.close();
  });

  const shot = (name: string) => screenshot(page, name);

  it('signs in, lists journeys, draws the graph, moves counts live, and signs out', async () => {
    await page.goto(base);
    await page.getByLabel('API key').waitFor({ timeout: WAIT });
    expect(await page.locator('h1').textContent()).toBe('Sign in to the itinera console');
    await shot('1-sign-in');
    expect(await seriousViolations(page)).toEqual([]);

    // A wrong key is refused in place.
    await page.getByLabel('API key').fill('itk_abcdefghijkl_' + 'x'.repeat(43));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').waitFor({ timeout: WAIT });
    expect(await page.getByRole('alert').textContent()).toMatch(/not valid/);

    await page.getByLabel('API key').fill(stack.keys.admin);
    await page.getByRole('button', { name: 'Sign in' }).click();
    const row = page.locator('tr[data-journey="trial-browser"]');
    await row.waitFor({ timeout: WAIT });
    expect(await row.locator('td').allTextContents()).toEqual(['trial-browser', 'Trial follow-up', 'active', '1', '0', '0', '0', '—']);
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === 'itinera_session')!;
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });
    // The page never holds the key: it is in no storage.
    expect(await page.evaluate(`JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie`)).not.toContain(stack.keys.admin.slice(4, 16));
    await shot('2-journeys');
    expect(await seriousViolations(page)).toEqual([]);

    await row.getByRole('link', { name: 'trial-browser' }).click();
    const waitNode = page.locator('.react-flow__node[data-id="wait-demo"]');
    await waitNode.waitFor({ timeout: WAIT });
    for (const id of ['wait-demo', 'pick', 'booked', 'timed-out']) expect(await page.locator(`.react-flow__node[data-id="${id}"]`).count()).toBe(1);
    const labels = await page.locator('.react-flow__edge-text').allTextContents();
    // Both split arms lead to the same step: one edge, both arms on its label.
    expect(labels.sort()).toEqual(['a 50% · b 50%', 'on demo.booked', 'timeout 1h'].sort());
    // Laid out top to bottom: the start above its successors.
    const y = async (id: string) => (await page.locator(`.react-flow__node[data-id="${id}"]`).boundingBox())!.y;
    expect(await y('wait-demo')).toBeLessThan(await y('pick'));
    expect(await y('pick')).toBeLessThan(await y('booked'));
    const waiting = waitNode.locator('[data-count="waiting"]');
    expect(await waiting.textContent()).toBe('0');
    await shot('3-journey-empty');
    expect(await seriousViolations(page)).toEqual([]);

    // Events posted through the API move the counts on the open page, without a reload.
    await page.evaluate(`window.marker = 42`);
    for (const [id, who] of [['b-1', 'ann'], ['b-2', 'bob']]) {
      await request(stack.app).post('/v1/events').set('Authorization', `Bearer ${stack.keys.integration}`).send({ id, type: 'trial.started', contact: { externalId: who } }).expect(202);
    }
    await shows(waiting, '2');
    expect(await waitNode.locator('[data-count="entered"]').textContent()).toBe('2');
    await request(stack.app).post('/v1/events').set('Authorization', `Bearer ${stack.keys.integration}`).send({ id: 'b-3', type: 'demo.booked', contact: { externalId: 'ann' } }).expect(202);
    await shows(page.locator('.react-flow__node[data-id="booked"] [data-count="exitedHere"]'), '1');
    expect(await waiting.textContent()).toBe('1');
    expect(await page.evaluate(`window.marker`)).toBe(42);

    // A node lists the runs waiting there (admin may list runs).
    await waitNode.click();
    await page.getByRole('heading', { name: 'Runs waiting at wait-demo' }).waitFor({ timeout: WAIT });
    await page.locator('.runs tbody tr').first().waitFor({ timeout: WAIT });
    expect(await page.locator('.runs tbody tr').count()).toBe(1);
    expect(await page.locator('.runs tbody tr code').first().textContent()).toMatch(/^journey:trial-browser:/);
    await shot('4-journey-live');
    expect(await seriousViolations(page)).toEqual([]);

    // 简体中文, switched in place and remembered.
    await page.getByLabel('Language').selectOption('zh-CN');
    await page.getByRole('link', { name: '← 全部旅程' }).waitFor({ timeout: WAIT });
    expect(await waitNode.locator('dt').first().textContent()).toBe('进入');
    expect(await page.evaluate(`document.documentElement.lang`)).toBe('zh-CN');
    await shot('5-journey-zh');
    expect(await seriousViolations(page)).toEqual([]);
    await page.getByLabel('语言').selectOption('en');

    // A second version: opened again (in-page navigation), the picker offers both and draws the one picked.
    const v2 = journey.replace('on_timeout: timed-out', 'on_timeout: nudge').replace('  timed-out: { type: exit, reason: timed-out }', '  nudge: { type: wait, duration: 1d, next: timed-out }\n  timed-out: { type: exit, reason: timed-out }');
    const m = { Authorization: `Bearer ${stack.keys.marketer}` };
    await request(stack.app).put('/v1/journeys/trial-browser/draft').set(m).set('content-type', 'application/yaml').send(v2).expect(200);
    await request(stack.app).post('/v1/journeys/trial-browser/publish').set(m).expect(201);
    await page.getByRole('link', { name: '← All journeys' }).click();
    await row.getByRole('link', { name: 'trial-browser' }).click();
    await page.locator('.react-flow__node[data-id="nudge"]').waitFor({ timeout: WAIT });
    const picker = page.locator('.toolbar select');
    expect(await picker.locator('option').allTextContents()).toEqual([expect.stringMatching(/^v2 · /), expect.stringMatching(/^v1 · /)]);
    await picker.selectOption('1');
    await page.locator('.react-flow__node[data-id="nudge"]').waitFor({ state: 'detached', timeout: WAIT });
    await shows(page.locator('.react-flow__node[data-id="wait-demo"] [data-count="waiting"]'), '1');

    // Opened by its address in a new tab (signed in): the session, the journey, its plan and the latest version's counts
    // are asked for as the bundle starts (console/src/boot.ts), and the page uses those answers instead of asking again.
    const tab = await context.newPage();
    watchProblems(tab, problems);
    const asked: string[] = [];
    tab.on('request', (r) => asked.push(new URL(r.url()).pathname + new URL(r.url()).search));
    await tab.goto(`${base}/#/journeys/trial-browser`);
    // The latest version drawn, and its counts in (the page says when it refreshed them).
    await tab.locator('.react-flow__node[data-id="nudge"]').waitFor({ timeout: WAIT });
    await tab.waitForFunction(`(document.querySelector('.toolbar .refreshed')?.textContent ?? '') !== ''`, undefined, { timeout: WAIT });
    const once = (p: string) => asked.filter((a) => a === p).length;
    // The latest version's counts (2) too, as `latest`, beside the plan rather than after it.
    const live = '/v1/journeys/trial-browser/live?version=latest';
    expect([once('/v1/session'), once('/v1/journeys/trial-browser'), once('/v1/journeys/trial-browser/plan'), once(live)]).toEqual([1, 1, 1, 1]);
    await tab.close();
    // The same address without a session: those first requests are refused (401); after the sign-in the page asks again
    // rather than taking the refusals.
    const anonymous = await browser.newContext({ locale: 'en-US' });
    const fresh = await anonymous.newPage();
    watchProblems(fresh, problems);
    await fresh.goto(`${base}/#/journeys/trial-browser`);
    await signInAs(fresh, stack.keys.admin);
    await fresh.locator('.react-flow__node[data-id="nudge"]').waitFor({ timeout: WAIT });
    await fresh.waitForFunction(`(document.querySelector('.toolbar .refreshed')?.textContent ?? '') !== ''`, undefined, { timeout: WAIT });
    expect(await fresh.getByLabel('API key').count()).toBe(0);
    await anonymous.close();

    // Sign out: back to the form, the cookie gone, and the old cookie refused by the API.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key').waitFor({ timeout: WAIT });
    expect((await context.cookies()).find((c) => c.name === 'itinera_session')).toBeUndefined();
    expect(await page.evaluate(`fetch('/v1/journeys').then((r) => r.status)`)).toBe(401);
    const old = await request(stack.app).get('/v1/journeys').set('Cookie', `itinera_session=${session.value}`).expect(401);
    expect(old.body.code).toBe('session_ended');
    expect(problems).toEqual([]);
  });

  it("finds a contact by name, email, phone or CRM id and opens the 360° view", async () => {
    const integration = { Authorization: `Bearer ${stack.keys.integration}` };
    const put = (body: object) => request(stack.app).put('/v1/contacts/crm-mei').set(integration).send(body);
    const { body: mei } = await put({ firstName: 'Mei', lastName: 'Chen', email: 'mei.chen@example.com', phone: '13800138123', company: 'Acme', tags: ['vip', 'webinar'], consent: { email: 'opted_in' } }).expect(201);
    await put({ lifecycleStage: 'mql' }).expect(200);
    await request(stack.app).post('/v1/events').set(integration).send({ id: 'mei-1', type: 'demo.requested', contact: { externalId: 'crm-mei' } }).expect(202);
    await request(stack.app).post('/v1/events').set(integration).send({ id: 'mei-2', type: 'trial.started', contact: { externalId: 'crm-mei' } }).expect(202);
    const view = () => request(stack.app).get(`/v1/contacts/${mei.id}`).set(integration).expect(200);
    await until('the demo request scored and the run waiting', async () => {
      const v = (await view()).body;
      return v.score >= 30 && v.journeys.some((j: { currentStep: string }) => j.currentStep === 'wait-demo') ? true : undefined;
    });
    // A message of hers, opened twice and clicked once (the tracking routes record these events).
    const [msg] = await stack.db.db
      .insert(messages)
      .values({ idempotencyKey: 'console-test:mei:welcome', channel: 'email', contactId: mei.id, journeyId: 'trial-browser', stepId: 'welcome', recipient: 'mei.chen@example.com', subject: 'Welcome, Mei', status: 'sent', sentAt: new Date() })
      .returning();
    await stack.db.db.insert(events).values(
      (['email.opened', 'email.opened', 'email.clicked'] as const).map((type, i) => ({ id: `mei-track-${i}`, type, contactId: mei.id, occurredAt: new Date(), source: 'tracking', properties: { message_key: msg!.idempotencyKey } })),
    );

    await page.goto(base);
    await signInAs(page, stack.keys.marketer);
    await page.getByRole('navigation').getByRole('link', { name: 'Contacts' }).click();
    await page.getByRole('heading', { name: 'Find a contact' }).waitFor({ timeout: WAIT });
    const search = async (text: string, by = 'any of these') => {
      await page.getByLabel('Email, phone, CRM id or name').fill(text);
      await page.getByLabel('Search by').selectOption({ label: by });
      await page.getByRole('button', { name: 'Search' }).click();
    };
    for (const [text, by] of [['chen', 'any of these'], ['MEI.CHEN@example.com', 'any of these'], ['138 0013 8123', 'Phone'], ['crm-mei', 'CRM id'], ['Mei Ch', 'Name']] as const) {
      await search(text, by);
      // The table names the search it answers: each search is awaited, not the previous one's rows.
      const rows = page.locator(`table.contacts[data-query="${text}"] tbody tr`);
      await rows.first().waitFor({ timeout: WAIT });
      expect(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-contact')))).toEqual([mei.id]);
    }
    const found = page.locator(`tr[data-contact="${mei.id}"]`);
    await search('nobody-by-that-name');
    await page.getByText('No contact matches.').waitFor({ timeout: WAIT });
    await search('chen');
    await found.getByRole('link', { name: 'Mei Chen' }).click();

    await page.getByRole('heading', { name: 'Mei Chen', level: 1 }).waitFor({ timeout: WAIT });
    const section = (id: string) => page.locator(`[data-section="${id}"]`);
    await section('consent').locator('tr[data-channel="email"]').waitFor({ timeout: WAIT });
    expect(await section('profile').textContent()).toContain('mei.chen@example.com');
    expect(await section('consent').locator('tr[data-channel="email"] td').first().textContent()).toBe('opted in');
    expect(await section('consent').locator('tr[data-channel="sms"] td').first().textContent()).toBe('not recorded');
    expect(await section('tags').locator('li').allTextContents()).toEqual(['vip', 'webinar']);
    const score = (await view()).body.score as number;
    expect(await section('score').getByRole('heading').textContent()).toBe(`Why ${score}`);
    expect(await section('score').locator('tr[data-rule="demo-request"] td').nth(2).textContent()).toBe('+30');
    expect(await section('lifecycle').locator('tbody tr').first().locator('td').nth(2).textContent()).toBe('mql');
    const run = section('journeys').locator('tbody tr').first();
    expect(await run.locator('td').allTextContents()).toEqual(['Trial follow-up', 'v2', 'wait-demo', 'running', expect.stringMatching(/\d/)]);
    const welcome = section('messages').locator('tr[data-message="welcome"]');
    expect(await welcome.locator('[data-count="opens"]').textContent()).toBe('2');
    expect(await welcome.locator('[data-count="clicks"]').textContent()).toBe('1');
    expect(await section('timeline').locator('tr[data-event="demo.requested"]').count()).toBe(1);
    // Times carry their zone's name.
    expect(await page.locator('.contact > p.hint').textContent()).toMatch(/Times in [\w/+-]+\./);
    expect(await section('lifecycle').locator('tbody tr td').first().textContent()).toMatch(LABELLED_TIME);
    await shot('6-contact-360');
    expect(await seriousViolations(page)).toEqual([]);

    await page.getByLabel('Language').selectOption('zh-CN');
    await page.getByRole('heading', { name: '资料' }).waitFor({ timeout: WAIT });
    expect(await section('consent').locator('tr[data-channel="email"] td').first().textContent()).toBe('已同意');
    await shot('7-contact-360-zh');
    expect(await seriousViolations(page)).toEqual([]);
    await page.getByLabel('语言').selectOption('en');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key').waitFor({ timeout: WAIT });
    expect(problems).toEqual([]);
  });

  it("shows a step's messages, conversions and split arms, and the journey's funnel", async () => {
    const m = { Authorization: `Bearer ${stack.keys.marketer}` };
    await request(stack.app).post('/v1/journeys').set(m).set('content-type', 'application/yaml').send(nodeJourney).expect(201);
    await request(stack.app).post('/v1/journeys/node-browser/publish').set(m).expect(201);
    const integration = { Authorization: `Bearer ${stack.keys.integration}` };
    for (const who of ['n1', 'n2', 'n3', 'n4']) {
      await request(stack.app).post('/v1/events').set(integration).send({ id: `node-${who}`, type: 'signup.node', contact: { externalId: `node-${who}`, email: `${who}@example.com` } }).expect(202);
    }
    const live = async () => (await request(stack.app).get('/v1/journeys/node-browser/live').set(m).expect(200)).body;
    await until('four runs waiting', async () => ((await live()).steps.find((x: { stepId: string }) => x.stepId === 'wait')?.waiting === 4 ? true : undefined));
    await request(stack.app).post('/v1/events').set(integration).send({ id: 'node-goal', type: 'demo.node', contact: { externalId: 'node-n1' } }).expect(202);
    await until('the goal reached', async () => ((await live()).contacts.converted === 1 ? true : undefined));
    const [first] = await stack.db.db.select().from(messages).where(eq(messages.journeyId, 'node-browser')).limit(1);
    await stack.db.db.insert(events).values({ id: 'node-open', type: 'email.opened', contactId: first!.contactId, occurredAt: new Date(), source: 'tracking', properties: { message_key: first!.idempotencyKey } });

    await page.goto(`${base}/#/journeys/node-browser`);
    await signInAs(page, stack.keys.marketer);
    const hello = page.locator('.react-flow__node[data-id="hello"]');
    await hello.waitFor({ timeout: WAIT });
    // The funnel: every run entered the first step; three still wait.
    const bar = (step: string) => page.locator(`[data-funnel-step="${step}"] [data-funnel-value]`);
    await shows(bar('hello'), '4 · 100%');
    expect(await bar('wait').textContent()).toBe('4 · 100%');
    await hello.click();
    const panel = page.locator('[data-step-panel="hello"]');
    await panel.locator('tr[data-channel="email"]').waitFor({ timeout: WAIT });
    expect(await panel.locator('p').first().textContent()).toBe('4 runs (4 contacts) entered this step.');
    const email = panel.locator('tr[data-channel="email"]');
    expect(await email.locator('[data-status="sent"]').textContent()).toBe('4');
    expect(await email.locator('[data-status="bounced"]').textContent()).toBe('0');
    expect(await email.locator('[data-status="opened"]').textContent()).toBe('1');
    expect(await panel.locator('tr[data-goal="booked"] td').allTextContents()).toEqual(['Demo booked', '1', '1', '25%']);
    await shot('11-journey-step');
    expect(await seriousViolations(page)).toEqual([]);
    // The split: both arms with what entered them (4 in all) and their conversions against the control.
    await page.locator('.react-flow__node[data-id="pick"]').click();
    const arms = page.locator('[data-step-panel="pick"] table.arms');
    await arms.waitFor({ timeout: WAIT });
    const entered = (await arms.locator('[data-col="entered"]').allTextContents()).map(Number);
    expect(entered).toHaveLength(2);
    expect(entered[0]! + entered[1]!).toBe(4);
    expect(await arms.locator('tbody th').allTextContents()).toEqual(['a · control', 'b']);
    await shot('12-journey-split');
    expect(await seriousViolations(page)).toEqual([]);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key').waitFor({ timeout: WAIT });
    expect(problems).toEqual([]);
  });

  it('builds an audience, counts it before launching, launches and follows the progress in contacts', async () => {
    await publishJourney(stack.db.db, launchJourney, {});
    // Eight in the east — one without an email address, one opted out of email — and four in the west.
    await stack.db.db.insert(contacts).values(
      Array.from({ length: 12 }, (_, i) => ({
        externalId: `lb-${i}`,
        email: i === 0 ? null : `lb${i}@example.com`,
        region: i < 8 ? 'east' : 'west',
        consent: i === 1 ? { email: 'opted_out' as const } : {},
      })),
    );
    await page.goto(`${base}/#/journeys/launch-browser`);
    await signInAs(page, stack.keys.marketer);
    await page.getByRole('link', { name: 'Launch to an audience' }).click();
    await page.getByRole('heading', { name: 'Launch Launch test to an audience' }).waitFor({ timeout: WAIT });
    await page.getByLabel('Condition 1: field').selectOption({ label: 'region' });
    await page.getByLabel('Condition 1: comparison').selectOption({ label: 'is' });
    await page.getByLabel('Condition 1: value').fill('east');
    expect(await page.locator('[data-filter]').textContent()).toBe('{"field":"region","eq":"east"}');
    await page.getByRole('button', { name: 'Count matching contacts' }).click();
    const preview = page.locator('[data-preview]');
    await preview.waitFor({ timeout: WAIT });
    expect(await preview.textContent()).toMatch(/^8 of \d+ contacts match; 6 would enter, 2 would be skipped \((no email address: 1; opted out of email: 1|opted out of email: 1; no email address: 1)\)$/);
    // Nothing launched by counting.
    expect((await request(stack.app).get('/v1/journeys/launch-browser/launches').set('Authorization', `Bearer ${stack.keys.marketer}`).expect(200)).body.items).toEqual([]);
    await shot('13-launch-preview');
    expect(await seriousViolations(page)).toEqual([]);

    await page.getByRole('button', { name: 'Launch to 6 contacts…' }).click();
    expect(await page.getByRole('dialog').textContent()).toContain('This enrols 6 contacts into Launch test now.');
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    const progress = page.locator('[data-launch][data-status="completed"]');
    await progress.waitFor({ timeout: WAIT });
    expect(await progress.locator('[data-counts]').textContent()).toMatch(/^(\d+) of \1 contacts read: 6 enrolled, 2 skipped — completed$/);
    expect(await progress.locator('progress').getAttribute('value')).toBe(await progress.locator('progress').getAttribute('max'));
    // The count was for the audience before the launch: launching again needs a new count.
    expect(await page.getByRole('button', { name: /^Launch to/ }).count()).toBe(0);
    await page.getByRole('heading', { name: 'Launches of this journey' }).waitFor({ timeout: WAIT });
    await shot('14-launch-done');
    expect(await seriousViolations(page)).toEqual([]);
    await until('six runs parked', async () => ((await stack.db.db.select().from(journeyRuns).where(eq(journeyRuns.journeyId, 'launch-browser'))).length === 6 ? true : undefined));
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key').waitFor({ timeout: WAIT });
    expect(problems).toEqual([]);
  });

  it('finds a stuck run with its attempt and error, retries it, and repairs runs one by one and in bulk', { timeout: scaled(180_000) }, async () => {
    await publishJourney(stack.db.db, hookJourney(receiver.url), { outboundAllow: LOCAL_ALLOW });
    await publishJourney(stack.db.db, holdJourney, {});
    const integration = { Authorization: `Bearer ${stack.keys.integration}` };
    const post = async (id: string, type: string, who: string) =>
      (await request(stack.app).post('/v1/events').set(integration).send({ id, type, contact: { externalId: who } }).expect(202)).body.accepted[0].runs[0] as string;
    const hookRun = await post('ops-1', 'order.placed', 'ops-hook');
    const holds = [await post('ops-2', 'signup.hold', 'ops-h1'), await post('ops-3', 'signup.hold', 'ops-h2'), await post('ops-4', 'signup.hold', 'ops-h3')];
    const asOps = { Authorization: `Bearer ${stack.keys.ops}` };
    await until(
      'the webhook run stuck on its third attempt',
      async () => ((await request(stack.app).get('/v1/runs?stuck=true&journeyId=hook-browser').set(asOps).expect(200)).body.items.length === 1 ? true : undefined),
      60_000,
    );
    const projection = async (id: string) => (await request(stack.app).get(`/v1/runs/${encodeURIComponent(id)}`).set(asOps).expect(200)).body;
    await until('the holding runs waiting', async () => ((await Promise.all(holds.map(projection))).every((r) => r.currentStep === 'hold') ? true : undefined));

    // Ops starts on the stuck runs, with why, which attempt and the last error.
    await page.goto(base);
    await signInAs(page, stack.keys.ops);
    await page.getByRole('heading', { name: 'Runs', level: 1 }).waitFor({ timeout: WAIT });
    expect(await page.getByRole('navigation').getByRole('link').allTextContents()).toEqual(['Contacts', 'Ops', 'Dashboard']);
    const row = page.locator(`tr[data-run="${hookRun}"]`);
    await row.waitFor({ timeout: WAIT });
    expect(await page.locator('table.runlist tbody tr').count()).toBe(1);
    expect(await row.locator('[data-col="reasons"]').textContent()).toBe('an activity keeps failing');
    expect(await row.locator('[data-col="attempt"]').textContent()).toMatch(/^\d+ of 11$/);
    expect(await row.locator('[data-col="error"]').textContent()).toMatch(/HTTP 500/);
    await shot('8-ops-stuck');
    expect(await seriousViolations(page)).toEqual([]);

    // Its page: the failing activity and the timeline; the receiver is fixed, then "retry now", confirmed.
    await row.getByRole('link').first().click();
    await page.locator('tr[data-activity="callWebhook"]').waitFor({ timeout: WAIT });
    expect(await page.locator('table.timeline tr[data-kind="activity_scheduled"]').count()).toBeGreaterThan(0);
    receiverFails = false;
    await page.getByRole('button', { name: 'Retry now' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor({ timeout: WAIT });
    expect(await dialog.getByRole('heading').textContent()).toBe('Confirm: Retry now');
    await shot('9-ops-confirm');
    expect(await seriousViolations(page)).toEqual([]);
    await dialog.getByRole('button', { name: 'Confirm' }).click();
    await page.getByRole('status').waitFor({ timeout: WAIT });
    // The page reads the run again while it runs: it completes without a reload.
    await shows(page.locator('[data-field="status"]'), 'completed');
    expect(await page.locator('table.timeline tr[data-kind="activity_completed"]').count()).toBeGreaterThan(0);

    // One holding run cancelled: the confirmation, then the timeline names who did it.
    await page.goto(`${base}/#/ops/runs/${encodeURIComponent(holds[0]!)}`);
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    await shows(page.locator('[data-field="status"]'), 'cancelled');
    await shows(page.locator('table.timeline tr[data-kind="cancel_requested"] td').nth(3), 'test ops');
    // Terminate asks for a reason before it can be confirmed (on a run still holding).
    await page.goto(`${base}/#/ops/runs/${encodeURIComponent(holds[1]!)}`);
    await page.getByRole('button', { name: 'Terminate' }).click();
    const confirm = page.getByRole('dialog').getByRole('button', { name: 'Confirm' });
    expect(await confirm.isDisabled()).toBe(true);
    await page.getByRole('dialog').getByRole('button', { name: 'Go back' }).click();
    await page.getByRole('dialog').waitFor({ state: 'hidden', timeout: WAIT });

    // Bulk: the two runs still holding, counted by a dry run, then their waits skipped with a live progress bar.
    await page.getByRole('link', { name: '← All runs' }).click();
    await page.getByLabel('Journey id').fill('hold-browser');
    await page.getByLabel('Only stuck runs').uncheck();
    await page.getByRole('button', { name: 'Refresh' }).click();
    await page.locator(`tr[data-run="${holds[1]}"]`).waitFor({ timeout: WAIT });
    expect(await page.locator('table.runlist tbody tr').count()).toBe(2);
    await page.getByLabel('Action').selectOption({ label: 'Skip the wait' });
    await page.getByRole('button', { name: 'Count (dry run)' }).click();
    await page.getByText('2 runs would be affected.').waitFor({ timeout: WAIT });
    // Nothing changed yet.
    expect((await Promise.all(holds.slice(1).map(projection))).map((r) => r.currentStep)).toEqual(['hold', 'hold']);
    await page.getByRole('button', { name: 'Apply to 2 runs…' }).click();
    expect(await page.getByRole('dialog').textContent()).toContain('This acts on 2 runs.');
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    await page.getByText('2 done, 0 skipped, 0 failed of 2.').waitFor({ timeout: WAIT });
    expect(await page.locator('progress').getAttribute('value')).toBe('2');
    await shot('10-ops-bulk');
    expect(await seriousViolations(page)).toEqual([]);
    for (const id of holds.slice(1)) await until(`${id} ended`, async () => ((await projection(id)).status !== 'running' ? true : undefined));

    await page.getByLabel('Language').selectOption('zh-CN');
    await page.getByRole('heading', { name: '运行', level: 1 }).waitFor({ timeout: WAIT });
    expect(await seriousViolations(page)).toEqual([]);
    await page.getByLabel('语言').selectOption('en');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key').waitFor({ timeout: WAIT });
    expect(problems).toEqual([]);
  });

  it('shows each role only what it may do', async () => {
    const other = await browser.newContext({ locale: 'zh-CN' });
    const p = await other.newPage();
    try {
      // The browser's language picks the interface language.
      await p.goto(base);
      await p.getByLabel('API 密钥').waitFor({ timeout: WAIT });
      await p.getByLabel('API 密钥').fill(stack.keys.marketer);
      await p.getByRole('button', { name: '登录' }).click();
      await p.locator('tr[data-journey="trial-browser"]').waitFor({ timeout: WAIT });
      await p.goto(`${base}/#/journeys/trial-browser`);
      // A marketer has no ops page (the dashboard, yes).
      expect(await p.getByRole('navigation').getByRole('link').allTextContents()).toEqual(['旅程', '新建旅程', '联系人', '看板']);
      await p.locator('.react-flow__node[data-id="wait-demo"]').click({ timeout: WAIT });
      // A marketer may not list runs (the API says 403): the page says so instead of offering it.
      await p.getByText('查看运行列表需要 ops 或 admin 角色。').waitFor({ timeout: WAIT });
      await p.getByRole('button', { name: '退出登录' }).click();

      await p.getByLabel('API 密钥').fill(stack.keys.ops);
      await p.getByRole('button', { name: '登录' }).click();
      // Ops has no journey pages: it starts on the runs, and may read contacts.
      await p.getByRole('heading', { name: '运行', level: 1 }).waitFor({ timeout: WAIT });
      expect(await p.getByRole('navigation').getByRole('link').allTextContents()).toEqual(['联系人', '运维', '看板']);
      expect(await seriousViolations(p)).toEqual([]);
    } finally {
      await other.close();
    }
  });
});
