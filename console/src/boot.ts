/**
 * The first requests of the page being opened, sent before React starts. Evaluated first (main.tsx imports it before
 * anything else), so the session, a journey page's journey, plan and live counts, and its code are on their way while
 * the main bundle runs — instead of one after another behind it (session, then the page's code, then the plan, then
 * the counts). `call` in api.ts takes a response from here once, for the same GET, while the page is opening.
 */
import { acceptEarlyAnswers } from './api';

type Early = { res: Promise<Response> };
const early = new Map<string, Early>();
/** Answers older than this are not handed out: the page asks again. */
const FRESH_MS = 10_000;
const bootedAt = performance.now();

function send(path: string): Promise<Response> {
  const res = fetch(path, { headers: { accept: 'application/json' }, credentials: 'same-origin' });
  early.set(path, { res });
  // Never taken (the page went elsewhere, the session had ended): no unhandled rejection.
  res.catch(() => undefined);
  return res;
}

/** The response sent early for this GET, once; undefined when none is (left) or it is no longer fresh. */
function takeEarly(path: string): Promise<Response> | undefined {
  const hit = early.get(path);
  if (!hit) return undefined;
  early.delete(path);
  return performance.now() - bootedAt <= FRESH_MS ? hit.res : undefined;
}

/**
 * Drops every early answer: the first page is left, or the session changes (signing in after a 401 from the first
 * page's requests, or out) — they were asked with another session's cookie, or none.
 */
function dropEarly(): void {
  early.clear();
}

// Leaving the first page drops what it did not use: another page's request is never answered from here.
addEventListener('hashchange', dropEarly, { once: true });

acceptEarlyAnswers({ take: takeEarly, drop: dropEarly });
send('/v1/session');
const journey = /^#\/journeys\/([^/]+)$/.exec(location.hash);
if (journey) {
  // The same encoding as api.ts, so the page's own calls find these.
  const id = encodeURIComponent(decodeURIComponent(journey[1]!));
  send(`/v1/journeys/${id}`);
  send(`/v1/journeys/${id}/plan`);
  // The latest version's counts, beside the plan rather than after it (the page asks for `latest` first too).
  send(`/v1/journeys/${id}/live?version=latest`);
  // The page's code (React Flow, the layout) loads beside the session check rather than after it.
  import('./JourneyPage').catch(() => undefined);
}
