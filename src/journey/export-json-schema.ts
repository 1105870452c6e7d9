/**
 * Writes journeys/journey.schema.json. Run after changing schema.ts:
 *   npx tsx src/journey/export-json-schema.ts
 * (tests/journey/json-schema.test.ts fails while the committed file is out of date).
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { journeyJsonSchemaText } from './json-schema';

const target = fileURLToPath(new URL('../../journeys/journey.schema.json', import.meta.url));
writeFileSync(target, journeyJsonSchemaText());
console.log(`wrote ${target}`);
