/**
 * The sales organisation hand-offs are assigned to: what ops write in `journeys/sales.yaml`.
 *
 *   teams:            keyed by team id (journeys name it: `assignment: { strategy: round_robin, team: sales-east }`)
 *     <team>:
 *       name, regions, industries   the team's territory (used by territory maps below)
 *       manager: { id, name, chat }  who `notify: { to: manager }` reaches for this team's reps
 *       reps: [{ id, name, capacity, chat: { wecom, dingtalk, feishu, slack } }]   rotation order
 *   territories:      keyed by id; a journey may name one wherever it names a team
 *     <territory>: { teams: [ids, first match wins], fallback: team id }
 *
 * Objects are strict (a misspelt key is an error) and every problem is reported at once with its path:
 * `journeys/sales.yaml: teams.sales-east.reps.1.capacity: -1 is not a whole number ≥ 0`.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { normalizeRegion } from '../channels/normalize';
import { ValidationError } from '../errors';
import { parseYamlDocument } from '../yaml-document';

const show = (input: unknown): string => JSON.stringify(input) ?? String(input);
const formatError = (what: string) => (iss: { input?: unknown }) => (iss.input === undefined ? 'is required' : `${show(iss.input)} ${what}`);

const ID = /^[a-z0-9][a-z0-9._-]*$/;
const Id = z.string({ error: formatError('is not an id') }).regex(ID, { error: formatError('is not a valid id (use lowercase letters, digits, ".", "_" and "-")') });
const Name = z.string({ error: formatError('is not a name') }).min(1, { error: 'must not be empty' });
const Values = z.array(z.string({ error: formatError('is not a text value') }).min(1, { error: 'must not be empty' }), { error: formatError('is not a list') });

/** The person's user id per chat provider: what an @-mention in that provider needs (WeCom userid, DingTalk userId, Feishu open_id, Slack member id). */
export const ChatHandles = z.strictObject({
  wecom: z.string().min(1).optional(),
  dingtalk: z.string().min(1).optional(),
  feishu: z.string().min(1).optional(),
  slack: z.string().min(1).optional(),
});
export type ChatHandles = z.infer<typeof ChatHandles>;

export const SalesPerson = z.strictObject({ id: Id, name: Name, email: z.email().optional(), chat: ChatHandles.default({}) });
export type SalesPerson = z.infer<typeof SalesPerson>;

export const SalesRep = SalesPerson.extend({
  /** Most hand-offs this rep may have open (pending or escalated) at once; 0 pauses new assignments (holiday). */
  capacity: z
    .number({ error: formatError('is not a whole number ≥ 0') })
    .int({ error: formatError('is not a whole number ≥ 0') })
    .min(0, { error: formatError('is not a whole number ≥ 0') }),
});
export type SalesRep = z.infer<typeof SalesRep>;

export const SalesTeam = z.strictObject({
  name: Name,
  /** Contact regions this team covers (compared after region normalization, so 上海 matches Shanghai and CN-SH). */
  regions: Values.default([]),
  /** Contact industries this team covers (case-insensitive). */
  industries: Values.default([]),
  manager: SalesPerson.optional(),
  /** In rotation order. */
  reps: z.array(SalesRep, { error: formatError('is not a list of reps') }).min(1, { error: 'needs at least one rep' }),
});
export type SalesTeam = z.infer<typeof SalesTeam>;

export const Territory = z.strictObject({
  /** Checked in order: the first team whose regions and industries match the contact gets the lead. */
  teams: z.array(Id, { error: formatError('is not a list of team ids') }).min(1, { error: 'needs at least one team' }),
  /** When no team matches. */
  fallback: Id,
});
export type Territory = z.infer<typeof Territory>;

export const SalesConfig = z
  .strictObject({
    teams: z.record(z.string(), SalesTeam, { error: formatError('is not a map of teams') }),
    territories: z.record(z.string(), Territory, { error: formatError('is not a map of territories') }).default({}),
  })
  .superRefine((c, ctx) => crossCheck(c, (path, message) => ctx.addIssue({ code: 'custom', path, message })), { when: () => true });
export type SalesConfig = z.infer<typeof SalesConfig>;

