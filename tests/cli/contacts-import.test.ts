import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isNull, sql } from 'drizzle-orm';
import { contacts } from '../../src/db/schema';
import { importProgressLine } from '../../src/cli/contacts-import';
import { startTestStack, type TestStack } from '../helpers/stack';
import { listenLocally, runCli } from '../helpers/cli';
import { scaled } from '../helpers/timing';


describe('itinera contacts import', () => {
  let stack: TestStack;
  let server: Server;
  let dir: string;
  let api: string;
  const cli = (...args: string[]) => runCli(['contacts', 'import', ...args, '--api', api, '--key', stack.keys.marketer]);

  beforeAll(async () => {
    stack = await startTestStack();
    ({ server, url: api } = await listenLocally(stack.app));
    dir = await mkdtemp(path.join(tmpdir(), 'itinera-cli-import-'));
  }, scaled(60_000));
  afterAll(async () => {
    server?.close();
    await stack?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('uploads a file, dry run then real, follows the progress and saves the rejects', async () => {
    const file = path.join(dir, 'people.csv');
    await writeFile(file, 'CRM,Mail,Mobile\r\nK1,ada@example.cn,13800138000\r\nK2,not-an-email,\r\nK3,bo@example.cn,\r\n');
    const mapping = path.join(dir, 'mapping.json');
    await writeFile(mapping, JSON.stringify({ columns: { CRM: 'externalId', Mail: 'email', Mobile: 'phone' } }));
    const dry = await cli(file, '--mapping', mapping, '--dry-run');
    expect(dry).toMatchObject({ code: 0 });
    expect(dry.stdout).toMatch(/dry run: nothing is written/);
    expect(dry.stdout).toMatch(/100% 3\/3 rows · 2 would be created · 0 would be updated · 0 would be merged · 1 rejected · [\d.,]+ rows\/s/);
    expect((await stack.db.db.select({ n: sql<number>`count(*)::int` }).from(contacts))[0]!.n).toBe(0);

    const rejects = path.join(dir, 'rejects.csv');
    const real = await cli(file, '--mapping', mapping, '--rejects', rejects);
    expect(real).toMatchObject({ code: 0 });
    expect(real.stdout).toMatch(/import completed/);
    expect(real.stdout).toMatch(/1 rejected rows written to/);
    expect(await readFile(rejects, 'utf8')).toBe('CRM,Mail,Mobile,_row,_column,_reason\r\nK2,not-an-email,,2,Mail,"email: ""not-an-email"" is not an email address"\r\n');
    expect((await stack.db.db.select({ n: sql<number>`count(*)::int` }).from(contacts).where(isNull(contacts.mergedInto)))[0]!.n).toBe(2);
  }, scaled(120_000));

  it('a mapping that names a missing column is a user error (exit 1) naming the field', async () => {
    const file = path.join(dir, 'x.csv');
    await writeFile(file, 'email\na@b.cn\n');
    const mapping = path.join(dir, 'bad.json');
    await writeFile(mapping, JSON.stringify({ columns: { Mail: 'email' } }));
    const r = await cli(file, '--mapping', mapping);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/query\.mapping\.columns\.Mail: names a column the file does not have/);
  }, scaled(60_000));

  it('draws rows done, counts, rate and ETA', () => {
    const line = importProgressLine({ importId: 'i', status: 'running', dryRun: false, encoding: 'utf-8', totalRows: 5000, rowsDone: 3050, created: 3000, updated: 20, merged: 10, rejected: 20, rowsPerSecond: 180, etaSeconds: 11, rejectsUrl: '', error: null }, 10);
    expect(line).toBe('[██████░░░░] 61% 3,050/5,000 rows · 3,000 created · 20 updated · 10 merged · 20 rejected · 180 rows/s · ETA 11s');
  });
});
