/**
 * The console's dashboard, labelled time zones and the replay check, in a real browser (Debian's chromium via
 * playwright-core) against the real stack: the API on a real port, Postgres, the Temporal dev server, a worker, the
 * SMTP sink and the SMS outbox. The figures come from real events and real sends, never from rows written by hand.
 * The viewer is in Europe/Berlin; the journey's zone is Asia/Shanghai, so the two can be told apart on every page.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { startTestStack, type TestStack } from '../helpers/stack';
import { until } from '../helpers/until';
import { buildConsole, LABELLED_TIME, launchChromium, screenshot, seriousViolations, signInAs, WAIT, watchProblems } from '../helpers/browser';

const VIEWER_ZONE = 'Europe/Berlin';
const JOURNEY_ZONE = 'Asia/Shanghai';

/** An email, an SMS, then an hour's wait, in the journey's own zone. */
const journey = `
id: dash-browser
name: Dashboard journey
triggers: [{ type: event, event: signup.dash }]
settings: { timezone: ${JOURNEY_ZONE} }
start: hello
steps:
  hello: { type: send_email, template: welcome, next: text }
  text: { type: send_sms, body: "Hi {{contact.first_name}}", next: hold }
  hold: { type: wait, duration: 1h, next: done }
  done: { type: exit }
`;

