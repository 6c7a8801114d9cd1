/**
 * drizzle-kit configuration: where the schema lives and where generated SQL
 * migrations go. Only `generate` is used (`npx drizzle-kit generate --name <what>`);
 * migrations are applied by `src/storage/postgres/migrate-cli.ts`, never by
 * drizzle-kit, so this file needs no database credentials.
 */
import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  schema: './src/storage/postgres/schema.ts',
  out: './migrations',
  strict: true,
  verbose: true,
});
