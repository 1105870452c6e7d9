import { eq } from 'drizzle-orm';
import { z } from 'zod';
import { queryInt32 } from '../../bounds';
import type { Db } from '../../db/client';
import { journeys } from '../../db/schema';
import { stepDetail } from '../../db/step-stats';
import { NotFoundError } from '../../errors';
import { loadPlan } from '../../publishing/journeys';
import { defineRoute } from '../route';

const StepDetail = z.object({
  journeyId: z.string(),
  version: z.number().int(),
  stepId: z.string(),
  type: z.string(),
  entered: z.number().int().meta({ description: 'Runs that entered the step' }),
  contacts: z.number().int().meta({ description: 'Contacts that entered the step' }),
  messages: z.object({
    total: z.number().int(),
    byChannel: z.record(z.string(), z.record(z.string(), z.number().int())).meta({ description: 'Channel → status (sent, delivered, bounced, failed, suppressed…) → messages' }),
    opened: z.number().int().meta({ description: 'Email messages opened at least once' }),
    clicked: z.number().int().meta({ description: 'Email messages clicked at least once' }),
  }),
  conversions: z.array(z.object({ goal: z.string(), conversions: z.number().int(), contacts: z.number().int() })).meta({ description: 'Goal conversions of contacts after they entered the step' }),
});

/** One step's numbers for the console's node panel (the journey-wide report is GET /v1/journeys/{id}/stats). */
export function journeyStepRoutes(deps: { db: Db }) {
  return [
    defineRoute({
      method: 'get',
      path: '/v1/journeys/:id/steps/:stepId',
      tag: 'journeys',
      summary:
        "One step of a version (default: the latest published): runs and contacts that entered it, its messages by channel and status with opens and clicks, and the goal conversions of contacts after they entered it — from indexed tables",
      auth: ['marketer'],
      params: z.object({ id: z.string().min(1).max(100), stepId: z.string().min(1).max(100) }),
      query: z.object({ version: queryInt32({ min: 1 }).optional() }).strict(),
      responses: { 200: { description: 'The step', schema: StepDetail }, 404: { description: 'No such journey, version or step, or nothing published yet' } },
      handler: async ({ params, query }) => {
        let version = query.version;
        if (version === undefined) {
          const [j] = await deps.db.select({ latest: journeys.latestVersion }).from(journeys).where(eq(journeys.id, params.id));
          if (!j) throw new NotFoundError('Journey', params.id);
          if (j.latest === null) throw new NotFoundError('Published version of journey', params.id);
          version = j.latest;
        }
        const plan = await loadPlan(deps.db, params.id, version);
        const step = Object.hasOwn(plan.steps, params.stepId) ? plan.steps[params.stepId] : undefined;
        if (!step) throw new NotFoundError('Step', `${params.id}@${version}/${params.stepId}`);
        const detail = await stepDetail(deps.db, { journeyId: params.id, version, stepId: params.stepId });
        return { body: { journeyId: params.id, version, stepId: params.stepId, type: step.type, ...detail } };
      },
    }),
  ];
}
