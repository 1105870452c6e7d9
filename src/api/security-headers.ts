import type { RequestHandler } from 'express';
import helmet from 'helmet';

/**
 * The Content-Security-Policy of everything we serve. Our pages load scripts and styles only from our own origin —
 * the docs' Swagger UI bundle and its `init.js` (no inline script anywhere) — so scripts are `'self'` alone. Styles
 * keep `'unsafe-inline'`: Swagger UI sets style attributes and the unsubscribe pages carry a small `<style>`; CSS
 * cannot run code. Swagger UI's icons are `data:` images. No other origin is allowed for anything, nothing may frame
 * us, and forms post only back to us (the unsubscribe button).
 */
export const CONTENT_SECURITY_POLICY = {
  'default-src': ["'self'"],
  'base-uri': ["'self'"],
  'connect-src': ["'self'"],
  'font-src': ["'self'", 'data:'],
  'form-action': ["'self'"],
  'frame-ancestors': ["'none'"],
  'img-src': ["'self'", 'data:'],
  'object-src': ["'none'"],
  'script-src': ["'self'"],
  'script-src-attr': ["'none'"],
  'style-src': ["'self'", "'unsafe-inline'"],
} as const;

/**
 * helmet's headers on every response: CSP (above; helmet's default also upgrades insecure requests, which would
 * break the docs on the plain-HTTP development server, so it is left out), `X-Content-Type-Options: nosniff`,
 * `X-Frame-Options: DENY` with `frame-ancestors 'none'` (pages with an unsubscribe button must not be framed:
 * clickjacking), `Referrer-Policy: no-referrer` (a click redirect must not hand its signed URL to the destination),
 * and the rest of helmet's defaults. JSON answers get them too: harmless there, and no HTML route can be forgotten.
 */
export function securityHeaders(): RequestHandler {
  return helmet({
    contentSecurityPolicy: { useDefaults: false, directives: CONTENT_SECURITY_POLICY },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
  });
}