type Report = (path: (string | number)[], message: string) => void;
type Loose = Record<string, unknown>;
const isObject = (v: unknown): v is Loose => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Rules across teams; written against the loose value so they also run when parts of the file are malformed. */
function crossCheck(c: unknown, report: Report): void {
  if (!isObject(c)) return;
  const teams = isObject(c.teams) ? c.teams : {};
  const repTeam = new Map<string, string>();
  for (const [teamId, team] of Object.entries(teams)) {
    if (!ID.test(teamId)) report(['teams', teamId], `"${teamId}" is not a valid team id (use lowercase letters, digits, ".", "_" and "-")`);
    if (!isObject(team) || !Array.isArray(team.reps)) continue;
    team.reps.forEach((rep, i) => {
      if (!isObject(rep) || typeof rep.id !== 'string') return;
      // Capacity and the contact's owner are per rep, so a rep in two teams would have two answers to "who manages them".
      const other = repTeam.get(rep.id);
      if (other) report(['teams', teamId, 'reps', i, 'id'], `rep "${rep.id}" is also in team ${other}; a rep belongs to one team`);
      else repTeam.set(rep.id, teamId);
    });
  }
  const territories = isObject(c.territories) ? c.territories : {};
  for (const [id, t] of Object.entries(territories)) {
    if (!ID.test(id)) report(['territories', id], `"${id}" is not a valid territory id`);
    if (id in teams) report(['territories', id], `"${id}" is also a team id; journeys name either, so they must differ`);
    if (!isObject(t)) continue;
    if (Array.isArray(t.teams)) {
      t.teams.forEach((teamId, i) => {
        if (typeof teamId !== 'string') return;
        const team = teams[teamId];
        if (!isObject(team)) report(['territories', id, 'teams', i], `"${teamId}" is not a team in this file`);
        else if (!(Array.isArray(team.regions) && team.regions.length) && !(Array.isArray(team.industries) && team.industries.length)) {
          report(['territories', id, 'teams', i], `team "${teamId}" has no regions or industries, so it would take every lead; make it the fallback`);
        }
      });
    }
    if (typeof t.fallback === 'string' && !isObject(teams[t.fallback])) report(['territories', id, 'fallback'], `"${t.fallback}" is not a team in this file`);
  }
}

function issueMessage(iss: z.core.$ZodIssue): string {
  if (iss.code === 'unrecognized_keys') return `unknown ${iss.keys.length === 1 ? 'key' : 'keys'} ${iss.keys.map((k) => `"${k}"`).join(', ')}`;
  return iss.message;
}

export type SalesIssue = { path: string; message: string };

/** Every problem in a sales file, one sentence each, all at once. */
export class SalesConfigError extends ValidationError {
  constructor(
    readonly file: string,
    issues: SalesIssue[],
  ) {
    super(issues.map((i) => `${file}: ${i.path ? `${i.path}: ` : ''}${i.message}`).join('\n'), issues);
    this.name = 'SalesConfigError';
  }
}

/** A contact as territory matching sees it. */
export type TerritoryContact = { region?: string | null; industry?: string | null };

const regionKey = (v: string) => normalizeRegion(v).toLowerCase();

/** Lookups over a validated {@link SalesConfig}. */
export class SalesDirectory {
  private readonly repIndex = new Map<string, { rep: SalesRep; teamId: string }>();

  constructor(readonly config: SalesConfig) {
    for (const [teamId, team] of Object.entries(config.teams)) for (const rep of team.reps) this.repIndex.set(rep.id, { rep, teamId });
  }

  team(id: string): SalesTeam | undefined {
    return Object.hasOwn(this.config.teams, id) ? this.config.teams[id] : undefined;
  }

  territory(id: string): Territory | undefined {
    return Object.hasOwn(this.config.territories, id) ? this.config.territories[id] : undefined;
  }

  rep(id: string): { rep: SalesRep; teamId: string; team: SalesTeam } | undefined {
    const hit = this.repIndex.get(id);
    return hit ? { ...hit, team: this.config.teams[hit.teamId]! } : undefined;
  }

  /** The manager of the team a rep belongs to. */
  managerOf(repId: string): SalesPerson | undefined {
    return this.rep(repId)?.team.manager;
  }

  /** Whether a team's regions and industries both admit the contact (an empty list admits everyone). */
  covers(team: SalesTeam, contact: TerritoryContact): boolean {
    if (team.regions.length > 0) {
      const region = contact.region?.trim() ? regionKey(contact.region) : undefined;
      if (!region || !team.regions.some((r) => regionKey(r) === region)) return false;
    }
    if (team.industries.length > 0) {
      const industry = contact.industry?.trim().toLowerCase();
      if (!industry || !team.industries.some((i) => i.trim().toLowerCase() === industry)) return false;
    }
    return true;
  }

  /** The team a territory gives this contact: the first listed team covering them, else the fallback. */
  routeTerritory(territory: Territory, contact: TerritoryContact): { teamId: string; matched: boolean } {
    for (const teamId of territory.teams) if (this.covers(this.config.teams[teamId]!, contact)) return { teamId, matched: true };
    return { teamId: territory.fallback, matched: false };
  }

  teamIds(): string[] {
    return Object.keys(this.config.teams);
  }
}

/** Parses and validates sales text (YAML or JSON); throws {@link SalesConfigError} naming `file` and every bad path. */
export function parseSalesConfig(text: string, file: string): SalesDirectory {
  const { doc, problems } = parseYamlDocument(text);
  if (problems.length > 0) {
    throw new SalesConfigError(file, problems.map((p) => ({ path: '', message: `line ${p.line}, column ${p.col}: ${p.message}` })));
  }
  const parsed = SalesConfig.safeParse(doc.toJS() ?? {});
  if (!parsed.success) {
    throw new SalesConfigError(file, parsed.error.issues.map((iss) => ({ path: iss.path.map(String).join('.'), message: issueMessage(iss) })));
  }
  return new SalesDirectory(parsed.data);
}

export async function loadSalesDirectory(file: string): Promise<SalesDirectory> {
  return parseSalesConfig(await readFile(file, 'utf8'), file);
}
