import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it, inject } from 'vitest';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';

const DIR = path.join(import.meta.dirname, 'histories');

describe('recorded histories replay against the current workflow code', () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.json'));

  it('has a recording for every sample journey', () => {
    const samples = readdirSync(path.join(import.meta.dirname, '../../journeys')).filter((f) => f.endsWith('.yaml') && f !== 'scoring.yaml');
    expect(files.map((f) => f.replace(/\.json$/, '.yaml')).sort()).toEqual(samples.sort());
  });

  it('replays each without nondeterminism, including runs recorded by earlier workflow code (legacy/)', async () => {
    const legacy = readdirSync(path.join(DIR, 'legacy')).filter((f) => f.endsWith('.json')).map((f) => path.join('legacy', f));
    expect(legacy.length).toBeGreaterThan(0);
    // Recordings are protobufjs' own JSON of the History message, so they decode with the same library.
    const histories = [...files, ...legacy].map((f) => ({
      workflowId: f,
      history: temporal.api.history.v1.History.fromObject(JSON.parse(readFileSync(path.join(DIR, f), 'utf8'))),
    }));
    const results = [];
    for await (const r of Worker.runReplayHistories({ workflowBundle: { codePath: inject('workflowBundle') } }, histories)) {
      results.push({ id: r.workflowId, error: r.error ? String(r.error) : undefined });
    }
    expect(results).toHaveLength(files.length + legacy.length);
    expect(results.filter((r) => r.error)).toEqual([]);
    // The recordings reach beyond the first step: events, timers and activities were recorded.
    for (const h of histories) expect(h.history.events.length, h.workflowId).toBeGreaterThan(10);
  });
});
