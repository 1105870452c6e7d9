/**
 * Simulator throughput: contact-journeys per second through new-lead-nurture on one core.
 *   npm run bench:simulator -- [count]
 * Not a test: numbers depend on the machine. Mixes the three main paths (click, silence, unsubscribe)
 * and contacts in several time zones so quiet-hour arithmetic is exercised.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { compileOrThrow } from '../src/journey/compiler';
import { loadTemplateCatalog } from '../src/journey/templates';
import { simulate, type TimelineEntry } from '../src/journey/simulator';
import type { Contact } from '../src/journey/schema';

const root = fileURLToPath(new URL('../journeys/', import.meta.url));
const plan = compileOrThrow(readFileSync(`${root}new-lead-nurture.yaml`, 'utf8'), { templates: loadTemplateCatalog(`${root}templates`) });

const zones = ['Asia/Shanghai', 'Europe/Berlin', 'America/New_York', 'Asia/Tokyo'];
const timelines: TimelineEntry[][] = [
  [{ at: '+1d3h', type: 'email.clicked', properties: { link_tag: 'product-a' } }],
  [{ at: '+6h', type: 'email.opened', properties: {} }],
  [{ at: '+1d', type: 'contact.unsubscribed', properties: {} }],
];
const start = Date.parse('2025-03-03T02:00:00Z');

function run(n: number): { ms: number; outcomes: Record<string, number> } {
  const outcomes: Record<string, number> = {};
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const contact: Contact = { id: `c-${i}`, timezone: zones[i % zones.length]!, locale: i % 2 ? 'en' : 'zh-CN', score: 0, tags: [], attributes: {} };
    const r = simulate(plan, { contact, events: timelines[i % timelines.length]!, start: start + (i % 24) * 3_600_000 });
    outcomes[r.outcome.status] = (outcomes[r.outcome.status] ?? 0) + 1;
  }
  return { ms: performance.now() - t0, outcomes };
}

const n = Number(process.argv[2] ?? 20_000);
run(Math.min(2_000, n)); // warm-up (JIT, Intl formatter cache)
const { ms, outcomes } = run(n);
console.log(`new-lead-nurture: ${n} contact-journeys in ${ms.toFixed(0)} ms = ${Math.round((n / ms) * 1000).toLocaleString('en-US')} contact-journeys/s`);
console.log(`outcomes: ${JSON.stringify(outcomes)}`);
