/**
 * Assigning a sales hand-off to a rep, once per idempotency key.
 *
 * Order of decisions: an explicit owner (the contact's existing owner, or a territory rule naming a person) is kept
 * while they have room; a managed owner at capacity hands over to their team's rotation. A team name rotates inside
 * that team; a territory name (journeys/sales/teams.yaml) first picks the team from the contact's industry and region.
 * The rotation skips reps at capacity; when every rep of the team is full the hand-off fails with NoRepAvailable and
 * nothing is written.
 *
 * Concurrency: everything happens in one transaction that first locks the team's cursor row (SELECT … FOR UPDATE), so
 * concurrent hand-offs to one team take turns: each sees the previous one's rep and open counts, which is what keeps the
 * rotation fair (counts per rep differ by at most one) and capacity exact. The hand-off row, the contact's new owner,
 * its audit row and the CRM webhook's outbox row are written in that same transaction, so they exist all or none.
 */
import { and, eq, inArray, sql } from 'drizzle-orm';
import type { DbOrTx } from '../db/client';
import { recordContactChange } from '../contacts/changes';
import type { IncomingEvent } from '../ingest/event';
import { contactAudit, contacts, messages, salesAssignmentCursors, salesHandoffs } from '../db/schema';
import type { SalesDirectory, SalesRep, SalesTeam } from './directory';

/** Statuses that still occupy a rep's capacity. */
export const OPEN_HANDOFF_STATUSES = ['pending', 'escalated'] as const;

export const AssignmentMethod = {
  /** The owner the journey named (existing owner or a territory rule's person), who had room. */
  ExistingOwner: 'existing_owner',
  /** An owner not in the sales directory (e.g. a CRM user): kept as is, without capacity. */
  UnmanagedOwner: 'unmanaged_owner',
  /** The named owner was at capacity: their team's rotation picked someone else. */
  OwnerAtCapacity: 'owner_at_capacity',
  RoundRobin: 'round_robin',
  /** A territory picked the team, then its rotation picked the rep. */
  Territory: 'territory',
} as const;
export type AssignmentMethod = (typeof AssignmentMethod)[keyof typeof AssignmentMethod];

export type AssignmentErrorType = 'NoRepAvailable' | 'UnknownSalesTeam' | 'NoAssignmentTarget' | 'ContactNotFound';

/** A hand-off that cannot be assigned however often it is retried; `type` becomes the ApplicationFailure type. */
export class AssignmentError extends Error {
  override name = 'AssignmentError';
  constructor(
    readonly type: AssignmentErrorType,
    message: string,
  ) {
    super(message);
  }
}

export type HandoffRequest = {
  idempotencyKey: string;
  contactId: string;
  journeyId?: string | undefined;
  workflowId?: string | undefined;
  stepId?: string | undefined;
  /** A team or territory id from the sales directory. */
  team?: string | undefined;
  /** A specific rep (or CRM user) to keep. */
  owner?: string | undefined;
  dueAt?: number | undefined;
  /** The sales task's title (already rendered for this contact). */
  taskTitle?: string | undefined;
  /** Recorded on the contact's audit row, e.g. `journey:mql-handoff`. */
  actor: string;
};

export type HandoffAssignment = {
  handoffId: string;
  repId: string | null;
  team: string | null;
  method: AssignmentMethod | null;
  duplicate: boolean;
  /** The owner change as `contact.updated`, stored with the assignment; the caller routes it (else the outbox sweeper). */
  contactEvents?: IncomingEvent[];
};

/** Where the CRM webhook goes, and the payload to send for a new hand-off (stored with the outbox row). */
export type CrmOutbox = {
  /** Undefined: no webhook is configured; the outbox row records that none was sent. */
  url: string | undefined;
  payload(h: CrmHandoffContext): unknown;
};

export type CrmHandoffContext = {
  handoff: typeof salesHandoffs.$inferSelect;
  method: AssignmentMethod;
  rep: SalesRep | undefined;
  contact: typeof contacts.$inferSelect;
};

/** Thrown inside the transaction when another attempt with the same key won; rolls back and reports the existing row. */
class DuplicateHandoff extends Error {}

type Target =
  | { kind: 'owner'; repId: string; managed: { rep: SalesRep; teamId: string; team: SalesTeam } | undefined }
  | { kind: 'team'; teamId: string; team: SalesTeam; method: AssignmentMethod };

