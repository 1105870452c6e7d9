/**
 * The CLI commands that talk to the running API (publish, journeys stats, runs ls/show), run as a user runs them:
 * a child process against a real API, worker and Temporal server.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../helpers/stack';
import { listenLocally, runCli } from '../helpers/cli';
import { scaled } from '../helpers/timing';
import { until } from '../helpers/until';


const JOURNEY = `id: cli-parked
name: CLI parked
triggers:
  - type: event
    event: cli.started
steps:
  - id: hold
    type: wait
    duration: 1h
    next: done
  - id: done
    type: exit
    reason: done
`;

describe('CLI commands through the running API', () => {
  let stack: TestStack;
  let server: Server;
  let dir: string;
  let api: string;
  const cli = (key: string, ...args: string[]) => runCli([...args, '--api', api, '--key', key]);

  beforeAll(async () => {
    stack = await startTestStack();
    ({ server, url: api } = await listenLocally(stack.app));
    dir = await mkdtemp(path.join(tmpdir(), 'itinera-cli-api-'));
  }, scaled(60_000));
  afterAll(async () => {
    server?.close();
    await stack?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('publishes a file, keeps identical content, and reports compiler errors at file:line:col', async () => {
    const file = path.join(dir, 'cli-parked.yaml');
    await writeFile(file, JOURNEY);
    const first = await cli(stack.keys.marketer, 'publish', file);
    expect(first).toMatchObject({ code: 0 });
    expect(first.stdout).toMatch(/^✓ published cli-parked v1 \(sha256:/);
    const again = await cli(stack.keys.marketer, 'journeys', 'publish', file);
    expect(again.stdout).toMatch(/^= unchanged cli-parked v1/);

    const bad = path.join(dir, 'bad.yaml');
    await writeFile(bad, JOURNEY.replace('id: cli-parked', 'id: cli-bad').replace('duration: 1h', 'duration: 1 hour'));
    const failed = await cli(stack.keys.marketer, 'publish', bad, file);
    expect(failed.code).toBe(1);
    // Line 9 is `    duration: 1 hour`; the value starts at column 15. A file outside the working directory keeps its path.
    expect(failed.stderr).toContain(`${bad}:9:15: steps.hold.duration: "1 hour" is not a duration`);
    expect(failed.stderr).toMatch(/1 of 2 journeys were not published/);
    expect(failed.stdout).toMatch(/= unchanged cli-parked v1/);

    // The server compiled and stored it: nothing was published for the bad one.
    const detail = await request(stack.app).get('/v1/journeys/cli-bad').set('Authorization', `Bearer ${stack.keys.marketer}`).expect(200);
    expect(detail.body.latestVersion).toBeNull();

    // An integration key may not publish: refused by the API, exit 1.
    const refused = await cli(stack.keys.integration, 'publish', file);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/✗ .*cli-parked\.yaml: /);
  }, scaled(120_000));

  it('reads journey statistics through the API as a table or JSON', async () => {
    const table = await cli(stack.keys.marketer, 'journeys', 'stats', 'cli-parked');
    expect(table).toMatchObject({ code: 0 });
    expect(table.stdout).toMatch(/^cli-parked \(all versions\): \d+ runs entered by \d+ contacts/);
    const json = await cli(stack.keys.marketer, 'journeys', 'stats', 'cli-parked', '-o', 'json', '--version', '1');
    expect(JSON.parse(json.stdout)).toMatchObject({ journeyId: 'cli-parked', version: 1 });
    const missing = await cli(stack.keys.marketer, 'journeys', 'stats', 'no-such-journey');
    expect(missing.code).toBe(1);
    const badFormat = await cli(stack.keys.marketer, 'journeys', 'stats', 'cli-parked', '-o', 'yaml');
    expect(badFormat.code).toBe(1);
    expect(badFormat.stderr).toMatch(/-o\/--output: "yaml" is not json or table/);
  }, scaled(60_000));

  it('lists runs with whole workflow ids and resolves a unique prefix', async () => {
    for (const externalId of ['cli-a', 'cli-b']) {
      await request(stack.app)
        .post('/v1/events')
        .set('Authorization', `Bearer ${stack.keys.integration}`)
        .send({ id: `ev-${externalId}`, type: 'cli.started', contact: { externalId, email: `${externalId}@example.com` } })
        .expect(202);
    }
    const ids = await until('two parked runs', async () => {
      const r = await request(stack.app).get('/v1/runs?journeyId=cli-parked&status=running').set('Authorization', `Bearer ${stack.keys.ops}`);
      const items = (r.body.items ?? []) as { workflowId: string; currentStep: string | null }[];
      return items.length === 2 && items.every((i) => i.currentStep === 'hold') ? items.map((i) => i.workflowId) : undefined;
    });
    const ls = await cli(stack.keys.ops, 'runs', 'ls', '--journey', 'cli-parked');
    expect(ls).toMatchObject({ code: 0 });
    for (const id of ids) expect(ls.stdout).toContain(id);
    expect(ls.stdout).not.toContain('…');

    const [a, b] = ids as [string, string];
    let n = 0;
    while (a[n] === b[n]) n++;
    const show = await cli(stack.keys.ops, 'runs', 'show', a.slice(0, n + 1), '-o', 'json');
    expect(show).toMatchObject({ code: 0 });
    expect(JSON.parse(show.stdout).workflowId).toBe(a);

    const ambiguous = await cli(stack.keys.ops, 'runs', 'show', a.slice(0, n));
    expect(ambiguous.code).toBe(1);
    expect(ambiguous.stderr).toContain('is the start of several runs');
    expect(ambiguous.stderr).toContain(a);
    expect(ambiguous.stderr).toContain(b);
    const none = await cli(stack.keys.ops, 'runs', 'show', 'journey:nothing-here');
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no run's workflow id is or starts with "journey:nothing-here"/);
  }, scaled(120_000));

  it('says plainly when no API is running', async () => {
    const closed = await runCli(['journeys', 'stats', 'cli-parked', '--api', 'http://127.0.0.1:9', '--key', 'x']);
    expect(closed.code).toBe(2);
    expect(closed.stderr).toMatch(/cannot reach the itinera API at http:\/\/127\.0\.0\.1:9 .*is it running\? \(npm start, or npm run api/);
  }, scaled(60_000));
});
