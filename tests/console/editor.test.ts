/**
 * The journey editor in a real browser (Debian's chromium via playwright-core) against the real stack: write a
 * journey with an error and see it inline at its line, complete from the journey schema and the server's templates,
 * fix it, compare with the published version, publish behind a confirmation, and run the simulator with a contact
 * found by search and with one described, the path highlighted on the graph, times in the journey's zone, and the
 * next fires of a cron trigger. Screenshots in test-artifacts/console/ (gitignored); axe-core on each state.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import request from 'supertest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startTestStack, type TestStack } from '../helpers/stack';
import { scaled } from '../helpers/timing';
import { buildConsole, launchChromium, screenshot, seriousViolations, shows, signInAs, WAIT, watchProblems } from '../helpers/browser';

const v1 = `id: editor-browser
name: Editor test
triggers:
  - type: event
    event: trial.started
settings:
  timezone: Asia/Shanghai
start: wait-demo
steps:
  wait-demo:
    type: wait_for_event
    event: demo.booked
    timeout: 2d
    on_event: booked
    on_timeout: nudge
  nudge:
    type: send_email
    template: welcome
    next: done
  booked:
    type: exit
    reason: booked
  done:
    type: exit
    reason: nudged
`;
/** Line 13 is `    timeout: 2 dayz`: the compiler's error is there, at column 14. */
const broken = v1.replace('timeout: 2d', 'timeout: 2 dayz');
const v2 = v1
  .replace('timeout: 2d', 'timeout: 3d')
  .replace('    template: welcome\n    next: done', '    template: welcome\n    next: mark')
  .replace('  booked:\n', '  mark:\n    type: tag\n    tags: [nudged]\n    next: done\n  booked:\n');
/**
 * v2 with a weekday-morning schedule, and the wait taking only a booking of the pro plan: simulated (from the saved
 * draft), never published, so no Temporal Schedule.
 */
const withCron = v2
  .replace('    event: trial.started\n', '    event: trial.started\n  - type: schedule\n    cron: "0 9 * * 1-5"\n    timezone: Asia/Shanghai\n')
  .replace('    event: demo.booked\n', '    event: demo.booked\n    where: { plan: pro }\n');

