/** Contact-journeys per second through the virtual-clock simulator on new-lead-nurture (one core, no I/O). */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { compileOrThrow } from '../../src/journey/compiler';
import { loadTemplateCatalog } from '../../src/templates/catalog';
import { simulate, type TimelineEntry } from '../../src/journey/simulator';
import type { Contact } from '../../src/journey/schema';
import { JOURNEYS_DIR, TEMPLATES_DIR } from '../../src/paths';
import type { Metric } from '../lib/report';
import type { ScenarioOutput } from './types';

const zones = ['Asia/Shanghai', 'Europe/Berlin', 'America/New_York', 'Asia/Tokyo'];
// The three main paths (click, silence, unsubscribe); several time zones so quiet-hour arithmetic is exercised.
const timelines: TimelineEntry[][] = [
  [{ at: '+1d3h', type: 'email.clicked', properties: { link_tag: 'product-a' } }],
  [{ at: '+6h', type: 'email.opened', properties: {} }],
  [{ at: '+1d', type: 'contact.unsubscribed', properties: {} }],
];
const START = Date.parse('2025-03-03T02:00:00Z');

export async function simulatorScenario(opts: { count: number }): Promise<ScenarioOutput> {
  const plan = compileOrThrow(readFileSync(path.join(JOURNEYS_DIR, 'new-lead-nurture.yaml'), 'utf8'), { templates: await loadTemplateCatalog(TEMPLATES_DIR) });
  const run = (n: number) => {
    const outcomes: Record<string, number> = {};
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const contact: Contact = { id: `c-${i}`, timezone: zones[i % zones.length]!, locale: i % 2 ? 'en' : 'zh-CN', score: 0, tags: [], attributes: {} };
      const r = simulate(plan, { contact, events: timelines[i % timelines.length]!, start: START + (i % 24) * 3_600_000 });
      outcomes[r.outcome.status] = (outcomes[r.outcome.status] ?? 0) + 1;
    }
    return { ms: performance.now() - t0, outcomes };
  };
  run(Math.min(2_000, opts.count)); // warm-up: JIT, Intl formatter cache
  const { ms, outcomes } = run(opts.count);
  const perSecond = opts.count / (ms / 1000);
  const metrics: Metric[] = [
    { metric: 'contact_journeys_per_second', value: Math.round(perSecond), unit: 'contact-journeys/s', baseline: null, ratio: null, kind: 'throughput', targets: [{ on: 'value', op: '>=', bound: 10_000 }] },
  ];
  return { metrics, params: { count: opts.count, journey: 'new-lead-nurture', outcomes }, notes: [] };
}
