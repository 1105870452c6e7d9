import type { Client } from '@temporalio/client';
import { z } from 'zod';
import type { DatabaseHandle } from '../../db/client';
import { defineRoute } from '../route';

async function check(fn: () => Promise<unknown>, timeoutMs = 2000): Promise<{ ok: boolean; error?: string }> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([fn(), new Promise((_, rej) => (timer = setTimeout(() => rej(new Error('timed out')), timeoutMs)))]);
    return { ok: true };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

const Check = z.object({ ok: z.boolean(), error: z.string().optional() });
const Health = z.object({ status: z.string(), checks: z.object({ database: Check, temporal: Check }) });

export function healthRoutes(deps: { database: DatabaseHandle; temporal: Client }) {
  const probe = async () => {
    const [database, temporal] = await Promise.all([
      check(() => deps.database.ping()),
      check(() => deps.temporal.connection.workflowService.getSystemInfo({})),
    ]);
    return { database, temporal };
  };
  return [
    // /healthz answers while the process works and reports its dependencies; /readyz gates traffic on them.
    defineRoute({
      method: 'get',
      path: '/healthz',
      tag: 'health',
      summary: 'Liveness, with the state of Temporal and the database',
      auth: 'public',
      responses: { 200: { description: 'The process is up', schema: Health } },
      handler: async () => {
        const checks = await probe();
        return { body: { status: checks.database.ok && checks.temporal.ok ? 'ok' : 'degraded', checks } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/readyz',
      tag: 'health',
      summary: 'Readiness: 200 only when Temporal and the database answer',
      auth: 'public',
      responses: { 200: { description: 'Ready', schema: Health }, 503: { description: 'Not ready', schema: Health } },
      handler: async () => {
        const checks = await probe();
        const ready = checks.database.ok && checks.temporal.ok;
        return { status: ready ? 200 : 503, body: { status: ready ? 'ready' : 'not_ready', checks } };
      },
    }),
  ];
}
