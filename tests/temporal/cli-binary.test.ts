import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveTemporalBinary } from '../../src/temporal/cli-binary';

function fakeExecutable(dir: string, name: string, body = '#!/bin/sh\necho fake\n'): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name);
  writeFileSync(file, body);
  chmodSync(file, 0o755);
  return file;
}

describe('resolveTemporalBinary', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'itinera-bin-'));
  const quiet = () => undefined;

  it('prefers TEMPORAL_CLI_PATH over everything else', async () => {
    const explicit = fakeExecutable(path.join(root, 'explicit'), 'temporal');
    const onPath = path.join(root, 'onpath');
    fakeExecutable(onPath, 'temporal');
    const bin = await resolveTemporalBinary({ env: { TEMPORAL_CLI_PATH: explicit, PATH: onPath }, toolsDir: root, log: quiet });
    expect(bin).toEqual({ kind: 'path', path: explicit, source: 'TEMPORAL_CLI_PATH' });
  });

  it('refuses a TEMPORAL_CLI_PATH that is not executable, naming the variable', async () => {
    await expect(
      resolveTemporalBinary({ env: { TEMPORAL_CLI_PATH: path.join(root, 'missing') }, toolsDir: root, log: quiet }),
    ).rejects.toThrow(/TEMPORAL_CLI_PATH/);
  });

  it('uses temporal on PATH, then the cache', async () => {
    const onPath = path.join(root, 'p2');
    const fromPath = fakeExecutable(onPath, 'temporal');
    expect(await resolveTemporalBinary({ env: { PATH: onPath }, toolsDir: path.join(root, 'empty'), log: quiet })).toEqual({
      kind: 'path',
      path: fromPath,
      source: 'PATH',
    });
    const cache = path.join(root, 'cache');
    const cached = fakeExecutable(cache, 'temporal');
    expect(await resolveTemporalBinary({ env: { PATH: path.join(root, 'nothing') }, toolsDir: cache, log: quiet })).toEqual({
      kind: 'path',
      path: cached,
      source: 'cache',
    });
  });

  it('builds with go install into the cache when Go is present, saying so', async () => {
    const goDir = path.join(root, 'go');
    const cache = path.join(root, 'built');
    // A stand-in `go` that records its arguments and "installs" into $GOBIN, as the real one does.
    fakeExecutable(goDir, 'go', '#!/bin/sh\necho "$@" > "$GOBIN/args"\nprintf "#!/bin/sh\\n" > "$GOBIN/temporal"\n/bin/chmod +x "$GOBIN/temporal"\n');
    const lines: string[] = [];
    const bin = await resolveTemporalBinary({ env: { PATH: goDir }, toolsDir: cache, log: (l) => lines.push(l) });
    expect(bin).toEqual({ kind: 'path', path: path.join(cache, 'temporal'), source: 'built' });
    expect(lines.join('\n')).toMatch(/building the Temporal CLI \(github.com\/temporalio\/cli\/cmd\/temporal@v1.5.1\)/);
    const again = await resolveTemporalBinary({ env: { PATH: goDir }, toolsDir: cache, log: quiet });
    expect(again.kind === 'path' && again.source).toBe('cache');
  });

  it('falls back to the SDK download without Go', async () => {
    const bin = await resolveTemporalBinary({ env: { PATH: path.join(root, 'none') }, toolsDir: path.join(root, 'none2'), log: quiet });
    expect(bin).toEqual({ kind: 'download' });
  });
});
