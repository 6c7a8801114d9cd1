/**
 * The two databases the PostgreSQL adapters' tests run on, by name: a real
 * PostgreSQL 15 (one server per test file, a fresh database per open) and
 * PGlite. Every database opened is closed, and the server stopped, after
 * the file's tests.
 */
import { randomUUID } from 'node:crypto';
import { after } from 'node:test';
import { createRootLogger } from '../log.ts';
import { startPostgresServer, type PostgresServerHandle } from './index.ts';
import { users } from '../storage/postgres/accounts-schema.ts';
import { openDatabase, type Database } from '../storage/postgres/database.ts';

export function testDatabases(): Record<string, () => Promise<Database>> {
  const logger = createRootLogger({ level: 'silent', instanceId: 'test' });
  let server: PostgresServerHandle | undefined;
  const opened: Database[] = [];
  after(async () => {
    for (const d of opened) await d.close();
    await server?.dispose();
  });
  const track = async (db: Promise<Database>) => {
    const d = await db;
    opened.push(d);
    return d;
  };
  return {
    'PostgreSQL 15': async () => {
      server ??= await startPostgresServer();
      return track(openDatabase({ url: await server.createDatabase(), logger }));
    },
    PGlite: () => track(openDatabase({ logger })),
  };
}

/** Inserts a user with a random address (no password that works) and returns its id. */
export async function insertTestUser(db: Database): Promise<string> {
  const [row] = await db.db.insert(users).values({ email: `${randomUUID()}@test`, passwordHash: 'x' }).returning({ id: users.id });
  if (row === undefined) throw new Error('inserting a test user returned no row');
  return row.id;
}
