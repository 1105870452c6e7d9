import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { migrateDatabase, openDatabase, type DatabaseHandle } from '../../src/db/client';
import { EmbeddedDatabaseBusyError } from '../../src/db/embedded-lock';
import { until } from '../helpers/until';

const ROOT = path.join(import.meta.dirname, '../..');
const TSX = path.join(ROOT, 'node_modules/.bin/tsx');

/** The embedded database is one process's: a second opener gets a plain sentence instead of corrupting it. */
describe('embedded database lock', () => {
  const open: DatabaseHandle[] = [];
  const children: ReturnType<typeof spawn>[] = [];
  afterEach(async () => {
    for (const c of children.splice(0)) c.kill('SIGKILL');
    for (const d of open.splice(0)) await d.close().catch(() => undefined);
  });

  it('a second open in this process is refused, and the directory opens again once the first is closed', async () => {
    const dir = path.join(mkdtempSync(path.join(tmpdir(), 'itinera-lock-')), 'pglite');
    const first = await openDatabase({ pgliteDir: dir });
    open.push(first);
    await migrateDatabase(first);
    const second = openDatabase({ pgliteDir: dir });
    await expect(second).rejects.toBeInstanceOf(EmbeddedDatabaseBusyError);
    await expect(second).rejects.toThrow(`open in process ${process.pid}`);
    await first.close();
    open.pop();
    expect(existsSync(`${dir}.lock`)).toBe(false);
    const again = await openDatabase({ pgliteDir: dir });
    open.push(again);
    await again.ping();
  });

  it('another process holding it: open and db:migrate are refused naming it; after its kill -9 the lock is taken over', async () => {
    const dir = path.join(mkdtempSync(path.join(tmpdir(), 'itinera-lock-')), 'data');
    const script = path.join(path.dirname(dir), 'hold.mts');
    writeFileSync(
      script,
      `import { migrateDatabase, openDatabase } from ${JSON.stringify(path.join(ROOT, 'src/db/client.ts'))};
const d = await openDatabase({ pgliteDir: ${JSON.stringify(path.join(dir, 'pglite'))} });
await migrateDatabase(d);
process.stdout.write('ready ' + process.pid + '\\n');
setInterval(() => undefined, 1000);
`,
    );
    const child = spawn(TSX, [script], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    await until(async () => (out.includes('\n') || child.exitCode !== null ? true : undefined), 45_000, 100);
    // tsx runs the script in a node process of its own: the holder is the pid it prints.
    const holder = Number(/^ready (\d+)\n$/.exec(out)?.[1]);
    expect(holder, out).toBeGreaterThan(0);

    const refused = openDatabase({ pgliteDir: path.join(dir, 'pglite') });
    await expect(refused).rejects.toThrow(`open in process ${holder}`);
    // The CLI path: a plain message and exit 1, not a stack trace (nor PGlite's Aborted()).
    const cli = spawnSync(TSX, [path.join(ROOT, 'src/db/migrate-cli.ts')], { env: { ...process.env, DATABASE_URL: '', DATA_DIR: dir, LOG_LEVEL: 'error' }, encoding: 'utf8' });
    expect(cli.status).toBe(1);
    expect(cli.stderr).toContain(`is open in process ${holder}`);
    expect(cli.stderr).toContain('DATABASE_URL');

    process.kill(holder, 'SIGKILL');
    await until(async () => {
      try {
        process.kill(holder, 0);
        return undefined;
      } catch {
        return true;
      }
    }, 10_000, 50);
    const taken = await openDatabase({ pgliteDir: path.join(dir, 'pglite') });
    open.push(taken);
    await migrateDatabase(taken);
    await taken.ping();
  });
});