describe('the journey editor in a real browser', () => {
  let stack: TestStack;
  let server: Server;
  let base: string;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    const dist = buildConsole();
    stack = await startTestStack({ consoleDist: dist });
    server = await new Promise<Server>((resolve) => {
      const s = stack.app.listen(0, '127.0.0.1', () => resolve(s));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const as = { Authorization: `Bearer ${stack.keys.marketer}` };
    await request(stack.app).post('/v1/journeys').set(as).set('content-type', 'application/yaml').send(v1).expect(201);
    await request(stack.app).post('/v1/journeys/editor-browser/publish').set(as).expect(201);
    browser = await launchChromium();
  });
  // A browser context per test: one failing half-way leaves the next its own sign-in.
  let context: BrowserContext;
  beforeEach(async () => {
    context = await browser.newContext({ locale: 'en-US', viewport: { width: 1400, height: 1000 } });
    page = await context.newPage();
    watchProblems(page, problems);
  });
  afterEach(async () => {
    await context?.close();
  });
  afterAll(async () => {
    await browser?.close();
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
    await stack?.stop();
  });

  const shot = (name: string) => screenshot(page, name);
  const editor = () => page.getByRole('textbox', { name: 'Journey YAML' });
  /** Replaces the editor's text as one input (as a paste would), so CodeMirror's auto-indent leaves it as written. */
  const replaceText = async (text: string) => {
    await editor().click();
    await page.keyboard.press('ControlOrMeta+a');
    await page.keyboard.insertText(text);
  };
  const completions = async () => {
    await page.locator('.cm-tooltip-autocomplete').waitFor({ timeout: WAIT });
    return page.locator('.cm-tooltip-autocomplete .cm-completionLabel').allTextContents();
  };
  const validation = () => page.locator('[data-validation]');

  it('shows an error at its line as you type, completes from the schema, diffs, publishes and simulates the path on the graph', { timeout: scaled(240_000) }, async () => {
    // From the journey's page.
    await page.goto(`${base}/#/journeys/editor-browser`);
    await signInAs(page, stack.keys.marketer);
    await page.getByRole('link', { name: 'Edit', exact: true }).click();
    await editor().waitFor({ timeout: WAIT });
    // The published text, checked as it loads: no error, and the same as v1.
    await shows(validation(), 'No errors; the same as the published v1.');
    expect(await page.locator('[data-problem="error"]').count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Publish…' }).isDisabled()).toBe(true);
    await page.locator('.react-flow__node[data-id="wait-demo"]').waitFor({ timeout: WAIT });

    // Completion: step types from the schema's union, template names from the server's catalog.
    await editor().click();
    await page.keyboard.press('ControlOrMeta+End');
    await page.keyboard.insertText('  later:\n    type: ');
    await page.keyboard.type('wa');
    expect(await completions()).toEqual(expect.arrayContaining(['wait', 'wait_for_event']));
    expect(await completions()).not.toContain('send_email');
    await page.keyboard.press('Escape');
    await replaceText(`${v1}  later:\n    type: send_email\n    `);
    await page.keyboard.type('te');
    // A send_email step's keys (`type` is there already), not a wait's or a wait_for_event's.
    const keys = await completions();
    expect(keys).toContain('template');
    expect(keys).not.toContain('until_date');
    expect(keys).not.toContain('on_timeout');
    await page.locator('.cm-tooltip-autocomplete li').filter({ has: page.locator('.cm-completionLabel', { hasText: /^template$/ }) }).click();
    const line28 = page.locator('.cm-line').nth(27);
    await shows(line28, '    template: ');
    await page.keyboard.type('we');
    // Asked for (Ctrl-Space), as a busy machine may type faster than the list opens by itself.
    await page.keyboard.press('Control+Space');
    expect(await completions()).toContain('welcome');
    await page.keyboard.press('Escape');
    expect(await line28.textContent()).toBe('    template: we');

    // An error, typed: shown at its line and column, in the text and in the list, and publishing is blocked.
    await replaceText(broken);
    // (The list keeps the previous text's verdict until this text's arrives: wait for this one.)
    const problem = page.locator('[data-problem="error"]');
    await page.locator('[data-problem="error"][data-line="13"]').waitFor({ timeout: WAIT });
    expect(await problem.count()).toBe(1);
    expect(await problem.getAttribute('data-line')).toBe('13');
    expect(await problem.getAttribute('data-column')).toBe('14');
    expect(await problem.textContent()).toMatch(/^Line 13:14 steps\.wait-demo\.timeout: "2 dayz" is not a duration/);
    const marked = page.locator('.cm-line').nth(12).locator('.cm-lintRange-error');
    await marked.waitFor({ timeout: WAIT });
    expect(await marked.textContent()).toBe('2 dayz');
    expect(await page.locator('.cm-gutter-lint .cm-lint-marker-error').count()).toBe(1);
    expect(await validation().textContent()).toBe('1 error(s): publishing is blocked until they are fixed.');
    expect(await page.getByRole('button', { name: 'Publish…' }).isDisabled()).toBe(true);
    await shot('20-editor-error');
    expect(await seriousViolations(page)).toEqual([]);
    // The list moves the cursor to the error.
    await problem.getByRole('button').click();
    expect(await page.locator('.cm-activeLine').textContent()).toBe('    timeout: 2 dayz');

    // Fixed (and changed): no error, and the changes against v1 marked in the editor.
    await replaceText(v2);
    await shows(validation(), 'No errors: ready to publish.');
    expect(await page.locator('[data-problem="error"]').count()).toBe(0);
    // The graph follows the typing: the new tag step is drawn before anything is saved.
    await page.getByRole('figure', { name: 'Plan of editor-browser as typed (not saved)' }).waitFor({ timeout: WAIT });
    await page.locator('.react-flow__node[data-id="mark"]').waitFor({ timeout: WAIT });
    await page.getByRole('button', { name: 'Compare with v1' }).click();
    const diffCount = page.locator('[data-diff-count]');
    await diffCount.waitFor({ timeout: WAIT });
    expect(Number(await diffCount.getAttribute('data-diff-count'))).toBeGreaterThanOrEqual(2);
    expect(await page.locator('.cm-changedLine').count()).toBeGreaterThan(0);
    expect(await page.locator('.cm-deletedChunk').first().textContent()).toContain('timeout: 2d');
    await shot('21-editor-diff');
    expect(await seriousViolations(page)).toEqual([]);

    // Publish: saved as the draft, the plan's changes in the confirmation, then v2 on the graph.
    await page.getByRole('button', { name: 'Publish…' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor({ timeout: WAIT });
    expect(await dialog.getByRole('heading').textContent()).toBe('Publish Editor test?');
    const diffText = await dialog.locator('[data-diff-text]').textContent();
    expect(diffText).toContain('steps.wait-demo');
    expect(diffText).toContain('mark');
    await shot('22-editor-publish');
    expect(await seriousViolations(page)).toEqual([]);
    await dialog.getByRole('button', { name: 'Confirm' }).click();
    await shows(page.locator('[data-notice]'), 'Published as v2.');
    await page.getByRole('figure', { name: 'Journey plan of editor-browser, version 2' }).waitFor({ timeout: WAIT });
    await page.locator('.react-flow__node[data-id="mark"]').waitFor({ timeout: WAIT });
    const published = (await request(stack.app).get('/v1/journeys/editor-browser/versions/2').set('Authorization', `Bearer ${stack.keys.marketer}`).expect(200)).body;
    expect(published.source).toBe(v2);
    // Compared with v2 now: nothing differs.
    await shows(diffCount, 'No changes from v2.');
    await shows(validation(), 'No errors; the same as the published v2.');
    expect(await page.getByRole('button', { name: 'Publish…' }).isDisabled()).toBe(true);

    // The simulator: a contact found by search, no events — the wait times out after 3 days, the email and the tag follow.
    await request(stack.app)
      .put('/v1/contacts/crm-sim')
      .set('Authorization', `Bearer ${stack.keys.integration}`)
      .send({ firstName: 'Simone', lastName: 'Wu', email: 'simone.wu@example.com', tags: ['vip'], consent: { email: 'opted_in' } })
      .expect(201);
    await replaceText(withCron);
    await shows(validation(), 'No errors: ready to publish.');
    await page.getByLabel('Name or email').fill('Simone');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('button', { name: /^Simone Wu/ }).click();
    await page.getByText('Simulating Simone Wu (tags: vip).').waitFor({ timeout: WAIT });
    await page.getByRole('button', { name: 'Run the simulation' }).click();
    const rows = page.locator('[data-sim-result] tr[data-path-step]');
    await rows.first().waitFor({ timeout: WAIT });
    expect(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-path-step')))).toEqual(['wait-demo', 'nudge', 'mark', 'done']);
    // Times in the journey's zone, named.
    expect(await page.locator('table.sim-path caption').textContent()).toBe("Path; times in Asia/Shanghai (the journey's time zone)");
    expect(await rows.nth(1).locator('td').nth(1).textContent()).toMatch(/GMT\+8$/);
    expect(await rows.nth(1).locator('td').nth(2).textContent()).toBe('+3d');
    expect(await page.locator('[data-outcome]').getAttribute('data-outcome')).toBe('completed');
    // The path on the graph: its steps numbered, the edges between them drawn, the step it skipped not.
    const node = (id: string) => page.locator(`.react-flow__node[data-id="${id}"] .step`);
    await node('nudge').and(page.locator('.on-path')).waitFor({ timeout: WAIT });
    expect(await node('wait-demo').getAttribute('data-visits')).toBe('1');
    expect(await node('done').getAttribute('data-visits')).toBe('4');
    expect(await node('booked').getAttribute('class')).not.toContain('on-path');
    expect(await page.locator('.react-flow__edge.on-path').count()).toBe(3);
    // The cron trigger's next five fires, at 09:00 in its zone.
    const fires = page.locator('[data-schedule="1"] li');
    expect(await fires.count()).toBe(5);
    for (const f of await fires.allTextContents()) expect(f).toMatch(/9:00:00\sAM GMT\+8$/);
    expect(await page.locator('[data-schedule="1"] h3').textContent()).toBe('Next launches of trigger 2 (0 9 * * 1-5, Asia/Shanghai)');
    // Simulating saved the text as the draft; nothing was published.
    const detail = (await request(stack.app).get('/v1/journeys/editor-browser').set('Authorization', `Bearer ${stack.keys.marketer}`).expect(200)).body;
    expect(detail).toMatchObject({ latestVersion: { version: 2 }, draft: { source: withCron, publishedAs: null } });
    await shot('23-editor-simulated');
    expect(await seriousViolations(page)).toEqual([]);

    // A described contact and a timeline: properties that do not parse name their row and nothing runs.
    await page.getByLabel('Describe one').check();
    await page.getByLabel('Email', { exact: true }).fill('someone@example.com');
    await page.getByLabel('Event 1 type').fill('demo.booked');
    await page.getByLabel('Event 1 after').fill('2h');
    await page.getByLabel('Event 1 properties').fill('plan');
    await page.getByRole('button', { name: 'Run the simulation' }).click();
    await shows(page.locator('.simulator [role="alert"]'), 'Event 1 properties: "plan" has no "=". Write key=value pairs separated by ";" or a JSON object, e.g. {"link": "product-a"}.');
    // key=value pairs: the pro plan's booking after 2 hours matches the wait's `where` and takes the other way.
    await page.getByLabel('Event 1 properties').fill('plan=pro; seats=3');
    await page.getByRole('button', { name: 'Run the simulation' }).click();
    await page.locator('[data-sim-result] tr[data-path-step="booked"]').waitFor({ timeout: WAIT });
    // A booking of another plan (as JSON) does not: the path is the timeout's, as with no event.
    await page.getByLabel('Event 1 properties').fill('{"plan": "basic"}');
    await page.getByRole('button', { name: 'Run the simulation' }).click();
    await page.locator('[data-sim-result] tr[data-path-step="mark"]').waitFor({ timeout: WAIT });
    expect(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-path-step')))).toEqual(['wait-demo', 'nudge', 'mark', 'done']);
    await page.getByLabel('Event 1 properties').fill('{"plan": "pro"}');
    await page.getByRole('button', { name: 'Run the simulation' }).click();
    await page.locator('[data-sim-result] tr[data-path-step="booked"]').waitFor({ timeout: WAIT });
    expect(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-path-step')))).toEqual(['wait-demo', 'booked']);
    expect(await rows.nth(1).locator('td').nth(2).textContent()).toBe('+2h');
    await node('booked').and(page.locator('.on-path')).waitFor({ timeout: WAIT });
    expect(await node('nudge').getAttribute('class')).not.toContain('on-path');
    expect(await page.locator('.react-flow__edge.on-path').count()).toBe(1);

    await page.getByLabel('Language').selectOption('zh-CN');
    await page.getByRole('heading', { name: '模拟器' }).waitFor({ timeout: WAIT });
    expect(await page.locator('table.sim-path caption').textContent()).toBe('路径；时间为 Asia/Shanghai（旅程的时区）');
    await shot('24-editor-zh');
    expect(await seriousViolations(page)).toEqual([]);
    await page.getByLabel('语言').selectOption('en');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key').waitFor({ timeout: WAIT });
    expect(problems).toEqual([]);
  });

  it('creates a new journey as a draft from the editor', async () => {
    await page.goto(base);
    await signInAs(page, stack.keys.admin);
    await page.getByRole('navigation').getByRole('link', { name: 'New journey' }).click();
    await page.getByRole('heading', { name: 'New journey', level: 1 }).waitFor({ timeout: WAIT });
    await editor().waitFor({ timeout: WAIT });
    await replaceText(v1.replace('id: editor-browser', 'id: editor-new').replace('name: Editor test', 'name: Written in the browser'));
    await shows(validation(), 'No errors: ready to publish.');
    await page.getByRole('button', { name: 'Create draft' }).click();
    await page.getByRole('heading', { name: 'Edit Written in the browser (editor-new)' }).waitFor({ timeout: WAIT });
    expect(await page.evaluate('location.hash')).toBe('#/edit/editor-new');
    const detail = (await request(stack.app).get('/v1/journeys/editor-new').set('Authorization', `Bearer ${stack.keys.marketer}`).expect(200)).body;
    expect(detail).toMatchObject({ status: 'draft', versions: [], draft: { publishedAs: null } });
    expect(detail.draft.source).toContain('name: Written in the browser');
    // Never published: nothing to compare with, and the draft drawn.
    expect(await page.getByRole('button', { name: /^Compare with/ }).count()).toBe(0);
    await page.locator('.react-flow__node[data-id="nudge"]').waitFor({ timeout: WAIT });
    expect(await page.getByRole('figure').getAttribute('aria-label')).toBe('Draft plan of editor-new');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key').waitFor({ timeout: WAIT });
    expect(problems).toEqual([]);
  });
});
