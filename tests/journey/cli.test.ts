import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { diffCommand, registerJourneyCommands, simulateCommand, validateCommand, type CliIo } from '../../src/cli/journey-commands';
import { JOURNEYS, readJourney, SAMPLES } from './helpers';

function io() {
  const out: string[] = [];
  const err: string[] = [];
  const sink: CliIo = { out: (l) => out.push(l), err: (l) => err.push(l) };
  return { sink, out, err };
}

const tmp = () => mkdtempSync(join(tmpdir(), 'itinera-cli-'));
const journey = (name: string) => `${JOURNEYS}${name}.yaml`;

describe('itinera validate', () => {
  it('prints ✓ for every valid sample and exits 0', async () => {
    const { sink, out, err } = io();
    expect(await validateCommand(SAMPLES.map(journey), {}, sink)).toBe(0);
    expect(out).toHaveLength(SAMPLES.length);
    for (const line of out) expect(line).toMatch(/^✓ .*\.yaml \(\d+ steps, sha256:[0-9a-f]{12}\)$/);
    expect(err).toEqual([]);
  });

  it('prints path-qualified errors and exits 1 for an invalid journey, still checking the others', async () => {
    const dir = tmp();
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, readJourney('new-lead-nurture').replace('timeout: 2d', 'timeout: 2 dayz'));
    const { sink, out, err } = io();
    expect(await validateCommand([bad, journey('mql-handoff')], { templates: `${JOURNEYS}templates` }, sink)).toBe(1);
    expect(out[0]).toBe(`✗ ${bad}`);
    expect(out[1]).toMatch(/^✓ /);
    // file:line:col of the value (line 54, after `    timeout: `), as editors and terminals link it.
    expect(err).toEqual([`  ${bad}:54:14: steps.wait-click.timeout: "2 dayz" is not a duration (use 2d, 48h or P2D)`]);
  });

  it('exits 1 for a missing file', async () => {
    const { sink, err } = io();
    expect(await validateCommand(['/nope/missing.yaml'], {}, sink)).toBe(1);
    expect(err[0]).toBe('✗ /nope/missing.yaml: no such file');
  });
});

describe('itinera diff', () => {
  it('prints the changes between two files', async () => {
    const dir = tmp();
    const b = join(dir, 'b.yaml');
    writeFileSync(b, readJourney('stale-opportunity').replace('timeout: 15d', 'timeout: 14d'));
    const { sink, out } = io();
    expect(await diffCommand(journey('stale-opportunity'), b, { templates: `${JOURNEYS}templates` }, sink)).toBe(0);
    expect(out).toContain('~ steps.watch.timeoutMs: 2w1d → 2w');
  });

  it('exits 1 when a side is invalid', async () => {
    const dir = tmp();
    const b = join(dir, 'b.yaml');
    writeFileSync(b, 'id: [\n');
    const { sink, err } = io();
    expect(await diffCommand(journey('stale-opportunity'), b, {}, sink)).toBe(1);
    expect(err.join('\n')).toMatch(/YAML syntax error at line/);
  });
});

describe('itinera simulate', () => {
  const sample = (f: string) => `${JOURNEYS}samples/new-lead-nurture/${f}`;

  it('prints the path with timestamps and the outcome', async () => {
    const { sink, out } = io();
    expect(await simulateCommand(journey('new-lead-nurture'), { contact: sample('contact.json'), events: sample('timeline-clicked.json') }, sink)).toBe(0);
    const text = out.join('\n');
    // Wall-clock times in the journey's zone (Asia/Shanghai, UTC+8), named once above them.
    expect(text).toContain("times in Asia/Shanghai (the journey's time zone)");
    expect(text).toContain('2025-03-03 10:00:00 Mon  +0s        → welcome (send_email)');
    expect(text).toContain('email product-a-case-study (zh-CN)');
    expect(text).toContain('outcome: completed (nurtured) at 2025-03-06 13:05:00 Thu (2025-03-06T05:05:00.000Z)');
  });

  it('--json prints the result as JSON; --start overrides the timeline start', async () => {
    const { sink, out } = io();
    expect(await simulateCommand(journey('new-lead-nurture'), { contact: sample('contact.json'), events: sample('timeline-silent.json'), start: '2025-03-03T14:30:00Z', json: true }, sink)).toBe(0);
    const r = JSON.parse(out.join('\n')) as { start: string; outcome: { status: string }; path: unknown[] };
    expect(r.start).toBe('2025-03-03T14:30:00.000Z');
    expect(r.outcome.status).toBe('completed');
    expect(r.path).toHaveLength(6);
  });

  it('exits 1 with a path for an invalid contact or timeline', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'c.json'), JSON.stringify({ id: 'x', tags: 'vip' }));
    writeFileSync(join(dir, 't.json'), JSON.stringify([{ at: 'tomorrow', type: 'x' }]));
    const a = io();
    expect(await simulateCommand(journey('new-lead-nurture'), { contact: join(dir, 'c.json') }, a.sink)).toBe(1);
    expect(a.err[0]).toMatch(/c\.json: tags: /);
    const b = io();
    expect(await simulateCommand(journey('new-lead-nurture'), { contact: sample('contact.json'), events: join(dir, 't.json'), start: '2025-01-01T00:00:00Z' }, b.sink)).toBe(1);
    expect(b.err[0]).toMatch(/t\.json: "tomorrow" is not a time/);
  });
});

describe('registerJourneyCommands', () => {
  it('adds validate, diff and simulate to a commander program', () => {
    const program = new Command('itinera');
    registerJourneyCommands(program);
    expect(program.commands.map((c) => c.name())).toEqual(['validate', 'diff', 'simulate']);
    expect(program.commands[2]!.options.map((o) => o.long)).toEqual(['--contact', '--events', '--start', '--json', '--templates']);
  });
});
