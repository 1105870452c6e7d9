/**
 * Who an audience launch enters: one page of live contacts, the ones the audience condition matches, and for each of
 * those the reason it would be skipped (no address, opted out, suppressed, a keyed journey, the re-entry rules) or
 * none. The launch activity (src/activities/launch.ts) and the launch preview (POST …/launches/preview) share it, so
 * the count a marketer sees before launching is the rule the launch applies.
 */
import { and, eq, gt, gte, inArray, isNull, sql } from 'drizzle-orm';
import type { LaunchFilter } from '../contracts';
import type { DbOrTx } from '../db/client';
import { toJourneyContact } from '../db/contact-view';
import type { ContactRow } from '../db/queries';
import { contactImportRows, contacts, events, journeyRuns, suppressions } from '../db/schema';
import { erasedAddresses } from '../contacts/erased-address';
import { evaluate, type SeenEvent } from '../journey/conditions';
import { canEnter } from '../journey/entry';
import type { JourneyPlan, PlanCondition } from '../journey/plan';

function eventWindow(c: PlanCondition | undefined): number {
  if (!c) return 0;
  switch (c.op) {
    case 'all':
    case 'any':
      return Math.max(0, ...c.of.map(eventWindow));
    case 'not':
      return eventWindow(c.of);
    case 'event':
      return c.withinMs;
    default:
      return 0;
  }
}

/** Live contacts after `after` (by id), `pageSize` of them; those an import wrote when the filter names one. */
export async function audiencePage(db: DbOrTx, filter: LaunchFilter, after: string | null, pageSize: number): Promise<{ page: ContactRow[]; nextCursor: string | null }> {
  const page = await db
    .select()
    .from(contacts)
    .where(
      and(
        isNull(contacts.mergedInto),
        isNull(contacts.erasedAt),
        after ? gt(contacts.id, after) : undefined,
        filter.importId ? inArray(contacts.id, db.select({ id: sql<string>`${contactImportRows.contactId}` }).from(contactImportRows).where(eq(contactImportRows.importId, filter.importId))) : undefined,
      ),
    )
    .orderBy(contacts.id)
    .limit(pageSize);
  return { page, nextCursor: page.length === pageSize ? page.at(-1)!.id : null };
}

/**
 * The contacts of `page` the audience matches, and per matched contact why it would not enter (undefined: it
 * enters). `salts` find an erased contact's suppressed address under its hash.
 */
export async function decideAudience(
  db: DbOrTx,
  input: { journeyId: string; plan: JourneyPlan; filter: LaunchFilter; page: ContactRow[]; now: number; salts: readonly string[] },
): Promise<{ matched: ContactRow[]; reasons: Map<string, string | undefined> }> {
  const { filter, page, now } = input;
  // Events only when the audience asks "did X within N days": one query for the page, not one per contact.
  const window = eventWindow(filter.audience);
  const seen = new Map<string, SeenEvent[]>();
  if (window > 0 && page.length > 0) {
    const rows = await db
      .select({ contactId: events.contactId, type: events.type, at: events.occurredAt, p: events.properties })
      .from(events)
      .where(and(inArray(events.contactId, page.map((c) => c.id)), gte(events.occurredAt, new Date(now - window))));
    for (const r of rows) {
      const list = seen.get(r.contactId!) ?? [];
      list.push({ type: r.type, at: r.at.getTime(), p: r.p });
      seen.set(r.contactId!, list);
    }
  }
  const matched = page.filter((row) => !filter.audience || evaluate(filter.audience, { contact: toJourneyContact(row), now, enteredAt: now, events: seen.get(row.id) ?? [] }));
  const reasons = new Map<string, string | undefined>();
  if (matched.length === 0) return { matched, reasons };
  const ids = matched.map((c) => c.id);

  const channel = filter.consent ?? null;
  const addresses = channel ? matched.map((c) => (channel === 'email' ? c.email : c.phone)).filter((a): a is string => !!a) : [];
  // The addresses themselves, and the hashes an erased contact's address is kept under (mapped back to it).
  const lookup = new Map(addresses.map((a) => [a, a]));
  if (channel) for (const a of addresses) for (const h of erasedAddresses(input.salts, channel, a)) lookup.set(h, a);
  const suppressed = new Set(
    addresses.length > 0
      ? (await db.select({ a: suppressions.address }).from(suppressions).where(and(eq(suppressions.channel, channel!), inArray(suppressions.address, [...lookup.keys()])))).map((r) => lookup.get(r.a)!)
      : [],
  );
  const history = new Map<string, { activeRuns: number; lastEnteredAt?: number }>();
  for (const r of await db
    .select({ contactId: journeyRuns.contactId, status: journeyRuns.status, startedAt: journeyRuns.startedAt })
    .from(journeyRuns)
    .where(and(eq(journeyRuns.journeyId, input.journeyId), inArray(journeyRuns.contactId, ids)))) {
    const h = history.get(r.contactId) ?? { activeRuns: 0 };
    if (r.status === 'running') h.activeRuns++;
    h.lastEnteredAt = Math.max(h.lastEnteredAt ?? 0, r.startedAt.getTime());
    history.set(r.contactId, h);
  }
  for (const c of matched) {
    const address = channel === 'email' ? c.email : channel === 'sms' ? c.phone : undefined;
    let reason: string | undefined;
    if (channel && !address) reason = `no ${channel === 'email' ? 'email address' : 'phone number'}`;
    else if (channel && c.consent[channel] === 'opted_out') reason = `opted out of ${channel}`;
    else if (channel && suppressed.has(address!)) reason = `${channel} address suppressed`;
    // A keyed journey (entry.key) is entered by events that carry the key; a launch's trigger carries none.
    else if (input.plan.entry.key) reason = 'missing_key';
    else {
      const d = canEnter(input.plan.entry, history.get(c.id) ?? { activeRuns: 0 }, now);
      if (!d.enter) reason = d.reason;
    }
    reasons.set(c.id, reason);
  }
  return { matched, reasons };
}
