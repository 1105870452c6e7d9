import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { journeyJsonSchema, journeyJsonSchemaText } from '../../src/journey/json-schema';
import { STEP_TYPES } from '../../src/journey/schema';
import { JOURNEYS } from './helpers';

describe('journeys/journey.schema.json', () => {
  it('is up to date (regenerate with npx tsx src/journey/export-json-schema.ts)', () => {
    expect(readFileSync(`${JOURNEYS}journey.schema.json`, 'utf8')).toBe(journeyJsonSchemaText());
  });

  it('describes every step type, both step forms and the duration pattern', () => {
    const schema = journeyJsonSchema() as { required: string[]; properties: Record<string, { anyOf?: unknown[] }> };
    expect(schema.required).toEqual(expect.arrayContaining(['id', 'name', 'triggers', 'steps']));
    expect(schema.properties.steps!.anyOf).toHaveLength(2);
    const text = JSON.stringify(schema);
    for (const t of STEP_TYPES) expect(text).toContain(`"const":"${t}"`);
    expect(text).toContain('P(?:\\\\d+W)?');
  });
});
