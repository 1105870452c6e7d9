import { describe, expect, it } from 'vitest';
import { loadScoringModel, parseScoringModel, ScoringModelError } from '../../src/scoring/model';

const FILE = 'journeys/scoring.yaml';

function errorsOf(text: string): string[] {
  try {
    parseScoringModel(text, FILE);
  } catch (err) {
    expect(err).toBeInstanceOf(ScoringModelError);
    return (err as Error).message.split('\n');
  }
  throw new Error('expected the model to be rejected');
}

describe('scoring model file', () => {
  it('loads the shipped B2B sample with its rules, bands and thresholds', async () => {
    const m = await loadScoringModel(FILE);
    expect(m.timezone).toBe('Asia/Shanghai');
    expect(m.behaviour['page-view']).toMatchObject({ event: 'page.viewed', points: 5, cap: { max_points: 20, per: '1d' } });
    expect(m.behaviour['whitepaper-download']?.points).toBe(15);
    expect(m.behaviour['demo-request']?.points).toBe(30);
    expect(m.behaviour['webinar-attended']?.points).toBe(20);
    expect(m.behaviour['email-clicked']?.points).toBe(3);
    expect(m.fit['job-level']?.bands?.[0]?.contains_any).toEqual(expect.arrayContaining(['CFO', 'CEO', 'VP', '总监', '总经理']));
    expect(m.fit['job-level']?.bands?.[1]?.contains_any).toEqual(expect.arrayContaining(['Manager', '经理']));
    expect(m.fit['company-size']?.bands).toHaveLength(3);
    expect(m.negative['unsubscribed']?.points).toBe(-10);
    expect(m.negative['competitor-domain']).toMatchObject({ field: 'email_domain', points: -50 });
    expect(m.decay).toEqual({ after_idle: '30d', percent: 10 });
    expect(m.thresholds['mql']).toMatchObject({ at: 100, lifecycle_stage: 'mql', emit: 'lead.mql' });
  });

  it('qualifies an error with the file and the path to the bad value', () => {
    const lines = errorsOf(`version: 1
behaviour:
  page-view: { event: page.viewed, points: 5, cap: { max_points: 20, per: 1 dayz } }
`);
    expect(lines).toEqual([`${FILE}: behaviour.page-view.cap.per: "1 dayz" is not a duration (use 2d, 48h or P2D, or lifetime)`]);
  });

  it('reports every problem at once, including cross-rule ones while rules are malformed', () => {
    const lines = errorsOf(`version: 1
behaviour:
  page-view: { event: page.viewed, points: 5, cap: { max_points: 20, per: 12h } }
  Bad_Id: { event: form.submitted, points: five }
fit:
  title: { field: jobtitle, contains_any: [CFO], points: 3, pts: 3 }
  size: { field: attributes.company_size }
negative:
  page-view: { event: email.unsubscribed, points: 10 }
  both: { event: phone.invalid, field: phone, exists: true, points: -5 }
decay: { after_idle: 2h, percent: 110 }
thresholds:
  mql: { at: 100, lifecycle_stage: maybe }
  also-mql: { at: 100 }
`);
    expect(lines).toEqual(
      expect.arrayContaining([
        `${FILE}: behaviour.page-view.cap.per: "12h" is not a whole number of days (caps count calendar days: use 1d, 7d or 30d)`,
        `${FILE}: behaviour.Bad_Id.points: "five" is not a number of points`,
        `${FILE}: behaviour.Bad_Id: "Bad_Id" is not a valid id (use lowercase letters, digits and -)`,
        expect.stringMatching(/^journeys\/scoring\.yaml: fit\.title\.field: "jobtitle" is not a contact field \(use email, .*attributes\.<name>\)$/),
        `${FILE}: fit.title: unknown key "pts"`,
        `${FILE}: fit.size.points: is required (or give bands)`,
        `${FILE}: negative.page-view.points: 10 must be negative in the negative section`,
        `${FILE}: negative.page-view: rule id "page-view" is also used in behaviour; ids must be unique because score history is kept per id`,
        `${FILE}: negative.both: needs exactly one of event (a penalty per event) or field (a penalty for an attribute)`,
        `${FILE}: decay.after_idle: "2h" must be at least 1d`,
        `${FILE}: decay.percent: 110 is not between 1 and 100`,
        expect.stringMatching(/^journeys\/scoring\.yaml: thresholds\.mql\.lifecycle_stage: "maybe" is not a lifecycle stage/),
        `${FILE}: thresholds.also-mql.at: 100 is also the score of threshold mql`,
        `${FILE}: thresholds.also-mql: needs lifecycle_stage, emit or both`,
      ]),
    );
    expect(lines).toHaveLength(15);
    // One sentence per problem: a bad value is not reported twice by chained checks.
    expect(new Set(lines.map((l) => l.split(': ').slice(0, 2).join(': '))).size).toBeGreaterThanOrEqual(13);
  });

  it('carries the issues as structured paths for the API', () => {
    try {
      parseScoringModel('version: 2\nbehaviour: { x: { event: a.b, points: 0 } }', 'm.yaml');
      expect.unreachable();
    } catch (err) {
      expect((err as ScoringModelError).errors).toEqual([
        { path: 'version', message: '2 is not a supported version (use 1)' },
        { path: 'behaviour.x.points', message: 'must not be 0' },
      ]);
    }
  });

  it('reports YAML syntax errors with line and column', () => {
    const lines = errorsOf('version: 1\nbehaviour: [\n  a: b');
    expect(lines[0]).toMatch(/^journeys\/scoring\.yaml: line 3, column \d+: /);
  });

  it('refuses a custom YAML tag rather than reading it as a string', () => {
    expect(errorsOf('version: 1\nbehaviour: !!python/object/apply:os.system ["id"]\n')[0]).toMatch(/^journeys\/scoring\.yaml: line 2, column 12: Unresolved tag/);
  });
});
