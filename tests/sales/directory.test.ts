import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { ConfigError, loadConfig } from '../../src/config';
import { compileJourney } from '../../src/journey/compiler';
import { loadSalesDirectory, parseSalesConfig, SalesConfigError } from '../../src/sales';
import { SALES_FILE } from '../../src/paths';

const errorsOf = (text: string) => {
  try {
    parseSalesConfig(text, 'sales.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(SalesConfigError);
    return (err as SalesConfigError).message.split('\n');
  }
  throw new Error('expected the file to be invalid');
};

describe('sales directory (journeys/sales/teams.yaml)', () => {
  it('loads the shipped file, and it has every team the shipped journeys hand off to', async () => {
    const dir = await loadSalesDirectory(SALES_FILE);
    const plan = compileJourney(readFileSync('journeys/mql-handoff.yaml', 'utf8'), { file: 'mql-handoff.yaml' });
    if (!plan.ok) throw new Error(JSON.stringify(plan.errors));
    const named = Object.values(plan.plan.steps).flatMap((s) =>
      s.type !== 'handoff_to_sales' ? [] : s.assignment.strategy === 'round_robin' ? [s.assignment.team] : [s.assignment.fallbackTeam, ...(s.assignment.strategy === 'territory' ? s.assignment.rules.flatMap((r) => (r.team ? [r.team] : [])) : [])],
    );
    expect(named.length).toBeGreaterThan(0);
    for (const team of named) expect(dir.team(team), team).toBeDefined();
    // Every rep can be @-mentioned on WeCom, the channel the shipped journeys notify on.
    for (const id of dir.teamIds()) for (const rep of dir.team(id)!.reps) expect(rep.chat.wecom, rep.id).toBeTruthy();
  });

  it('routes a territory by industry first, then region (normalized), else the fallback', () => {
    const dir = parseSalesConfig(
      `
teams:
  industrial: { name: I, industries: [Manufacturing], reps: [{ id: i1, name: I1, capacity: 1 }] }
  east: { name: E, regions: [Shanghai, east], reps: [{ id: e1, name: E1, capacity: 1 }] }
  inside: { name: In, reps: [{ id: n1, name: N1, capacity: 1 }] }
territories:
  china: { teams: [industrial, east], fallback: inside }
`,
      't.yaml',
    );
    const china = dir.territory('china')!;
    expect(dir.routeTerritory(china, { region: '上海市', industry: 'manufacturing' })).toEqual({ teamId: 'industrial', matched: true });
    expect(dir.routeTerritory(china, { region: 'CN-SH', industry: 'retail' })).toEqual({ teamId: 'east', matched: true });
    expect(dir.routeTerritory(china, { region: 'East' })).toEqual({ teamId: 'east', matched: true });
    expect(dir.routeTerritory(china, { region: 'Beijing' })).toEqual({ teamId: 'inside', matched: false });
    expect(dir.routeTerritory(china, {})).toEqual({ teamId: 'inside', matched: false });
    expect(dir.rep('e1')?.teamId).toBe('east');
  });

  it('reports every problem at once, each with its path', () => {
    const lines = errorsOf(`
teams:
  east:
    name: East
    colour: blue
    reps:
      - { id: a, name: A, capacity: -1 }
      - { id: b, name: B, capacity: 2, chat: { wechat: x } }
  west:
    name: West
    reps:
      - { id: a, name: A again, capacity: 1 }
  empty: { name: Nobody, reps: [] }
  Bad_Team: { name: X, reps: [{ id: z, name: Z, capacity: 1 }] }
territories:
  east: { teams: [west], fallback: nowhere }
  china: { teams: [ghost], fallback: east }
`);
    expect(lines).toEqual(
      expect.arrayContaining([
        'sales.yaml: teams.east: unknown key "colour"',
        'sales.yaml: teams.east.reps.0.capacity: -1 is not a whole number ≥ 0',
        'sales.yaml: teams.east.reps.1.chat: unknown key "wechat"',
        'sales.yaml: teams.empty.reps: needs at least one rep',
        'sales.yaml: teams.west.reps.0.id: rep "a" is also in team east; a rep belongs to one team',
        'sales.yaml: teams.Bad_Team: "Bad_Team" is not a valid team id (use lowercase letters, digits, ".", "_" and "-")',
        'sales.yaml: territories.east: "east" is also a team id; journeys name either, so they must differ',
        'sales.yaml: territories.east.teams.0: team "west" has no regions or industries, so it would take every lead; make it the fallback',
        'sales.yaml: territories.east.fallback: "nowhere" is not a team in this file',
        'sales.yaml: territories.china.teams.0: "ghost" is not a team in this file',
      ]),
    );
  });

  it('names a missing field and a YAML syntax error by position', () => {
    expect(errorsOf('teams:\n  east: { reps: [{ id: a, capacity: 1 }] }\n')).toEqual(
      expect.arrayContaining(['sales.yaml: teams.east.name: is required', 'sales.yaml: teams.east.reps.0.name: is required']),
    );
    expect(errorsOf('teams:\n  east: [1, 2\n')[0]).toMatch(/^sales\.yaml: line \d+, column \d+: /);
    expect(errorsOf('{}')).toEqual(['sales.yaml: teams: is required']);
  });
});

describe('CRM webhook configuration', () => {
  it('is off by default, and signs with WEBHOOK_SECRETS unless CRM_WEBHOOK_SECRETS is set', () => {
    expect(loadConfig({}).crmWebhook).toEqual({ url: undefined, secrets: [], maxAttempts: 10 });
    const shared = `whsec_${Buffer.alloc(24, 1).toString('base64')}`;
    const own = `whsec_${Buffer.alloc(24, 2).toString('base64')}`;
    expect(loadConfig({ CRM_WEBHOOK_URL: 'https://crm.example.com/hooks', WEBHOOK_SECRETS: shared }).crmWebhook.secrets).toEqual([shared]);
    expect(loadConfig({ CRM_WEBHOOK_URL: 'https://crm.example.com/hooks', WEBHOOK_SECRETS: shared, CRM_WEBHOOK_SECRETS: own, CRM_WEBHOOK_MAX_ATTEMPTS: '3' }).crmWebhook).toEqual({
      url: 'https://crm.example.com/hooks',
      secrets: [own],
      maxAttempts: 3,
    });
  });

  it('refuses an unsigned CRM webhook and a bad URL, naming the variable without echoing it', () => {
    expect(() => loadConfig({ CRM_WEBHOOK_URL: 'https://crm.example.com/hooks?token=s3cret' })).toThrow(/CRM_WEBHOOK_URL is set, but no secret signs its calls/);
    let message = '';
    try {
      loadConfig({ CRM_WEBHOOK_URL: 'not a url s3cret', CRM_WEBHOOK_SECRETS: 'nope', CRM_WEBHOOK_MAX_ATTEMPTS: '0' });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      message = (err as Error).message;
    }
    expect(message).toMatch(/CRM_WEBHOOK_URL is \(hidden\): must be an http\(s\) URL/);
    expect(message).toMatch(/CRM_WEBHOOK_SECRETS is \(hidden\): each secret must look like whsec_/);
    expect(message).toMatch(/CRM_WEBHOOK_MAX_ATTEMPTS is \(hidden\): .*>=1/);
    expect(message).not.toContain('s3cret');
  });
});
