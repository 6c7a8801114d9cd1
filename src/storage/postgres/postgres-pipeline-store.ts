/**
 * PipelineStore on PostgreSQL (table pipeline_definitions). A version is
 * the kind's highest plus one, computed in the INSERT itself; two
 * registrations racing for one number collide on the primary key and the
 * loser takes the next, so versions never repeat and never skip.
 */
import { and, countDistinct, desc, eq, gt, sql } from 'drizzle-orm';
import type { PipelineDefinition } from '../../../protocol/pipeline-definition.ts';
import type { PipelineStore, StoredPipeline } from '../../pipelines/pipeline-store.ts';
import type { LoomDatabase } from './database.ts';
import { pipelineDefinitions } from './pipelines-schema.ts';
import { isUniqueViolation, StorageError } from './storage-error.ts';

const t = pipelineDefinitions;
/** Attempts at a version number when registrations of one kind race. */
const APPEND_ATTEMPTS = 5;

function stored(row: typeof t.$inferSelect): StoredPipeline {
  return { ownerId: row.ownerId, kind: row.kind, version: row.version, definition: row.definition as PipelineDefinition, createdAt: row.createdAt };
}

export class PostgresPipelineStore implements PipelineStore {
  constructor(private readonly db: LoomDatabase) {}

  async append(ownerId: string, kind: string, definition: PipelineDefinition): Promise<StoredPipeline> {
    for (let attempt = 1; ; attempt++) {
      try {
        const [row] = await this.db
          .insert(t)
          .values({
            ownerId,
            kind,
            version: sql`(select coalesce(max(${t.version}), 0) + 1 from ${t} where ${t.ownerId} = ${ownerId} and ${t.kind} = ${kind})`,
            definition,
          })
          .returning();
        if (row === undefined) throw new Error('insert returned no row');
        return stored(row);
      } catch (err) {
        if (isUniqueViolation(err) && attempt < APPEND_ATTEMPTS) continue;
        throw new StorageError(`registering pipeline ${kind} of ${ownerId} failed`, { op: 'append-pipeline' }, { cause: err });
      }
    }
  }

  async latest(ownerId: string, kind: string): Promise<StoredPipeline | null> {
    const rows = await this.query('latest-pipeline', () =>
      this.db.select().from(t).where(and(eq(t.ownerId, ownerId), eq(t.kind, kind))).orderBy(desc(t.version)).limit(1),
    );
    return rows[0] === undefined ? null : stored(rows[0]);
  }

  async version(ownerId: string, kind: string, version: number): Promise<StoredPipeline | null> {
    const rows = await this.query('pipeline-version', () =>
      this.db.select().from(t).where(and(eq(t.ownerId, ownerId), eq(t.kind, kind), eq(t.version, version))).limit(1),
    );
    return rows[0] === undefined ? null : stored(rows[0]);
  }

  async listLatest(ownerId: string, opts: { limit: number; afterKind?: string | undefined }): Promise<StoredPipeline[]> {
    const where = opts.afterKind === undefined ? eq(t.ownerId, ownerId) : and(eq(t.ownerId, ownerId), gt(t.kind, opts.afterKind));
    const rows = await this.query('list-pipelines', () =>
      this.db.selectDistinctOn([t.kind]).from(t).where(where).orderBy(t.kind, desc(t.version)).limit(opts.limit),
    );
    return rows.map(stored);
  }

  async countKinds(ownerId: string): Promise<number> {
    const rows = await this.query('count-pipelines', () => this.db.select({ n: countDistinct(t.kind) }).from(t).where(eq(t.ownerId, ownerId)));
    return rows[0]?.n ?? 0;
  }

  private async query<R>(op: string, run: () => Promise<R>): Promise<R> {
    try {
      return await run();
    } catch (err) {
      throw new StorageError(`${op} failed`, { op }, { cause: err });
    }
  }
}
