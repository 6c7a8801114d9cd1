/**
 * Removing a job for good: its artifacts, its event log and its projection
 * rows (steps and dead letter go with the job row). Account deletion and
 * the retention purge both use it. The projection row goes last, because it
 * is how the purge finds the job again: a removal that fails half way is
 * finished by the next attempt.
 */
import { eq } from 'drizzle-orm';
import { jobArtifactsPrefix } from '../../actors/ports/index.ts';
import { jobs, type LoomDatabase } from '../storage/index.ts';

/** What removing jobs needs from around it. */
export interface JobRemovalDeps {
  readonly db: LoomDatabase;
  /** The job log (JetStreamJobLog). */
  readonly jobLog: { remove(id: string): Promise<number> };
  readonly objects: { deletePrefix(prefix: string): Promise<number> };
}

/** What one removal deleted. */
export interface JobRemoval {
  readonly events: number;
  readonly artifacts: number;
}

/**
 * Deletes a job's artifacts, log and projection rows; repeating it is harmless.
 * @throws whatever the store, JetStream or the database throw (nothing after the failing part is done).
 */
export async function removeJob(deps: JobRemovalDeps, id: string): Promise<JobRemoval> {
  const artifacts = await deps.objects.deletePrefix(jobArtifactsPrefix(id));
  const events = await deps.jobLog.remove(id);
  await deps.db.delete(jobs).where(eq(jobs.id, id));
  return { events, artifacts };
}