function resolveTarget(dir: SalesDirectory, req: HandoffRequest, contact: typeof contacts.$inferSelect): Target {
  if (req.owner) return { kind: 'owner', repId: req.owner, managed: dir.rep(req.owner) };
  if (!req.team) throw new AssignmentError('NoAssignmentTarget', 'the hand-off names neither a team nor an owner');
  const team = dir.team(req.team);
  if (team) return { kind: 'team', teamId: req.team, team, method: AssignmentMethod.RoundRobin };
  const territory = dir.territory(req.team);
  if (territory) {
    const { teamId } = dir.routeTerritory(territory, { region: contact.region, industry: contact.industry });
    return { kind: 'team', teamId, team: dir.team(teamId)!, method: AssignmentMethod.Territory };
  }
  throw new AssignmentError(
    'UnknownSalesTeam',
    `team "${req.team}" is neither a team nor a territory in the sales directory (teams: ${dir.teamIds().join(', ')})`,
  );
}

async function openCounts(tx: DbOrTx, repIds: string[]): Promise<Map<string, number>> {
  const rows = await tx
    .select({ repId: salesHandoffs.repId, n: sql<number>`count(*)::int` })
    .from(salesHandoffs)
    .where(and(inArray(salesHandoffs.repId, repIds), inArray(salesHandoffs.status, [...OPEN_HANDOFF_STATUSES])))
    .groupBy(salesHandoffs.repId);
  return new Map(rows.map((r) => [r.repId!, Number(r.n)]));
}

/** Locks the team's rotation row for the rest of the transaction (creating it on first use). */
async function lockCursor(tx: DbOrTx, teamId: string): Promise<typeof salesAssignmentCursors.$inferSelect> {
  await tx.insert(salesAssignmentCursors).values({ team: teamId }).onConflictDoNothing({ target: salesAssignmentCursors.team });
  const [row] = await tx.select().from(salesAssignmentCursors).where(eq(salesAssignmentCursors.team, teamId)).for('update');
  return row!;
}

/** The next rep after the last one assigned who still has room; advances the cursor. */
async function rotate(tx: DbOrTx, teamId: string, team: SalesTeam, cursor: typeof salesAssignmentCursors.$inferSelect): Promise<SalesRep> {
  const reps = team.reps;
  const counts = await openCounts(tx, reps.map((r) => r.id));
  const last = cursor.lastRepId === null ? -1 : reps.findIndex((r) => r.id === cursor.lastRepId);
  // A last rep since removed from the file: continue from the running count rather than restart at the first rep.
  const start = (last >= 0 ? last + 1 : cursor.assigned) % reps.length;
  for (let k = 0; k < reps.length; k++) {
    const rep = reps[(start + k) % reps.length]!;
    if ((counts.get(rep.id) ?? 0) < rep.capacity) {
      await tx
        .update(salesAssignmentCursors)
        .set({ lastRepId: rep.id, assigned: sql`${salesAssignmentCursors.assigned} + 1`, updatedAt: sql`now()` })
        .where(eq(salesAssignmentCursors.team, teamId));
      return rep;
    }
  }
  const load = reps.map((r) => `${r.id} ${counts.get(r.id) ?? 0}/${r.capacity}`).join(', ');
  throw new AssignmentError('NoRepAvailable', `every rep of team "${teamId}" is at capacity (${load}); assign this lead by hand`);
}

export async function findHandoffByKey(db: DbOrTx, key: string): Promise<typeof salesHandoffs.$inferSelect | undefined> {
  const [row] = await db.select().from(salesHandoffs).where(eq(salesHandoffs.idempotencyKey, key)).limit(1);
  return row;
}

async function existing(db: DbOrTx, key: string): Promise<HandoffAssignment> {
  const row = (await findHandoffByKey(db, key))!;
  const [audit] = await db.select({ detail: contactAudit.detail }).from(contactAudit).where(eq(contactAudit.idempotencyKey, `${key}:owner`)).limit(1);
  const method = (audit?.detail.method as AssignmentMethod | undefined) ?? null;
  return { handoffId: row.id, repId: row.repId, team: row.team, method, duplicate: true };
}

/**
 * Assigns and records the hand-off for `req.idempotencyKey`, or returns the one already recorded for it.
 * @throws AssignmentError when it can never succeed (unknown team, everyone at capacity, no such contact)
 */
