import { describe, expect, inject, it } from 'vitest';
import { expectExactlyOnce, useChaosStack } from '../chaos/harness/invariants';
import { between, sleep } from '../chaos/harness/proc';
import { CHAOS_FULL, writePart } from '../chaos/harness/results';
import { emailOf, SMTP_POOL_SIZE } from '../chaos/harness/stack';
import { until } from '../helpers/until';
import { createApiKey } from '../../src/api/auth';

/** Contacts of the kill run: CLUSTER_CONTACTS, or 300 (quick, what CI runs) / 3000 (CHAOS_FULL=1). */
const TOTAL = Number(process.env.CLUSTER_CONTACTS) || (CHAOS_FULL ? 3000 : 300);
const CHAOS_WINDOW_MS = CHAOS_FULL ? 3 * 60_000 : 45_000;
const SETTLE_MS = CHAOS_FULL ? 30 * 60_000 : 6 * 60_000;

describe('the cluster: a real Temporal server on Postgres, two worker processes and two API processes', () => {
  const clusterStack = useChaosStack({ restartsPostgres: false, temporalAddress: inject('clusterAddress'), workers: 2, workerEntry: 'production', apiProcesses: 2 });

  it('runs a journey end to end: event into one API, the run and its email seen through the other', async () => {
    const stack = clusterStack();
    const [a, b] = stack.apis;
    await Promise.all(stack.workers.map((w) => w.ready()));
    // The contact after the kill run's range, so that run's exactly-once accounting covers this one too.
    const email = emailOf(TOTAL);
    const posted = await fetch(`${a!.url}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ events: [{ id: `chaos-${TOTAL}`, type: 'chaos.entered', contact: { externalId: `c${TOTAL}`, email, locale: 'en' } }] }),
    });
    expect(posted.status).toBe(202);
    const { key: ops } = await createApiKey(stack.database.db, { name: 'cluster ops', role: 'ops' });
    const get = async (path: string) => {
      const res = await fetch(`${b!.url}${path}`, { headers: { authorization: `Bearer ${ops}` } });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const run = await until('the completed run, listed by the second API', async () => {
      const { status, body } = await get('/v1/runs?journeyId=chaos-journey&status=completed');
      const items = (body.items ?? []) as { workflowId: string; currentStep: string | null }[];
      return status === 200 && items.length ? items : undefined;
    }, 120_000);
    expect(run).toHaveLength(1);
    const detail = await get(`/v1/runs/${encodeURIComponent(run[0]!.workflowId)}`);
    expect(detail.status).toBe(200);
    expect((detail.body.temporal as { status: string }).status).toBe('COMPLETED');
    const delivered = [...stack.smtp.deliveries.values()].filter((d) => d.recipients.has(email));
    expect(delivered).toHaveLength(1);
    expect(delivered[0]!.accepted).toBe(1);
    expect([...stack.receiver.applied.values()].filter((h) => h.contact === email)).toHaveLength(1);
  });

  it('loses nothing and duplicates nothing while one of the two workers is kill -9ed mid-run', async () => {
    const stack = clusterStack();
    const killed = stack.workers[0]!;
    const started = Date.now();
    let ingested = false;
    const lives: number[] = [];
    const killer = (async () => {
      while (Date.now() - started < CHAOS_WINDOW_MS) {
        const up = await Promise.race([killed.ready().then(() => true), sleep(180_000).then(() => false)]);
        if (!up) throw new Error(`the worker did not come back within 3 minutes: ${JSON.stringify(killed.stats.exits.slice(-2))}`);
        const life = between(2000, 6000);
        await sleep(life);
        const p = await stack.progress().catch(() => undefined);
        if (ingested && p && p.temporalRunning === 0 && p.projectedDone >= TOTAL + 1) break;
        lives.push(life);
        await killed.kill9();
      }
    })();
    // Contacts 0..TOTAL-1; contact TOTAL ran in the first test and is counted with them.
    const ingest = await stack.ingest(0, TOTAL, { batch: 50, concurrency: 2 });
    ingested = true;
    await killer;
    await stack.settle(TOTAL + 1, SETTLE_MS);
    const o = await stack.outcome(TOTAL + 1);
    writePart('cluster-worker-kill', {
      ...o,
      topology: 'temporal-server 1.29.1 on Postgres; 2 x src/worker-main.ts; 2 x src/api/server.ts',
      faults: { workerKills: killed.stats.kills, lifeMs: { min: Math.min(...lives), max: Math.max(...lives) } },
      timings: { wallMs: Date.now() - started },
      timeline: stack.timeline,
      ingest,
    });
    expect(o.worker.kills, 'one worker was killed repeatedly mid-run').toBeGreaterThanOrEqual(2);
    expect(stack.workers[1]!.stats.kills, 'the other worker was left alone').toBe(0);
    expectExactlyOnce(o, TOTAL + 1, o.worker.kills * SMTP_POOL_SIZE);
  });
});
