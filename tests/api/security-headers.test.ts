import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { buildApp } from '../../src/api/app';
import { applyTracking } from '../../src/channels/email/tracking';
import { dbTriggerSource } from '../../src/publishing/journeys';
import { createTestDatabase } from '../helpers/db';
import { connectTestTemporal, type TestTemporal } from '../helpers/temporal';

const SECRETS = ['s'.repeat(32)];

/** `Content-Security-Policy` as directive → sources. */
function csp(header: string | undefined): Map<string, string[]> {
  expect(header, 'Content-Security-Policy').toBeDefined();
  return new Map(header!.split(';').map((d) => d.trim().split(/\s+/)).filter((d) => d[0]).map(([name, ...sources]) => [name!, sources]));
}

/** Whether a CSP directive (falling back to default-src) lets the page load `url` from our own origin. */
function allows(policy: Map<string, string[]>, directive: string, url: string): boolean {
  const sources = policy.get(directive) ?? policy.get('default-src') ?? [];
  if (url.startsWith('data:')) return sources.includes('data:');
  // A path on our origin, or a relative URL resolved against it.
  if (/^[a-z][a-z0-9+.-]*:/i.test(url) || url.startsWith('//')) return sources.includes('*') || sources.some((s) => url.startsWith(s));
  return sources.includes("'self'");
}

describe('security headers on what we serve', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let temporal: TestTemporal;
  let app: ReturnType<typeof buildApp>;
  let unsubscribePath: string;

  beforeAll(async () => {
    [db, temporal] = await Promise.all([createTestDatabase(), connectTestTemporal()]);
    app = buildApp({ database: db, temporal: temporal.client, taskQueue: temporal.taskQueue, triggers: dbTriggerSource(db.db), signingSecrets: SECRETS });
    const mail = applyTracking(
      { html: '<p>hi</p>', text: 'hi' },
      { baseUrl: 'http://itinera.test', secrets: SECRETS, messageKey: 'm1', contactId: randomUUID(), kind: 'marketing', physicalAddress: '1 Main St' },
    );
    unsubscribePath = new URL(mail.unsubscribeUrl!).pathname;
  });
  afterAll(async () => {
    await temporal?.close();
    await db?.drop();
  });

  const expectHardened = (res: request.Response, what: string) => {
    const policy = csp(res.headers['content-security-policy']);
    expect(policy.get('default-src'), what).toEqual(["'self'"]);
    expect(policy.get('script-src'), what).toEqual(["'self'"]);
    expect(policy.get('object-src'), what).toEqual(["'none'"]);
    expect(policy.get('frame-ancestors'), what).toEqual(["'none'"]);
    expect(policy.get('form-action'), what).toEqual(["'self'"]);
    expect(res.headers['x-content-type-options'], what).toBe('nosniff');
    expect(res.headers['x-frame-options'], what).toBe('DENY');
    expect(res.headers['referrer-policy'], what).toBe('no-referrer');
    expect(res.headers['x-powered-by'], what).toBeUndefined();
  };

  it('on every HTML page: the docs, the unsubscribe page and its confirmation', async () => {
    const pages = [
      ['GET /docs', await request(app).get('/docs').expect(200)],
      ['GET /u/:token', await request(app).get(unsubscribePath).expect(200)],
      ['POST /u/:token', await request(app).post(unsubscribePath).type('form').send({ 'List-Unsubscribe': 'One-Click' }).expect(200)],
    ] as const;
    for (const [what, res] of pages) {
      expect(res.headers['content-type'], what).toMatch(/^text\/html/);
      expectHardened(res, what);
    }
    // The unsubscribe form posts back to us, which form-action 'self' allows.
    expect(pages[1][1].text).toContain(`action="${unsubscribePath}"`);
  });

  it('on everything else too, so no HTML route can be forgotten: errors, JSON, redirects', async () => {
    expectHardened(await request(app).get('/nope').expect(404), '404');
    expectHardened(await request(app).get('/u/not-a-valid-token').expect(400), 'invalid link');
    expectHardened(await request(app).get('/openapi.json').expect(200), 'openapi.json');
    expectHardened(await request(app).get('/v1/runs').expect(401), '401');
    // The pixel is shown inside mail clients' pages: it must not be refused as cross-origin.
    const pixel = await request(app).get('/t/o/not-a-valid-token').expect(200);
    expect(pixel.headers['cross-origin-resource-policy']).toBe('cross-origin');
  });

  it('the docs page still loads everything it needs under its policy', async () => {
    const page = await request(app).get('/docs').expect(200);
    const policy = csp(page.headers['content-security-policy']);
    const html = page.text;
    // No inline script and no inline event handler: script-src 'self' would block them.
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)];
    expect(scripts.length).toBeGreaterThan(0);
    for (const [, attrs, body] of scripts) {
      expect(body!.trim(), 'inline script').toBe('');
      const src = /\bsrc="([^"]+)"/.exec(attrs!)?.[1];
      expect(src && allows(policy, 'script-src', src), `script ${src}`).toBe(true);
      // nosniff: a script is run only when served with a JavaScript type.
      const js = await request(app).get(src!).expect(200);
      expect(js.headers['content-type'], src).toMatch(/^(application|text)\/javascript/);
    }
    expect(html).not.toMatch(/\son[a-z]+=/i);
    const styles = [...html.matchAll(/<link\b[^>]*rel="stylesheet"[^>]*href="([^"]+)"/gi)].map((m) => m[1]!);
    expect(styles.length).toBeGreaterThan(0);
    for (const href of styles) {
      expect(allows(policy, 'style-src', href), `stylesheet ${href}`).toBe(true);
      const css = await request(app).get(href).expect(200);
      expect(css.headers['content-type'], href).toMatch(/^text\/css/);
      // Images and fonts the stylesheet pulls in must be allowed too (Swagger UI's icons are data: URLs).
      const urls = [...css.text.matchAll(/url\(\s*["']?([^"')]+)["']?\s*\)/g)].map((m) => m[1]!);
      for (const u of urls) expect(allows(policy, /\.(woff2?|ttf|otf)$/.test(u) ? 'font-src' : 'img-src', u), `${href}: url(${u})`).toBe(true);
    }
    // What init.js loads: the OpenAPI document, fetched from our origin (connect-src).
    const init = await request(app).get('/docs/init.js').expect(200);
    const spec = /url:\s*'([^']+)'/.exec(init.text)?.[1];
    expect(spec && allows(policy, 'connect-src', spec)).toBe(true);
    await request(app).get(spec!).expect(200);
  });
});
