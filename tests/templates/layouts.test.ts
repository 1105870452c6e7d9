import { mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createSmtpMailer } from '../../src/channels/email/mailer';
import { upsertContactByExternalId } from '../../src/db/queries';
import { compileJourney } from '../../src/journey/compiler';
import { TEMPLATES_DIR } from '../../src/paths';
import { loadTemplateCatalog } from '../../src/templates/catalog';
import { createTemplateRenderer } from '../../src/templates/email';
import { compileLayouts } from '../../src/templates/layouts';
import { createRenderer } from '../../src/wiring/channels';
import { createTestDatabase } from '../helpers/db';
import { startSmtpSink } from '../helpers/smtp';

// Every call to MJML's compiler, counted: the real one runs underneath.
const mjmlCalls = vi.hoisted(() => ({ count: 0 }));
vi.mock('mjml', async (importOriginal) => {
  const real = ((await importOriginal()) as { default: (...args: unknown[]) => Promise<unknown> }).default;
  return {
    default: (...args: unknown[]) => {
      mjmlCalls.count++;
      return real(...args);
    },
  };
});
// Imported after the mock: the helper compiles the sample layouts at import.
const { emailTestActivities, welcomeSend } = await import('../helpers/email');

function tmpTemplates(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'itinera-layouts-'));
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    writeFileSync(join(dir, rel), content);
  }
  return dir;
}

const GOOD = `<mjml>
  <mj-body>
    <mj-section>
      <mj-column>
        <mj-text><a href="{{links.view_in_browser}}">view</a>{{{body}}}</mj-text>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>
`;
/** `mj-colum` on line 4: not an MJML element. */
const MISSPELT = GOOD.replace(/mj-column/g, 'mj-colum');
const SAMPLES = readdirSync(TEMPLATES_DIR).filter((n) => !n.startsWith('_') && statSync(join(TEMPLATES_DIR, n)).isDirectory());

const journeyUsing = (template: string) => `
id: layout-check
name: Layout check
triggers: [{ type: event, event: signup.done }]
start: send
steps:
  send: { type: send_email, template: ${template}, next: done }
  done: { type: exit }
`;

