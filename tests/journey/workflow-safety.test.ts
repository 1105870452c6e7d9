/**
 * The interpreter runs inside Temporal workflow code: it and everything it imports at runtime must be
 * free of Node builtins, zod/yaml/handlebars, clocks and randomness. Checked on the source, following
 * imports, so a new import cannot slip in unnoticed.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../../src/journey/', import.meta.url));

function runtimeImports(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(/^import\s+(type\s+)?[^'"]*?from\s+'([^']+)';/gms)) if (!m[1]) out.push(m[2]!);
  for (const m of source.matchAll(/^import\s+'([^']+)';/gm)) out.push(m[1]!);
  return out;
}

function closure(entry: string): Map<string, string> {
  const files = new Map<string, string>();
  const visit = (name: string) => {
    if (files.has(name)) return;
    const source = readFileSync(`${SRC}${name}.ts`, 'utf8');
    files.set(name, source);
    for (const spec of runtimeImports(source)) {
      if (!spec.startsWith('./')) throw new Error(`${name}.ts imports ${spec} at runtime`);
      visit(spec.slice(2));
    }
  };
  visit(entry);
  return files;
}

describe('interpreter is workflow-safe', () => {
  const files = closure('interpreter');

  it('imports only local pure modules at runtime', () => {
    expect([...files.keys()].sort()).toEqual(['conditions', 'hash', 'interpreter', 'plan', 'time']);
  });

  it.each([...closure('interpreter').keys()])('%s.ts uses no clock, randomness or Node globals', (name) => {
    const code = files.get(name)!.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
    expect(code).not.toMatch(/Date\.now\(/);
    expect(code).not.toMatch(/new Date\(\s*\)/);
    expect(code).not.toMatch(/Math\.random/);
    expect(code).not.toMatch(/\b(process|require|Buffer|setTimeout|setInterval|performance)\b/);
  });

  it('the runtime-import scanner sees type-only imports as such', () => {
    expect(runtimeImports("import type { A } from 'zod';\nimport { b } from './b';\nimport {\n  type C,\n  d,\n} from './d';")).toEqual(['./b', './d']);
  });
});
