/**
 * Test fixture: jobs recorded the way the job actor records them (events in
 * the real JetStream job log, the projection written from their fold) and an
 * artifact in the object store, without running a pipeline. Lets retention
 * and account tests place jobs at any point in time.
 */
import { projectionRecord as agentProjectionRecord, replayAgentSession, type AgentLog } from '../../actors/agent/index.ts';
import { projectionRecord, replayJob } from '../../actors/job/index.ts';
import { artifactKey } from '../../actors/ports/index.ts';
import { encodeAgentEvent, type AgentEvent } from '../../protocol/agent-events.ts';
import { encodeJobEvent, type JobEvent } from '../../protocol/job-events.ts';
import type { JetStreamJobLog } from '../nats/jetstream-job-log.ts';
import type { ArtifactStore, PostgresAgentProjection, PostgresJobProjection } from '../storage/index.ts';

export interface RecordedJob {
  readonly id: string;
  readonly artifactKey: string;
}

/**
 * Records a job created at `at` that is still running, or that succeeded at `finishedAt` with `output`,
 * plus one artifact `report.md` of its step `compose`.
 */
export async function recordJob(
  deps: { jobLog: JetStreamJobLog; projection: PostgresJobProjection; artifacts: ArtifactStore },
  job: { id: string; owner: string; at: number; input?: unknown; finishedAt?: number; output?: unknown },
): Promise<RecordedJob> {
  const events: JobEvent[] = [
    {
      type: 'job-created',
      v: 1,
      at: job.at,
      kind: 'document.generate',
      input: job.input ?? { topic: 'tides' },
      owner: job.owner,
      idempotencyKey: null,
      targetDocId: null,
      inputHash: 'fixture',
      priority: 'batch',
      model: 'fixture-model',
      policy: { maxAttempts: 1, stepTimeoutMs: 1_000, maxParallelSteps: 1, retryBaseMs: 0, retryMaxMs: 0 },
    },
  ];
  if (job.finishedAt !== undefined) events.push({ type: 'job-succeeded', v: 1, at: job.finishedAt, output: job.output ?? { text: 'done' } });
  let seq = 0;
  for (const event of events) seq = await deps.jobLog.append(job.id, encodeJobEvent(event), seq);
  await deps.projection.save(projectionRecord(await replayJob(job.id, { log: deps.jobLog })));
  const key = artifactKey(job.id, 'compose', 'report.md');
  await deps.artifacts.put(key, Buffer.from(`# report of ${job.id}`), { contentType: 'text/markdown' });
  return { id: job.id, artifactKey: key };
}

/** Records an idle agent session of `owner` whose one turn asked `question` and got `answer`. */
export async function recordAgentSession(
  deps: { agentLog: AgentLog; projection: PostgresAgentProjection },
  session: { id: string; owner: string; at: number; question: string; answer: string },
): Promise<void> {
  const events: AgentEvent[] = [
    {
      type: 'session-started',
      v: 1,
      at: session.at,
      ownerId: session.owner,
      instructions: null,
      model: 'fixture-model',
      tools: [],
      docId: null,
      maxSteps: 4,
      tokenBudget: 8_000,
      requestHash: 'fixture',
    },
    { type: 'turn-started', v: 1, at: session.at, turnId: 't1', content: session.question },
    { type: 'turn-completed', v: 1, at: session.at, turnId: 't1', status: 'completed', answer: session.answer, error: null },
  ];
  let seq = 0;
  for (const event of events) seq = await deps.agentLog.append(session.id, encodeAgentEvent(event), seq);
  await deps.projection.save(agentProjectionRecord(await replayAgentSession(session.id, { log: deps.agentLog })));
}
