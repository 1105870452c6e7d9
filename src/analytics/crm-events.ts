/**
 * The CRM and ERP events the analytics read (deal.*, order.paid, payment.received): what their properties must hold.
 * POST /v1/events checks them with the event (src/api/routes/events.ts), so a deal event with a negative amount or a
 * currency that is no ISO 4217 code is refused with the field named, before anything is stored.
 */
import { z } from 'zod';
import { isoInstant } from '../bounds';

export const DEAL_EVENT_TYPES = ['deal.created', 'deal.updated', 'deal.stage_changed', 'deal.won', 'deal.lost'] as const;
export const PAYMENT_EVENT_TYPES = ['order.paid', 'payment.received'] as const;
export type DealEventType = (typeof DEAL_EVENT_TYPES)[number] | (typeof PAYMENT_EVENT_TYPES)[number];
export const isDealEventType = (t: string): t is DealEventType =>
  (DEAL_EVENT_TYPES as readonly string[]).includes(t) || (PAYMENT_EVENT_TYPES as readonly string[]).includes(t);

/** A non-negative decimal with at most 2 decimals and 16 integer digits (numeric(18,2)), as a JSON number or a string. */
export const Money = z
  .union([z.number(), z.string().regex(/^\d{1,16}(\.\d{1,2})?$/, 'must be a decimal such as 1200 or 1200.50')])
  .transform((v) => (typeof v === 'number' ? v : Number(v)))
  .refine((v) => Number.isFinite(v) && v >= 0, { error: 'must be zero or more' })
  .refine((v) => v < 1e16 && Math.abs(v * 100 - Math.round(v * 100)) < 1e-6, { error: 'must have at most 2 decimals and 16 integer digits' });

export const CurrencyCode = z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code in capitals, such as USD or CNY');

/** A date (2026-12-31) or an instant. */
const DateOrInstant = z.union([z.iso.date(), isoInstant()]);
const Name = z.string().min(1).max(200);

const DealFields = {
  deal_id: Name,
  amount: Money.optional(),
  currency: CurrencyCode.optional(),
  stage: Name.optional(),
  owner: Name.optional(),
  owner_id: Name.optional(),
  expected_close: DateOrInstant.optional(),
  company: Name.optional(),
};

/** Other properties pass through (the CRM's own fields); these are the ones read, and they must be right. */
const DealProperties = z.object(DealFields).loose();
const StageChanged = z.object({ ...DealFields, to: Name.optional(), from: Name.optional() }).loose();
const PaymentProperties = z.object({ ...DealFields, deal_id: Name.optional(), amount: Money, order_id: Name.optional() }).loose();

export type DealFieldsOf = {
  dealId: string | undefined;
  amount?: number;
  currency?: string;
  stage?: string;
  owner?: string;
  expectedClose?: string;
  company?: string;
};

function schemaFor(type: DealEventType) {
  if (type === 'deal.stage_changed') return StageChanged;
  if ((PAYMENT_EVENT_TYPES as readonly string[]).includes(type)) return PaymentProperties;
  return DealProperties;
}

/** Problems with a CRM event's properties, as zod issues under `properties`; none for every other event type. */
export function crmPropertyIssues(type: string, properties: Record<string, unknown>): z.core.$ZodIssue[] {
  if (!isDealEventType(type)) return [];
  const r = schemaFor(type).safeParse(properties);
  const issues = r.success ? [] : r.error.issues.map((i) => ({ ...i, path: ['properties', ...i.path] }));
  if (type === 'deal.stage_changed' && r.success && r.data.to === undefined && r.data.stage === undefined) {
    issues.push({ code: 'custom', message: 'a stage change names its new stage in `to` (or `stage`)', path: ['properties', 'to'], input: undefined } as z.core.$ZodIssue);
  }
  return issues as z.core.$ZodIssue[];
}

/**
 * The deal fields of an event, or undefined when they are invalid: the API refuses such events, so only an event stored
 * by another path could carry them, and analytics leave it out rather than fail its ingest forever.
 */
export function dealFieldsOf(type: DealEventType, properties: Record<string, unknown>): DealFieldsOf | undefined {
  const r = schemaFor(type).safeParse(properties);
  if (!r.success) return undefined;
  const p = r.data as z.infer<typeof StageChanged> & { amount?: number };
  const stage = type === 'deal.stage_changed' ? (p.to ?? p.stage) : p.stage;
  const owner = p.owner ?? p.owner_id;
  return {
    dealId: p.deal_id,
    ...(p.amount !== undefined ? { amount: p.amount } : {}),
    ...(p.currency !== undefined ? { currency: p.currency } : {}),
    ...(stage !== undefined ? { stage } : {}),
    ...(owner !== undefined ? { owner } : {}),
    ...(p.expected_close !== undefined ? { expectedClose: p.expected_close } : {}),
    ...(p.company !== undefined ? { company: p.company } : {}),
  };
}
