/**
 * `job_start`: starts a job for the session owner, as POST /v1/jobs does
 * (the same checks: input size, editor rights on a target document, the
 * owner's uploads as sources; the job actor validates kind and input), and
 * waits for it to end, returning its output. A job that outlives the wait is
 * reported as still running, with its id, rather than as a tool timeout.
 *
 * The job id is derived from (owner, session, call id) like an
 * Idempotency-Key: a call retried after a crash finds the job it started
 * instead of starting another. Cancelling the turn cancels the job; the
 * tool's timeout does not (the job was reported as running and goes on).
 */
import { createHash } from 'node:crypto';
import type { ActorId, DocId } from '../../../protocol/ids.ts';
import { parseActorId } from '../../../protocol/ids.ts';
import { jobOutputReplySchema, jobViewSchema, startJobReplySchema, type JobOutputRequest, type JobView, type StartJobRequest } from '../../../protocol/job.ts';
import { decodeJson, encodeJson } from '../../../protocol/reply.ts';
import type { Principal } from '../../auth/index.ts';
import { followJobEvents, jobIdForKey, resolveJobSources, type JobEventFeedDeps, type JobFeedEnd } from '../../jobs/index.ts';
import type { ActorClient } from '../../placement/actor-client.ts';
import type { ResolvedUpload } from '../../uploads/index.ts';
import type { RunnableTool, ToolInvocation } from '../runnable-tool.ts';
import { ToolFailure } from '../tool-failure.ts';
import type { EditorCheck } from './doc-edit.ts';
import { ownerPrincipal } from './doc-target.ts';

export interface JobStartDeps {
  readonly client: Pick<ActorClient, 'request'>;
  readonly feed: JobEventFeedDeps;
  readonly documents: EditorCheck;
  readonly access: 'members' | 'open';
  readonly resolveUpload?: ((ref: string, principal: Principal) => Promise<ResolvedUpload>) | undefined;
  /** Largest `input`, as JSON bytes (LOOM_JOB_MAX_INPUT_BYTES). */
  readonly maxInputBytes: number;
  readonly timeoutMs: number;
}

interface JobStartArgs {
  readonly kind: string;
  readonly input: Record<string, unknown>;
  readonly targetDocId?: string;
}

const EMPTY = new Uint8Array(0);
/** Time kept back from the tool timeout to report a still-running job. */
const REPORT_MARGIN_MS = 1_000;
const CANCEL_TIMEOUT_MS = 10_000;

export function jobStartTool(deps: JobStartDeps): RunnableTool {
  return {
    descriptor: {
      name: 'job_start',
      description:
        'Starts a job (e.g. kind document.generate, research.deep, slides.generate, script.variations) with its input and waits for its output. ' +
        'With targetDocId the job writes its text into that document live (needs editor rights).',
      parameters: {
        type: 'object',
        properties: {
          kind: { type: 'string', pattern: '^[a-z][a-z0-9-]*(\\.[a-z][a-z0-9-]*)+$', maxLength: 64 },
          input: { type: 'object', description: "The pipeline's input; its schema depends on kind" },
          targetDocId: { type: 'string', minLength: 1, maxLength: 200 },
        },
        required: ['kind', 'input'],
        additionalProperties: false,
      },
      timeoutMs: deps.timeoutMs,
      needsApproval: false,
      source: 'builtin',
    },
    async run(raw: unknown, call: ToolInvocation): Promise<string> {
      const args = raw as JobStartArgs;
      const principal = ownerPrincipal(call.ownerId);
      const inputBytes = Buffer.byteLength(JSON.stringify(args.input));
      if (inputBytes > deps.maxInputBytes) {
        throw new ToolFailure('invalid-arguments', `arguments/input: ${inputBytes} bytes of JSON; the limit is ${deps.maxInputBytes}`);
      }
      let targetDocId: DocId | null = null;
      if (args.targetDocId !== undefined) {
        try {
          targetDocId = parseActorId(args.targetDocId);
        } catch (err) {
          throw new ToolFailure('invalid-arguments', `arguments/targetDocId: ${(err as Error).message}`, { cause: err });
        }
        if (deps.access === 'members') await deps.documents.authorize(principal, targetDocId, 'editor', 'docs:write');
      }
      const input = await resolveJobSources(args.input, principal, deps.resolveUpload);
      const key = `agent-tool:${createHash('sha256').update(`${call.sessionId}\u0000${call.callId}`).digest('hex').slice(0, 40)}`;
      const id = jobIdForKey(call.ownerId, key);
      const request: StartJobRequest = { kind: args.kind, input, owner: call.ownerId, idempotencyKey: key, targetDocId, priority: 'interactive', model: null };
      const started = decodeJson((await deps.client.request('job', id, 'start', encodeJson(request), undefined, call.signal)).body, startJobReplySchema, 'start reply');
      call.log.info({ jobId: id, kind: args.kind, created: started.created }, 'job started by agent');
      let ended: boolean;
      try {
        ended = await waitForEnd(deps.feed, id, call.signal, Math.max(0, deps.timeoutMs - REPORT_MARGIN_MS));
      } catch (err) {
        if (call.signal.aborted && !isTimeout(call.signal.reason)) cancelJob(deps.client, id, call);
        throw err;
      }
      const job = ended ? decodeJson((await deps.client.request('job', id, 'get', EMPTY, undefined, call.signal)).body, jobViewSchema, 'job') : started.job;
      // A view that must fit one message leaves a large output out; the output command serves it whole.
      const output = ended && job.outputOmitted === true ? await jobOutput(deps.client, id, call.signal) : job.output;
      return JSON.stringify(summary(job, ended, output));
    },
  };
}

