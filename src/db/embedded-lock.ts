import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';

/**
 * PGlite has no cross-process lock: a second process opening the same directory corrupts it (the CLI's `publish`
 * beside `npm start` crashed with `Aborted()`). The embedded database is therefore guarded by a lock file holding the
 * owner's pid; a lock whose process is gone (kill -9) is taken over.
 */
export class EmbeddedDatabaseBusyError extends Error {
  constructor(
    readonly dir: string,
    readonly pid: number,
  ) {
    super(
      `The embedded database in ${dir} is open in process ${pid} (is \`npm start\` running?). Only one process can use it: ` +
        `stop that process, or set DATABASE_URL to share a Postgres database. ` +
        `嵌入式数据库 ${dir} 正被进程 ${pid} 使用（\`npm start\` 是否在运行？）：请先停止该进程，或设置 DATABASE_URL 使用 Postgres。`,
    );
    this.name = 'EmbeddedDatabaseBusyError';
  }
}


function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the lock on `dir` for this process, or throws {@link EmbeddedDatabaseBusyError}. The lock file sits beside the
 * directory (`<dir>.lock`): PGlite's initdb refuses a data directory holding anything else.
 */
export function lockEmbeddedDatabase(dir: string): { release(): void } {
  const file = `${path.resolve(dir)}.lock`;
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number;
    try {
      fd = openSync(file, 'wx');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let owner = Number.NaN;
      try {
        owner = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
      } catch {
        // Removed meanwhile, or unreadable: treated as stale below.
      }
      if (Number.isInteger(owner) && owner > 0 && alive(owner)) throw new EmbeddedDatabaseBusyError(path.resolve(dir), owner);
      // The owner died without releasing it: stale.
      try {
        unlinkSync(file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
      continue;
    }
    writeSync(fd, `${process.pid}\n`);
    closeSync(fd);
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      process.off('exit', release);
      try {
        if (readFileSync(file, 'utf8').trim() === String(process.pid)) unlinkSync(file);
      } catch {
        // Already gone.
      }
    };
    process.on('exit', release);
    return { release };
  }
  throw new Error(`could not take the lock ${file}: another process keeps recreating it`);
}
