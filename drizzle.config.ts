import { defineConfig } from 'drizzle-kit';

// Migrations are generated from src/db/schema.ts only; drizzle-kit needs no live database for `generate`.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema.ts',
  out: './drizzle',
});
