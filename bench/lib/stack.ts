/**
 * The stack a benchmark run stands up for itself: a file-backed Temporal dev server, a scratch database, a counting
 * SMTP sink, a webhook receiver and worker child processes, plus /proc readers for memory and CPU.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { SMTPServer } from 'smtp-server';
import { sql } from 'drizzle-orm';
import type { DatabaseHandle, Db } from '../../src/db/client';
import { createTestDatabase } from '../../tests/helpers/db';
import { resolveTemporalBinary } from '../../src/temporal/cli-binary';
import { startDevServer, type DevServer } from '../../src/temporal/dev-server';

export const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A port the OS just handed out, so parallel runs (and other people's servers) never collide. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** Runs `fn` for 0..n-1 with at most `limit` in flight. */
export async function mapLimit(n: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.max(0, Math.min(limit, n)) }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

/** One line every `everyMs` while a long phase runs. */
export function progressEvery(everyMs: number, line: () => string): () => void {
  const t0 = Date.now();
  const timer = setInterval(() => process.stdout.write(`    … ${((Date.now() - t0) / 1000).toFixed(0)} s: ${line()}\n`), everyMs);
  return () => clearInterval(timer);
}

// ---------------------------------------------------------------------------------------------------------------
// Temporal

export async function startTemporal(dataDir: string): Promise<DevServer> {
  const bin = await resolveTemporalBinary();
  if (bin.kind !== 'path') throw new Error('the benchmark needs a local temporal binary (set TEMPORAL_CLI_PATH or run npm run temporal:bin)');
  return startDevServer({ binary: bin.path, dataDir, port: await freePort(), headless: true, logLevel: 'error' });
}

// ---------------------------------------------------------------------------------------------------------------
// Database

export type BenchDatabase = DatabaseHandle & {
  /** The URL a child process (worker) connects with; undefined for in-memory PGlite. */
  url: string | undefined;
  /** pg_database_size in bytes (Postgres) or null. */
  size(): Promise<number | null>;
  drop(): Promise<void>;
};

/** A fresh database per run from DATABASE_URL (dropped at the end), or in-memory PGlite when it is unset. */
export async function scratchDatabase(poolSize: number): Promise<BenchDatabase> {
  const db = await createTestDatabase({ poolSize, prefix: 'itinera_bench' });
  if (!db.url) return { ...db, size: async () => null };
  const sizer = new pg.Pool({ connectionString: db.url, max: 1 });
  return {
    ...db,
    size: async () => Number((await sizer.query<{ n: string }>('select pg_database_size(current_database()) as n')).rows[0]!.n),
    drop: async () => {
      await sizer.end();
      await db.drop();
    },
  };
}

/** The dev server's SQLite file plus its WAL, in bytes. */
export function sqliteBytes(dbFile: string): number {
  let total = 0;
  for (const f of [dbFile, `${dbFile}-wal`, `${dbFile}-shm`]) {
    try {
      total += statSync(f).size;
    } catch {
      // not there (yet)
    }
  }
  return total;
}

// ---------------------------------------------------------------------------------------------------------------
// SMTP sink and webhook receiver

export type MailSink = {
  url: string;
  received(): number;
  /** Called with each message's first recipient and its arrival time (ms since epoch). */
  onMessage: ((to: string, at: number, idempotencyKey: string | undefined) => void) | undefined;
  close(): Promise<void>;
};