export async function assignHandoff(db: DbOrTx, dir: SalesDirectory, req: HandoffRequest, crm: CrmOutbox): Promise<HandoffAssignment> {
  if (await findHandoffByKey(db, req.idempotencyKey)) return existing(db, req.idempotencyKey);
  const [snapshot] = await db.select().from(contacts).where(eq(contacts.id, req.contactId)).limit(1);
  if (!snapshot) throw new AssignmentError('ContactNotFound', `contact ${req.contactId} does not exist`);
  const target = resolveTarget(dir, req, snapshot);
  try {
    return await db.transaction(async (tx) => {
      // Lock order everywhere: team cursor, then contact.
      const teamId = target.kind === 'team' ? target.teamId : target.managed?.teamId;
      const cursor = teamId ? await lockCursor(tx, teamId) : undefined;
      const [contact] = await tx.select().from(contacts).where(eq(contacts.id, req.contactId)).for('update');
      if (!contact) throw new AssignmentError('ContactNotFound', `contact ${req.contactId} does not exist`);
      if (await findHandoffByKey(tx, req.idempotencyKey)) throw new DuplicateHandoff();

      let rep: SalesRep | undefined;
      let repId: string;
      let method: AssignmentMethod;
      if (target.kind === 'team') {
        rep = await rotate(tx, target.teamId, target.team, cursor!);
        repId = rep.id;
        method = target.method;
      } else if (!target.managed) {
        repId = target.repId;
        method = AssignmentMethod.UnmanagedOwner;
      } else {
        const open = (await openCounts(tx, [target.repId])).get(target.repId) ?? 0;
        if (open < target.managed.rep.capacity) {
          rep = target.managed.rep;
          method = AssignmentMethod.ExistingOwner;
        } else {
          rep = await rotate(tx, target.managed.teamId, target.managed.team, cursor!);
          method = AssignmentMethod.OwnerAtCapacity;
        }
        repId = rep.id;
      }
      const team = teamId ?? req.team ?? null;

      const [handoff] = await tx
        .insert(salesHandoffs)
        .values({
          idempotencyKey: req.idempotencyKey,
          contactId: req.contactId,
          journeyId: req.journeyId ?? null,
          workflowId: req.workflowId ?? null,
          team,
          repId,
          taskTitle: req.taskTitle ?? null,
          dueAt: req.dueAt ? new Date(req.dueAt) : null,
        })
        .onConflictDoNothing({ target: salesHandoffs.idempotencyKey })
        .returning();
      if (!handoff) throw new DuplicateHandoff();

      await tx.update(contacts).set({ ownerId: repId, updatedAt: sql`now()` }).where(eq(contacts.id, contact.id));
      const { events: contactEvents } = await recordContactChange(tx, {
        before: contact,
        after: { ...contact, ownerId: repId },
        source: 'journey',
        key: `${req.idempotencyKey}:owner`,
        workflowId: req.workflowId,
      });
      await tx.insert(contactAudit).values({
        idempotencyKey: `${req.idempotencyKey}:owner`,
        contactId: contact.id,
        action: 'assign_owner',
        detail: { from: contact.ownerId, to: repId, team, method, handoffId: handoff.id, ...(req.owner && req.owner !== repId ? { requested: req.owner } : {}) },
        actor: req.actor,
      });
      await tx.insert(messages).values({
        idempotencyKey: req.idempotencyKey,
        channel: 'crm',
        contactId: contact.id,
        journeyId: req.journeyId ?? null,
        workflowId: req.workflowId ?? null,
        stepId: req.stepId ?? null,
        recipient: crm.url ?? '(none)',
        provider: 'crm-webhook',
        body: JSON.stringify(crm.payload({ handoff, method, rep, contact: { ...contact, ownerId: repId } })),
        // Without a URL nothing is sent, and the row says why rather than looking like a delivery still to come.
        ...(crm.url ? { status: 'pending' } : { status: 'skipped', error: 'CRM_WEBHOOK_URL is not set' }),
      });
      return { handoffId: handoff.id, repId, team, method, duplicate: false, contactEvents };
    });
  } catch (err) {
    if (err instanceof DuplicateHandoff) return existing(db, req.idempotencyKey);
    throw err;
  }
}
