import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileOrThrow } from '../../src/journey/compiler';
import type { Contact } from '../../src/journey/schema';
import { loadTemplateCatalog } from '../../src/templates/catalog';
import { TEMPLATES_DIR } from '../../src/paths';
import { LOCAL_ALLOW } from '../helpers/outbound';
import { caseArb } from './cases';
import { chooseScale, expect_, MARGIN_MS } from './harness';

const templates = await loadTemplateCatalog(TEMPLATES_DIR);

/**
 * Where the harness places a case's events (pure: the simulator only). Production is sent them in the order placed and
 * stops sending at the first step it does not share with the simulator, so the placed timeline must be in time order
 * and keep the margin between events — an event moved past a later one once left production a step short.
 */
describe('differential harness: event placement', () => {
  const dir = path.join(import.meta.dirname, '../../journeys');
  const samples = readdirSync(dir).filter((f) => f.endsWith('.yaml') && f !== 'scoring.yaml');

  it('every sample journey: placed events are in time order, a margin apart', () => {
    let events = 0;
    for (const file of samples) placeAll(file, (n) => (events += n));
    // The property held over real timelines, not empty ones.
    expect(events).toBeGreaterThan(500);
  });

  function placeAll(file: string, count: (n: number) => void) {
    const source = readFileSync(path.join(dir, file), 'utf8');
    const unscaled = compileOrThrow(source, { templates, outboundAllow: LOCAL_ALLOW });
    const plan = compileOrThrow(source, { templates, outboundAllow: LOCAL_ALLOW, timeScale: chooseScale(unscaled) });
    const start = Date.parse('2026-03-02T02:00:00Z');
    fc.assert(
      fc.property(caseArb(plan, { maxEvents: 5 }), (kase) => {
        const contact = {
          id: 'c-1', email: 'lin@example.com', phone: '+8613900000001', tags: kase.tags, attributes: {}, score: 0,
          locale: kase.locale, timezone: kase.zone === 'allowed' ? plan.settings.timezone : kase.zone,
          ...Object.fromEntries(Object.entries(kase.fields).filter(([p]) => !p.startsWith('attributes.'))),
        } as Contact;
        const placed = expect_(plan, contact, start, kase).events;
        count(placed.length);
        for (let i = 1; i < placed.length; i++) expect(placed[i]!.atMs - placed[i - 1]!.atMs).toBeGreaterThanOrEqual(MARGIN_MS);
      }),
      { numRuns: 300, seed: 15 },
    );
  }
});
