import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { run } from '../chaos/harness/proc';

describe('npm run temporal:cluster', () => {
  it('run again on a running cluster: updates nothing, starts nothing, finds namespace and search attributes', async () => {
    const [history, visibility] = inject('clusterDatabases');
    const port = inject('clusterAddress').split(':')[1]!;
    const dir = mkdtempSync(path.join(tmpdir(), 'itinera-cluster-script-'));
    try {
      const out = await run(process.execPath, ['--import', 'tsx', 'scripts/temporal-cluster.ts'], {
        env: { ...process.env, DATABASE_URL: inject('clusterDatabaseUrl'), TEMPORAL_DB: history, TEMPORAL_VISIBILITY_DB: visibility, TEMPORAL_CLUSTER_PORT: port, TEMPORAL_CLUSTER_DIR: dir },
      });
      expect(out).toContain(`${history} schema updated to`);
      expect(out).toContain(`${visibility} schema updated to`);
      expect(out).not.toContain('created database');
      expect(out).toContain(`a server already answers at 127.0.0.1:${port}`);
      expect(out).toContain('namespace default present; search attributes present');
      expect(out).toMatch(/ready — TEMPORAL_ADDRESS=127\.0\.0\.1:\d+ \(already running\), 8 history shards/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
