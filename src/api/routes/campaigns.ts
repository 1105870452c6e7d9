/**
 * Campaign records and their recorded costs; the campaign report is GET /v1/analytics/campaigns (routes/analytics.ts).
 */
import { asc, eq, inArray, ne, sql } from 'drizzle-orm';
import { z } from 'zod';
import { ConflictError, NotFoundError, ValidationError } from '../../errors';
import type { Db } from '../../db/client';
import { campaignCosts, campaigns, journeys } from '../../db/schema';
import { CurrencyCode, Money } from '../../analytics/crm-events';
import { defineRoute } from '../route';

const Id = z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,99}$/, 'must be 1–100 of a-z, 0-9, _ . - (starting with a letter or digit)');
const Day = z.iso.date();

export const CampaignBody = z
  .object({
    name: z.string().trim().min(1).max(200),
    channel: z.string().trim().min(1).max(100).describe('email, sms, paid_search, social, event, …'),
    budget: Money.optional().describe('Planned spend; the report uses it when no cost is recorded'),
    currency: CurrencyCode,
    startsOn: Day.optional(),
    endsOn: Day.optional(),
    utmCampaign: z.string().trim().min(1).max(200).optional().describe('The utm_campaign value of its links and events (one campaign per value)'),
    journeyIds: z.array(z.string().min(1).max(200)).max(100).default([]).describe('Journeys that belong to it (a journey belongs to one campaign)'),
  })
  .strict()
  .refine((b) => !b.startsOn || !b.endsOn || b.startsOn <= b.endsOn, { path: ['endsOn'], error: 'must not be before startsOn' });

export const Campaign = z.object({
  id: z.string(),
  name: z.string(),
  channel: z.string(),
  budget: z.number().nullable(),
  currency: z.string(),
  startsOn: z.string().nullable(),
  endsOn: z.string().nullable(),
  utmCampaign: z.string().nullable(),
  journeyIds: z.array(z.string()),
  createdAt: z.date(),
  updatedAt: z.date(),
});

const CostBody = z
  .object({ amount: Money, currency: CurrencyCode, incurredOn: Day, note: z.string().max(500).optional() })
  .strict();
const Cost = z.object({ id: z.number().int(), campaignId: z.string(), amount: z.number(), currency: z.string(), incurredOn: z.string(), note: z.string().nullable(), createdAt: z.date() });

const view = (c: typeof campaigns.$inferSelect) => ({ ...c, budget: c.budget === null ? null : Number(c.budget) });
const costView = (c: typeof campaignCosts.$inferSelect) => ({ ...c, amount: Number(c.amount) });
const Params = z.object({ id: Id });

export function campaignRoutes(deps: { db: Db }) {
  const { db } = deps;
  const find = async (id: string) => {
    const [c] = await db.select().from(campaigns).where(eq(campaigns.id, id));
    if (!c) throw new NotFoundError('Campaign', id);
    return c;
  };
  return [
    defineRoute({
      method: 'put',
      path: '/v1/campaigns/:id',
      tag: 'campaigns',
      summary: 'Create or replace a campaign: name, channel, budget and currency, dates, its utm_campaign value and its journeys',
      auth: ['marketer'],
      params: Params,
      body: CampaignBody,
      responses: {
        200: { description: 'The campaign', schema: Campaign },
        400: { description: 'A field is invalid, or a journey does not exist' },
        409: { description: 'The utm_campaign value or a journey belongs to another campaign' },
      },
      handler: async ({ params, body }) => {
        const journeyIds = [...new Set(body.journeyIds)];
        if (journeyIds.length) {
          const found = new Set((await db.select({ id: journeys.id }).from(journeys).where(inArray(journeys.id, journeyIds))).map((j) => j.id));
          const missing = journeyIds.map((j, i) => ({ j, i })).filter(({ j }) => !found.has(j));
          if (missing.length) throw new ValidationError('The request body is invalid; see errors for each field.', missing.map(({ j, i }) => ({ path: `journeyIds.${i}`, message: `no journey "${j}"` })));
        }
        return db.transaction(async (tx) => {
          // One campaign per utm value and per journey: credit must have one owner.
          await tx.execute(sql`select pg_advisory_xact_lock(hashtext('campaigns'))`);
          const others = await tx.select().from(campaigns).where(ne(campaigns.id, params.id));
          const utmOwner = body.utmCampaign ? others.find((o) => o.utmCampaign === body.utmCampaign) : undefined;
          if (utmOwner) throw new ConflictError(`utm_campaign "${body.utmCampaign}" belongs to campaign "${utmOwner.id}"`);
          for (const j of journeyIds) {
            const owner = others.find((o) => o.journeyIds.includes(j));
            if (owner) throw new ConflictError(`Journey "${j}" belongs to campaign "${owner.id}"`);
          }
          const values = {
            name: body.name,
            channel: body.channel,
            budget: body.budget === undefined ? null : body.budget.toFixed(2),
            currency: body.currency,
            startsOn: body.startsOn ?? null,
            endsOn: body.endsOn ?? null,
            utmCampaign: body.utmCampaign ?? null,
            journeyIds,
          };
          const [row] = await tx
            .insert(campaigns)
            .values({ id: params.id, ...values })
            .onConflictDoUpdate({ target: campaigns.id, set: { ...values, updatedAt: sql`now()` } })
            .returning();
          return { body: view(row!) };
        });
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/campaigns',
      tag: 'campaigns',
      summary: 'Every campaign, by id',
      auth: ['marketer', 'ops'],
      responses: { 200: { description: 'The campaigns', schema: z.object({ campaigns: z.array(Campaign) }) } },
      handler: async () => ({ body: { campaigns: (await db.select().from(campaigns).orderBy(asc(campaigns.id))).map(view) } }),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/campaigns/:id',
      tag: 'campaigns',
      summary: 'A campaign with its recorded costs',
      auth: ['marketer', 'ops'],
      params: Params,
      responses: { 200: { description: 'The campaign', schema: Campaign.extend({ costs: z.array(Cost) }) }, 404: { description: 'No such campaign' } },
      handler: async ({ params }) => {
        const c = await find(params.id);
        const costs = await db.select().from(campaignCosts).where(eq(campaignCosts.campaignId, c.id)).orderBy(asc(campaignCosts.incurredOn), asc(campaignCosts.id));
        return { body: { ...view(c), costs: costs.map(costView) } };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/campaigns/:id/costs',
      tag: 'campaigns',
      summary: 'Record a cost of a campaign (media, agency, event); once a campaign has costs, they replace its budget as its spend. Send an Idempotency-Key so a retry records it once',
      auth: ['marketer', 'integration'],
      params: Params,
      body: CostBody,
      idempotency: { mode: 'replay' },
      responses: { 201: { description: 'The cost recorded', schema: Cost }, 404: { description: 'No such campaign' } },
      handler: async ({ params, body }) => {
        const c = await find(params.id);
        const [row] = await db
          .insert(campaignCosts)
          .values({ campaignId: c.id, amount: body.amount.toFixed(2), currency: body.currency, incurredOn: body.incurredOn, note: body.note ?? null })
          .returning();
        return { status: 201, body: costView(row!) };
      },
    }),
  ];
}