describe('MJML layouts: compiled when templates are loaded, never when mail is sent', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let smtp: Awaited<ReturnType<typeof startSmtpSink>>;
  beforeAll(async () => {
    [db, smtp] = await Promise.all([createTestDatabase(), startSmtpSink()]);
  });
  afterAll(async () => {
    await smtp?.close();
    await db?.drop();
  });

  it('the sample layout is MJML, compiled once per process and source; rendering and sending every sample calls MJML no more', async () => {
    expect(readdirSync(join(TEMPLATES_DIR, '_layouts'))).toEqual(['base.mjml']);
    // A worker's start compiles the sample layout; loading it again (another renderer, each validate or publish the
    // API serves) reuses that result while the source is unchanged.
    const start = mjmlCalls.count;
    const renderer = await createRenderer();
    expect(mjmlCalls.count).toBe(start + 1);
    const before = mjmlCalls.count;
    await createRenderer();
    const catalog = await loadTemplateCatalog(TEMPLATES_DIR);
    expect(mjmlCalls.count).toBe(before);
    // A changed source compiles again, once.
    const dir = tmpTemplates({ '_layouts/base.mjml': GOOD, 'a/en/subject.hbs': 's', 'a/en/html.hbs': '{{!< base}}\n<p>x</p>' });
    await loadTemplateCatalog(dir);
    expect(mjmlCalls.count).toBe(before + 1);
    writeFileSync(join(dir, '_layouts', 'base.mjml'), GOOD.replace('view', 'view online'));
    await loadTemplateCatalog(dir);
    await loadTemplateCatalog(dir);
    expect(mjmlCalls.count).toBe(before + 2);
    expect(catalog.problems).toEqual([]);
    expect(catalog.layouts['base']).toEqual(expect.arrayContaining(['body', 'links.view_in_browser', 'message.locale', 'subject']));

    const compiled = mjmlCalls.count;
    for (const name of SAMPLES) {
      for (const locale of ['zh-CN', 'en']) {
        const r = renderer.render(name, locale, { first_name: 'Lin', links: { view_in_browser: 'https://v.example/1', preferences: 'https://p.example/1', unsubscribe: 'https://u.example/1' }, sender: { address: 'ACME · Shanghai' } });
        expect(r.html).toContain('<meta name="viewport"');
        expect(r.html).toContain(`<html lang="${locale}"`);
        expect(r.html).toContain('href="https://v.example/1"');
        expect(r.html).not.toMatch(/\{\{|<mj-/);
      }
    }
    // The send activity, through a real SMTP server, with the helper's renderer (layouts compiled by the global setup).
    const mailer = createSmtpMailer({ url: smtp.url });
    try {
      const acts = emailTestActivities(db.db, mailer, { baseUrl: 'http://itinera.test', secrets: ['l'.repeat(40)], physicalAddress: 'ACME Ltd · Shanghai' });
      const contact = await upsertContactByExternalId(db.db, { externalId: 'layout-1', email: 'layout@example.com', locale: 'zh-CN' });
      for (let i = 0; i < 3; i++) expect(await acts.sendEmail(welcomeSend(contact.id, `layout-${i}`))).toMatchObject({ status: 'sent' });
      const mails = await smtp.waitFor(3);
      expect(String(mails[0]!.parsed.html)).toContain('mj-column-per-100');
    } finally {
      await mailer.close();
    }
    expect(mjmlCalls.count).toBe(compiled);
  });

  it('an MJML error is a compiler error naming the file and MJML\'s line, for every journey using the layout', async () => {
    const dir = tmpTemplates({
      '_layouts/bad.mjml': MISSPELT,
      '_layouts/good.mjml': GOOD,
      'uses-bad/en/subject.hbs': 'Hi',
      'uses-bad/en/html.hbs': '{{!< bad}}\n<p>hello</p>',
      'uses-good/en/subject.hbs': 'Hi',
      'uses-good/en/html.hbs': '{{!< good}}\n<p>hello</p>',
    });
    const catalog = await loadTemplateCatalog(dir);
    const file = join(dir, '_layouts', 'bad.mjml');
    expect(catalog.problems).toEqual([{ file, line: 4, message: "MJML: Element mj-colum doesn't exist or is not registered" }]);
    const bad = compileJourney(journeyUsing('uses-bad'), { templates: catalog });
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.errors.map((e) => e.message)).toContainEqual(`layout file ${file}:4 does not compile: MJML: Element mj-colum doesn't exist or is not registered`);
    expect(compileJourney(journeyUsing('uses-good'), { templates: catalog }).ok).toBe(true);
    // A worker refuses to start with it, naming the file and line.
    await expect(createRenderer(dir)).rejects.toThrow(`${file}:4: MJML: Element mj-colum`);
  });

  it('not MJML at all, two layouts of one name, a Handlebars error in MJML: each a problem naming the file', async () => {
    const dir = tmpTemplates({
      '_layouts/plain.mjml': '<div>{{{body}}}</div>',
      '_layouts/twice.hbs': '<html>{{{body}}}</html>',
      '_layouts/twice.mjml': GOOD,
      '_layouts/broken.mjml': GOOD.replace('{{{body}}}', '{{#if body}}{{{body}}}'),
    });
    const { layouts, problems } = await compileLayouts(dir);
    expect(Object.keys(layouts).sort()).toEqual(['broken']);
    expect(problems).toEqual([
      { file: join(dir, '_layouts', 'plain.mjml'), message: expect.stringMatching(/^MJML: Malformed MJML/) },
      { file: join(dir, '_layouts', 'twice.mjml'), message: 'layout "twice" is defined twice (twice.hbs and twice.mjml); keep one' },
    ]);
    // MJML passes Handlebars through; the catalog parses what it produced.
    const catalog = await loadTemplateCatalog(dir);
    expect(catalog.problems.map((p) => p.file)).toContain(join(dir, '_layouts', 'broken.mjml'));
  });

  it('the renderer runs no MJML: given a directory with MJML layouts and no compiled ones, it refuses; .hbs layouts still work', async () => {
    const dir = tmpTemplates({ '_layouts/base.mjml': GOOD, 'a/en/subject.hbs': 's', 'a/en/html.hbs': '{{!< base}}\n<p>x</p>' });
    expect(() => createTemplateRenderer({ dir })).toThrow(/base\.mjml is an MJML layout: compile the layouts first/);
    const calls = mjmlCalls.count;
    const { layouts } = await compileLayouts(dir);
    const r = createTemplateRenderer({ dir, layouts });
    expect(mjmlCalls.count).toBe(calls + 1);
    expect(r.render('a', 'en', { links: { view_in_browser: 'https://v.example/a' } }).html).toMatch(/href="https:\/\/v\.example\/a">view<\/a><p>x<\/p>/);
    expect(mjmlCalls.count).toBe(calls + 1);
    const hbs = tmpTemplates({ '_layouts/base.hbs': '<main>{{{body}}}</main>', 'a/en/subject.hbs': 's', 'a/en/html.hbs': '{{!< base}}\n<p>x</p>' });
    expect(createTemplateRenderer({ dir: hbs }).render('a', 'en', {}).html).toBe('<main><p>x</p></main>');
    expect((await createRenderer(hbs)).render('a', 'en', {}).html).toBe('<main><p>x</p></main>');
  });
});
