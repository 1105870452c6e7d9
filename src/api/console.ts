import { existsSync } from 'node:fs';
import path from 'node:path';
import express, { type Express, type RequestHandler } from 'express';
import { CONSOLE_DIST } from '../paths';

/** What `/` answers when the console was never built (e.g. `npm ci --ignore-scripts`), in both languages. */
export const CONSOLE_MISSING =
  'The itinera web console has not been built. Run `npm run console:build` (npm install and npm ci run it too), then reload.\n' +
  'itinera 网页控制台尚未构建。请运行 `npm run console:build`（npm install 和 npm ci 也会运行它），然后刷新页面。\n' +
  'The API is running: see /docs. / API 正在运行：参见 /docs。\n';

/**
 * The built console at `/`, same origin as the API (so its session cookie is SameSite=Strict and its calls need no
 * CORS). The page is a static bundle with no inline script, so the app-wide CSP (`script-src 'self'`) holds. Hashed
 * assets are cached for a year; index.html is revalidated so a new build shows at once. The folder is looked up per
 * request: building while the API runs needs no restart.
 */
export function mountConsole(app: Express, opts: { dist?: string; limit: RequestHandler }): void {
  const dist = opts.dist ?? CONSOLE_DIST;
  const index = path.join(dist, 'index.html');
  app.use('/assets', opts.limit, express.static(path.join(dist, 'assets'), { index: false, immutable: true, maxAge: '365d' }));
  app.get('/', opts.limit, (_req, res) => {
    if (!existsSync(index)) {
      res.status(503).type('text/plain; charset=utf-8').set('Cache-Control', 'no-store').send(CONSOLE_MISSING);
      return;
    }
    res.set('Cache-Control', 'no-cache').sendFile(index);
  });
}