/** A timeout leaves the job running (it was reported as such); only a cancelled turn takes its job with it. */
function isTimeout(reason: unknown): boolean {
  return reason instanceof ToolFailure && reason.code === 'timeout';
}

/** Cancels the job of a cancelled turn, beside the turn's end (the turn does not wait for it). */
function cancelJob(client: JobStartDeps['client'], jobId: ActorId, call: ToolInvocation): void {
  const body = encodeJson({ by: call.ownerId, reason: `agent session ${call.sessionId} cancelled the turn that started it` });
  client
    .request('job', jobId, 'cancel', body, undefined, AbortSignal.timeout(CANCEL_TIMEOUT_MS))
    .then(() => call.log.info({ jobId }, 'job cancelled with its turn'))
    .catch((err: unknown) => call.log.warn({ err, jobId }, 'cancelling the job of a cancelled turn failed'));
}

/** Follows the job's events until it ends (true) or `waitMs` passes (false). */
async function waitForEnd(feed: JobEventFeedDeps, jobId: string, signal: AbortSignal, waitMs: number): Promise<boolean> {
  const wait = AbortSignal.any([signal, AbortSignal.timeout(waitMs)]);
  // An aborted signal fires no more events: the follower would never end.
  if (wait.aborted) {
    signal.throwIfAborted();
    return false;
  }
  const end = await new Promise<{ why: JobFeedEnd; err?: unknown }>((resolve, reject) => {
    followJobEvents(feed, jobId, { afterSeq: 0, signal: wait, onItem: () => undefined, onEnd: (why, err) => resolve({ why, err }) }).catch(reject);
  });
  signal.throwIfAborted();
  if (end.why === 'job-ended') return true;
  if (end.why === 'closed') return false;
  throw new ToolFailure('unavailable', `following job ${jobId} failed (${end.why}); ask again later`, { cause: end.err });
}

async function jobOutput(client: JobStartDeps['client'], id: ActorId, signal: AbortSignal): Promise<unknown> {
  const request: JobOutputRequest = {};
  return decodeJson((await client.request('job', id, 'output', encodeJson(request), undefined, signal)).body, jobOutputReplySchema, 'job output').output;
}

function summary(job: JobView, ended: boolean, output: unknown) {
  return {
    jobId: job.id,
    kind: job.kind,
    status: job.status,
    ...(ended ? { output: output ?? null, error: job.error } : { note: 'the job is still running; it goes on without this call' }),
    ...(job.targetDocId === null ? {} : { targetDocId: job.targetDocId }),
  };
}