describe('the dashboard, time zones and the replay check in a real browser', () => {
  let stack: TestStack;
  let server: Server;
  let base: string;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const problems: string[] = [];
  let n = 0;
  const integration = () => ({ Authorization: `Bearer ${stack.keys.integration}` });
  const marketer = () => ({ Authorization: `Bearer ${stack.keys.marketer}` });
  const send = (type: string, who: string, at: Date, contact: Record<string, unknown> = {}) =>
    request(stack.app)
      .post('/v1/events')
      .set(integration())
      .send({ id: `dash-${++n}`, type, occurredAt: at.toISOString(), contact: { externalId: who, ...contact } })
      .expect(202);

  beforeAll(async () => {
    stack = await startTestStack({ consoleDist: buildConsole() });
    server = await new Promise<Server>((resolve) => {
      const s = stack.app.listen(0, '127.0.0.1', () => resolve(s));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await launchChromium();
    context = await browser.newContext({ locale: 'en-US', timezoneId: VIEWER_ZONE, viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    watchProblems(page, problems);
  });
  afterAll(async () => {
    await browser?.close();
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
    await stack?.stop();
  });

  const shot = (name: string) => screenshot(page, name);
  const text = async (l: Locator) => (await l.textContent())?.trim() ?? '';

  it('shows the lifecycle funnel and response times from real events, and messages by channel from real sends', async () => {
    // Three leads two hours ago; two become MQLs; sales touches one of them 20 minutes later; it becomes an SQL. The
    // journey's two contacts below are leads too: five leads in all.
    const t0 = Date.now() - 2 * 3600_000;
    const at = (min: number) => new Date(t0 + min * 60_000);
    await send('lead.created', 'dash-a', at(0));
    await send('lead.created', 'dash-b', at(1));
    await send('lead.created', 'dash-c', at(2));
    await send('form.submitted', 'dash-a', at(10), { lifecycleStage: 'mql' });
    await send('form.submitted', 'dash-b', at(11), { lifecycleStage: 'mql' });
    await send('sales.touched', 'dash-a', at(30));
    await send('crm.qualified', 'dash-a', at(40), { lifecycleStage: 'sql' });

    // Two contacts enter the journey: an email and an SMS each, through the SMTP sink and the outbox.
    await request(stack.app).post('/v1/journeys').set(marketer()).set('content-type', 'application/yaml').send(journey).expect(201);
    await request(stack.app).post('/v1/journeys/dash-browser/publish').set(marketer()).expect(201);
    for (const [who, first] of [
      ['dash-m1', 'Lan'],
      ['dash-m2', 'Wei'],
    ] as const) {
      await request(stack.app)
        .put(`/v1/contacts/${who}`)
        .set(integration())
        .send({ email: `${who}@example.com`, phone: `+86139000000${who.endsWith('1') ? '11' : '22'}`, firstName: first, consent: { email: 'opted_in', sms: 'opted_in' } })
        .expect(201);
      await request(stack.app).post('/v1/events').set(integration()).send({ id: `dash-signup-${who}`, type: 'signup.dash', contact: { externalId: who } }).expect(202);
    }
    const volume = () => request(stack.app).get('/v1/analytics/messages').query({ timeZone: VIEWER_ZONE }).set(marketer()).expect(200);
    await until('two emails and two SMS sent', async () => {
      const c = (await volume()).body.channels;
      return c.email?.byStatus.sent === 2 && (c.sms?.total ?? 0) === 2 && Object.keys(c.sms.byStatus).every((s) => s !== 'reserved') ? true : undefined;
    });
    const api = (await volume()).body;

    await page.goto(base);
    await page.getByLabel('API key').waitFor({ timeout: WAIT });
    await signInAs(page, stack.keys.marketer);
    await page.getByRole('navigation').getByRole('link', { name: 'Dashboard' }).click();
    await page.getByRole('heading', { name: 'Dashboard', level: 1 }).waitFor({ timeout: WAIT });

    // The funnel: five leads, two MQLs, one SQL (every contact entered in the period).
    const funnel = page.locator('[data-panel="funnel"]');
    await funnel.locator('[data-funnel-step="lead"]').waitFor({ timeout: WAIT });
    const bar = (stage: string) => text(funnel.locator(`[data-funnel-step="${stage}"] [data-funnel-value]`));
    expect(await bar('lead')).toBe('5 · 100%');
    expect(await bar('mql')).toBe('2 · 40%');
    expect(await bar('sql')).toBe('1 · 20%');
    expect(await bar('customer')).toBe('0 · 0%');
    expect(await text(funnel.locator('tr[data-stage="lead"] td').nth(1))).toBe('40%');
    expect(await text(funnel.locator('tr[data-stage="mql"] td').nth(1))).toBe('50%');

    // Response times: two MQLs, one touched 20 minutes after it became an MQL.
    const response = page.locator('[data-panel="response"]');
    expect(await text(response.locator('[data-field="mqls"]'))).toBe('2');
    expect(await text(response.locator('[data-field="touched"]'))).toBe('1');
    expect(await text(response.locator('tr[data-leg="legMqlToTouch"] [data-median]'))).toBe('20 min');

    // Messages by channel, per day of the viewer's zone: the totals the API gives, in the legend and the columns.
    const chart = page.locator('[data-panel="messages"]');
    expect(await chart.locator('[data-zone]').getAttribute('data-zone')).toBe(VIEWER_ZONE);
    expect(await text(chart.locator('[data-zone]'))).toBe(`Times in ${VIEWER_ZONE}.`);
    expect(await text(chart.locator('[data-channel-total="email"]'))).toBe('Email: 2');
    expect(await text(chart.locator('[data-channel-total="sms"]'))).toBe('SMS: 2');
    const drawn = async (channel: string) => (await chart.locator(`rect[data-channel="${channel}"]`).evaluateAll((rs) => rs.map((r) => Number(r.getAttribute('data-count'))))).reduce((a, b) => a + b, 0);
    expect(await drawn('email')).toBe(2);
    expect(await drawn('sms')).toBe(2);
    // The columns are the API's buckets: local midnights in Berlin.
    const starts = await chart.locator('g[data-bucket]').evaluateAll((gs) => gs.map((g) => g.getAttribute('data-bucket')));
    expect(starts).toEqual(expect.arrayContaining(api.buckets.slice(1).map((b: { start: string }) => b.start)));
    for (const s of starts.slice(1)) expect(new Intl.DateTimeFormat('en-GB', { timeZone: VIEWER_ZONE, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(new Date(s!))).toBe('00:00');
    // The period's ends are labelled with the viewer's zone.
    expect(await text(page.locator('[data-range]'))).toMatch(new RegExp(`^From .+ \\(${VIEWER_ZONE}\\) to .+ \\(${VIEWER_ZONE}\\)$`));
    await chart.getByText('Show the numbers as a table').click();
    expect(await text(chart.locator('table.volume tbody tr').first().locator('td').first())).toMatch(LABELLED_TIME);
    await shot('10-dashboard');
    expect(await seriousViolations(page)).toEqual([]);

    await page.getByLabel('Language').selectOption('zh-CN');
    await page.getByRole('heading', { name: '看板', level: 1 }).waitFor({ timeout: WAIT });
    expect(await text(chart.locator('[data-channel-total="email"]'))).toBe('邮件: 2');
    expect(await text(response.locator('tr[data-leg="legMqlToTouch"] [data-median]'))).toBe('20分钟');
    await shot('11-dashboard-zh');
    expect(await seriousViolations(page)).toEqual([]);
    await page.getByLabel('语言').selectOption('en');
    expect(problems).toEqual([]);
  });

  it("shows a journey's times in its zone and other times in the viewer's, labelled", async () => {
    await page.goto(`${base}/#/journeys/dash-browser`);
    const option = page.locator('.toolbar select option').first();
    await option.waitFor({ state: 'attached', timeout: WAIT });
    await until('the plan (and its zone) loaded', async () => ((await text(option)).endsWith(`(${JOURNEY_ZONE})`) ? true : undefined));
    expect(await text(option)).toMatch(new RegExp(`^v1 · \\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2} \\(${JOURNEY_ZONE}\\)$`));
    const refreshed = page.locator('.refreshed');
    await until('the counts refreshed', async () => ((await text(refreshed)).includes(JOURNEY_ZONE) ? true : undefined));

    // The contact's 360° view has no one journey in context: the viewer's zone.
    const { body: contact } = await request(stack.app).get('/v1/contacts/dash-m1').set(integration()).expect(200);
    await page.goto(`${base}/#/contacts/${contact.id}`);
    const hint = page.locator('.contact > p.hint');
    await hint.waitFor({ timeout: WAIT });
    expect(await text(hint)).toContain(`Times in ${VIEWER_ZONE}.`);
    await page.locator('[data-section="messages"] tbody tr').first().waitFor({ timeout: WAIT });
    const messageTimes = (await page.locator('[data-section="messages"] tbody tr td:nth-child(5)').allTextContents()).filter((t) => t !== '—');
    expect(messageTimes.length).toBeGreaterThan(0);
    for (const t of messageTimes) expect(t).toMatch(new RegExp(`\\(${VIEWER_ZONE}\\)$`));
    await shot('12-contact-zone');

    // A run's page is in its journey's zone: the hint, the start and every timeline entry.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await signInAs(page, stack.keys.ops);
    const workflowId = contact.journeys[0].workflowId as string;
    await page.goto(`${base}/#/ops/runs/${encodeURIComponent(workflowId)}`);
    const zoneHint = page.locator('.run p.hint[data-zone]');
    await zoneHint.waitFor({ timeout: WAIT });
    expect(await zoneHint.getAttribute('data-zone')).toBe(JOURNEY_ZONE);
    expect(await text(zoneHint)).toBe(`Times in ${JOURNEY_ZONE}.`);
    const entries = await page.locator('table.timeline tbody tr td:first-child').allTextContents();
    expect(entries.length).toBeGreaterThan(2);
    for (const t of entries) {
      expect(t).toMatch(LABELLED_TIME);
      expect(t).toMatch(new RegExp(`:\\d{2}:\\d{2} \\(${JOURNEY_ZONE}\\)$`));
    }
    // The same instant as the API's, written in Shanghai time.
    const { body: run } = await request(stack.app).get(`/v1/runs/${encodeURIComponent(workflowId)}`).set({ Authorization: `Bearer ${stack.keys.ops}` }).expect(200);
    expect(run.timeZone).toBe(JOURNEY_ZONE);
    const shanghai = new Intl.DateTimeFormat('sv-SE', { timeZone: JOURNEY_ZONE, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
    expect(entries[0]).toBe(`${shanghai.format(new Date(run.timeline[0].at))} (${JOURNEY_ZONE})`);
    await shot('13-run-zone');
    expect(await seriousViolations(page)).toEqual([]);
    expect(problems).toEqual([]);
  });

  it("runs the replay check from the ops page and reports each run", async () => {
    await page.goto(`${base}/#/ops`);
    const panel = page.locator('[data-panel="replay"]');
    await panel.waitFor({ timeout: WAIT });
    await panel.getByLabel('Journey to replay').fill('dash-browser');
    await panel.getByLabel('Runs, newest first').fill('5');
    await panel.getByRole('button', { name: 'Run the replay check' }).click();
    const totals = panel.locator('[data-replay-totals]');
    // Replaying builds the workflow bundle the first time: minutes on a loaded machine.
    await totals.waitFor({ timeout: WAIT * 6 });
    expect(await text(totals)).toBe('2 ok, 0 nondeterministic, 0 failed, 0 unavailable, 0 not replayed');
    expect(await panel.locator('tr[data-replay="ok"]').count()).toBe(2);
    const ids = await panel.locator('tr[data-replay] code').allTextContents();
    expect(ids).toHaveLength(2);
    for (const id of ids) expect(id).toMatch(/^journey:dash-browser:/);
    await shot('14-replay');
    expect(await seriousViolations(page)).toEqual([]);

    expect(problems).toEqual([]);
    // A journey that does not exist is answered in place.
    await panel.getByLabel('Journey to replay').fill('no-such-journey');
    await panel.getByRole('button', { name: 'Run the replay check' }).click();
    await panel.getByRole('alert').waitFor({ timeout: WAIT });
    expect(await text(panel.getByRole('alert'))).toMatch(/no-such-journey/);
    // That 404 (the response, and chromium's console line for it) was the point: nothing else went wrong.
    expect(problems).toEqual([expect.stringMatching(/404/), expect.stringMatching(/404/)]);
    expect(problems.some((p) => /^404 .*\/v1\/journeys\/no-such-journey\/replay$/.test(p))).toBe(true);
  });
});