/** A real SMTP server that counts what it accepts (no MIME parsing, so the sink is not what gets measured). */
export async function startMailSink(): Promise<MailSink> {
  let received = 0;
  const sink: MailSink = {
    url: '',
    received: () => received,
    onMessage: undefined,
    close: () => new Promise((r) => server.close(() => r())),
  };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      let head = '';
      stream.on('data', (c: Buffer) => {
        if (head.length < 8192) head += c.toString('utf8');
      });
      stream.on('end', () => {
        received++;
        const at = Date.now();
        const key = /^X-Itinera-Idempotency-Key:\s*(.+)$/im.exec(head)?.[1]?.trim();
        sink.onMessage?.(session.envelope.rcptTo[0]?.address ?? '', at, key);
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  sink.url = `smtp://127.0.0.1:${(server.server.address() as net.AddressInfo).port}`;
  return sink;
}

export type Receiver = { url: string; received(): number; close(): Promise<void> };

/** A local HTTP endpoint for webhook steps: reads the body, answers 200. */
export async function startReceiver(): Promise<Receiver> {
  let received = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received++;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    received: () => received,
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Child processes and /proc

export type Child = { pid: number; process: ChildProcess; output: () => string; stop(): Promise<void> };

/**
 * Starts a TypeScript entry (through tsx's loader) as a child process and resolves once a line of its output matches
 * `ready`. The last output is kept for error messages.
 */
export async function startChild(entry: string, args: string[], env: Record<string, string>, ready: RegExp, timeoutMs = 90_000): Promise<Child> {
  // BENCH_PROFILE_DIR=dir: every child (itinera's worker, the bare worker) writes a V8 CPU profile there on exit.
  const profile = process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : [];
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', entry, ...args], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tail = '';
  const keep = (d: Buffer) => {
    tail = (tail + d.toString()).slice(-8000);
  };
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  void exited.then(() => process.off('exit', killOnExit));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${entry} was not ready within ${timeoutMs / 1000} s:\n${tail}`)), timeoutMs);
    const onData = (d: Buffer) => {
      keep(d);
      if (ready.test(tail)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${entry} exited with code ${code} before it was ready:\n${tail}`));
    });
  });
  return {
    pid: child.pid!,
    process: child,
    output: () => tail,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** VmRSS and VmHWM (peak) of a process in bytes, from /proc/<pid>/status. */
export function procMemory(pid: number): { rss: number; hwm: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return null;
  }
}

const TICK = 100; // USER_HZ on Linux

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat. */
export function procCpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / TICK;
  } catch {
    return null;
  }
}

/** CPU seconds the Postgres backends serving this database have used so far (a pool keeps its connections). */
export async function backendCpuSeconds(db: Db): Promise<number> {
  const { rows } = (await db.execute(sql`select pid from pg_stat_activity where datname = current_database()`)) as unknown as { rows: { pid: number }[] };
  return rows.reduce((sum, r) => sum + (procCpuSeconds(r.pid) ?? 0), 0);
}

/** Busy and total CPU seconds of the whole machine (all cores), from /proc/stat. */
export function machineCpuSeconds(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = line.reduce((a, b) => a + b, 0);
  const idle = (line[3] ?? 0) + (line[4] ?? 0);
  return { busy: (total - idle) / TICK, total: total / TICK };
}

/**
 * Measures where the CPU went during a phase: cores used by each named process and by the whole machine. "cores"
 * is CPU-seconds per wall-second, so 1.0 = one core flat out; on this machine the ceiling is 2.
 */
export function cpuMeter(pids: Record<string, number | undefined>) {
  const t0 = Date.now();
  const m0 = machineCpuSeconds();
  const p0 = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, pid ? procCpuSeconds(pid) : null]));
  return () => {
    const wall = (Date.now() - t0) / 1000 || 1e-9;
    const m1 = machineCpuSeconds();
    const cores: Record<string, number | null> = {};
    for (const [k, pid] of Object.entries(pids)) {
      const a = p0[k];
      const b = pid ? procCpuSeconds(pid) : null;
      cores[k] = a !== null && a !== undefined && b !== null ? Math.round(((b - a) / wall) * 100) / 100 : null;
    }
    return { seconds: Math.round(wall * 10) / 10, machineBusyCores: Math.round(((m1.busy - m0.busy) / wall) * 100) / 100, cores };
  };
}

export const relative = (p: string) => path.relative(PROJECT_ROOT, p);
