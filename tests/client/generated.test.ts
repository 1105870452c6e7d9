import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CLIENT_SCHEMA_PATH, generatedClientSchema } from '../../scripts/generate-client';

describe('the typed client', () => {
  // The client's types are generated from the route table: a route or schema change without `npm run client:generate` fails here.
  it('client/src/schema.ts is what the current OpenAPI document generates', async () => {
    const committed = readFileSync(CLIENT_SCHEMA_PATH, 'utf8');
    const fresh = await generatedClientSchema();
    expect(committed === fresh, 'client/src/schema.ts is stale: run npm run client:generate and commit it').toBe(true);
    expect(committed).toContain('"/v1/contacts/{externalId}"');
  });
});
