/**
 * /v1/jobs: create a job (idempotent by `Idempotency-Key`), list your jobs, read one (and
 * any output its view left out to fit one message, and its steps by pages: job-steps.ts), cancel it, approve or reject its waiting step, and follow its events as
 * Server-Sent Events (job-events-sse.ts). Jobs belong to their creator:
 * everyone else gets 404, as if the job did not exist. A job that writes
 * into a document needs editor rights on it at creation. Bad input (unknown
 * kind, invalid or oversized input) is refused before anything is recorded:
 * the job actor validates and appends nothing.
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import type { JSONValue } from 'hono/utils/types';
import type { AuditEvent } from '../../auth/audit-log.ts';
import type { AuthEnv, Principal } from '../../auth/principal.ts';
import { ProtocolError } from '../../../protocol/errors.ts';
import { parseActorId, type ActorId, type DocId } from '../../../protocol/ids.ts';
import { artifactRefSchema, jobErrorSchema, JOB_PRIORITIES, type JobPipeline } from '../../../protocol/job-events.ts';
import {
  IDEMPOTENCY_KEY_PATTERN,
  JOB_KIND_PATTERN,
  JOB_STATUSES,
  jobOutputReplySchema,
  jobStepsReplySchema,
  jobViewSchema,
  startJobReplySchema,
  type JobOutputRequest,
  type JobStepsRequest,
  type JobView,
  type StartJobRequest,
} from '../../../protocol/job.ts';
import { decodeCursor, encodeCursor } from '../../documents/index.ts';
import type { JobListPage, JobListQuery } from '../../storage/postgres/job-listing.ts';
import { decodeJson, encodeJson } from '../../../protocol/reply.ts';
import { jobIdForKey, JobOwners, newJobId, resolveJobSources } from '../../jobs/index.ts';
import type { JobEventFeedDeps } from '../../jobs/job-event-feed.ts';
import type { JetStreamJobLog } from '../../nats/jetstream-job-log.ts';
import type { Logger } from '../../log.ts';
import type { ActorClient } from '../../placement/actor-client.ts';
import type { ResolvedUpload } from '../../uploads/index.ts';
import { HttpError } from '../errors.ts';
import { idempotencyKeyOf } from '../idempotency-key.ts';
import { servedModel } from '../served-model.ts';
import { createRouter, errorResponses, jsonContent, SECURITY, type Router } from '../router.ts';
import { queryInt, safeJson, safeText } from '../safe-text.ts';
import { jobEventsHandler } from './job-events-sse.ts';
import { stepsRouteDef, type HttpStepsPage } from './job-steps.ts';

export interface JobsRoutesDeps {
  readonly client: ActorClient;
  readonly jobLog: JetStreamJobLog;
  readonly feed: JobEventFeedDeps;
  /** The caller (set by the auth middleware in production; tests supply their own). */
  readonly getPrincipal: (c: Context<AuthEnv>) => Principal;
  /** Whether the principal may edit the document a job would write into. */
  readonly canEditDocument: (principal: Principal, docId: DocId) => Promise<boolean>;
  /** A URL the owner can download an artifact from; artifacts are listed without one when absent. */
  readonly downloadUrl?: (key: string) => Promise<string>;
  /**
   * Resolves an upload a job input names (`input.sources[].uploadId`): the
   * caller's, complete, still stored. Its UploadError (404/409/422) is the
   * answer to the create request. Jobs cannot take uploads when absent.
   */
  readonly resolveUpload?: (ref: string, principal: Principal) => Promise<ResolvedUpload>;
  /** Largest `input`, as JSON bytes (413 above). */
  readonly maxInputBytes: number;
  /**
   * The models a job may name (LOOM_DEFAULT_MODEL and LOOM_INFERENCE_MODELS):
   * any other is refused at creation (400, field `model`) rather than queued
   * for no worker. Any well-formed name when absent.
   */
  readonly models?: ReadonlySet<string>;
  /**
   * The registered definition a new job of `kind` runs (the caller's newest
   * version), after checking `input` against its input schema; null for a
   * built-in kind. Its PipelineError (unknown kind, invalid input: 400 naming
   * the field) is the answer. Every kind goes to the job actor when absent.
   */
  readonly resolvePipeline?: (ownerId: string, kind: string, input: unknown) => Promise<JobPipeline | null>;
  /** The caller's jobs, newest first, from the projection (GET /v1/jobs); the route is absent without it. */
  readonly listJobs?: (ownerId: string, query: JobListQuery) => Promise<JobListPage>;
  /** Records job creation, cancellation and approval decisions (GET /v1/audit). */
  readonly audit?: { record(event: AuditEvent): Promise<void> };
  /** Runs before every route (authentication). */
  readonly middleware?: MiddlewareHandler<AuthEnv>;
  readonly logger: Logger;
}

const EMPTY = new Uint8Array(0);

const jobIdParam = z.object({ id: safeText().min(1).max(200).openapi({ description: 'Job id', example: 'job_3k2mx7q4d5c6b7a8e9f0g1h2j3' }) });

const createBody = z
  .object({
    kind: z.string().regex(JOB_KIND_PATTERN, 'must be a job kind such as document.generate').max(64).openapi({ example: 'document.generate' }),
    input: safeJson(z.record(z.unknown())).openapi({ description: "The pipeline's input; its schema depends on `kind`", example: { topic: 'Tides', sections: 5 } }),
    targetDocId: safeText().min(1).max(200).optional().openapi({ description: 'A document the job writes its text into, live (needs editor rights)' }),
    idempotencyKey: z.string().regex(IDEMPOTENCY_KEY_PATTERN, 'must be 1-255 printable ASCII characters').optional().openapi({
      description: 'Same key (per owner) = same job. The Idempotency-Key header works too.',
    }),
    priority: z.enum(JOB_PRIORITIES).optional(),
    model: safeText().min(1).max(128).optional().openapi({ description: 'A model Loom serves (LOOM_DEFAULT_MODEL or one of LOOM_INFERENCE_MODELS); default LOOM_DEFAULT_MODEL' }),
  })
  .strict()
  .openapi('CreateJob');

/** A job as HTTP clients get it: artifacts carry a download URL. */
type HttpJobView = Omit<JobView, 'artifacts' | 'output' | 'steps'> & {
  /** Decoded from JSON, so JSON. */
  output: JSONValue;
  steps: Array<Omit<JobView['steps'][number], 'output'> & { output: JSONValue }>;
  artifacts: Array<JobView['artifacts'][number] & { downloadUrl: string | null }>;
};
const httpJobView = jobViewSchema
  .extend({ artifacts: z.array(artifactRefSchema.extend({ downloadUrl: z.string().nullable() })) })
  .openapi('Job') as unknown as z.ZodType<HttpJobView>;

const createdSchema = z.object({ created: z.boolean(), job: httpJobView }).openapi('CreatedJob');

const createRouteDef = createRoute({
  method: 'post',
  path: '/',
  tags: ['jobs'],
  summary: 'Start a job',
  description: 'Returns 201 with the new job, or 200 with the existing one when the idempotency key was used before with the same request.',
  security: SECURITY,
  request: {
    headers: z.object({ 'idempotency-key': z.string().regex(IDEMPOTENCY_KEY_PATTERN).optional() }),
    body: { content: { 'application/json': { schema: createBody } }, required: true },
  },
  responses: {
    201: jsonContent(createdSchema, 'Created'),
    200: jsonContent(createdSchema, 'The job this idempotency key created before'),
    ...errorResponses(400, 401, 403, 409, 413, 429, 503),
  },
});

const jobSummarySchema = z
  .object({
    id: z.string(),
    kind: z.string(),
    status: z.enum(JOB_STATUSES),
    targetDocId: z.string().nullable(),
    error: jobErrorSchema.nullable(),
    usage: z.object({ calls: z.number().int(), promptTokens: z.number().int(), completionTokens: z.number().int(), costUsd: z.number(), durationMs: z.number() }),
    lastSeq: z.number().int(),
    createdAt: z.string(),
    updatedAt: z.string(),
    finishedAt: z.string().nullable(),
  })
  .openapi('JobSummary');

const listRouteDef = createRoute({
  method: 'get',
  path: '/',
  tags: ['jobs'],
  summary: 'My jobs, newest first, optionally of one kind or one status',
  security: SECURITY,
  request: {
    query: z.object({
      kind: z.string().regex(JOB_KIND_PATTERN, 'must be a job kind such as document.generate').max(64).optional(),
      status: z.enum(JOB_STATUSES).optional(),
      limit: queryInt({ min: 1, max: 100 }).default(20),
      cursor: safeText().min(1).max(200).optional().openapi({ description: 'nextCursor of the previous page' }),
    }),
  },
  responses: {
    200: jsonContent(z.object({ jobs: z.array(jobSummarySchema), nextCursor: z.string().nullable() }).openapi('JobPage'), 'A page of jobs'),
    ...errorResponses(400, 401, 403, 503),
  },
});

const getRouteDef = createRoute({
  method: 'get',
  path: '/{id}',
  tags: ['jobs'],
  summary: 'A job: status, steps, outputs with artifact download URLs, usage and cost',
  security: SECURITY,
  request: { params: jobIdParam },
  responses: { 200: jsonContent(httpJobView, 'The job'), ...errorResponses(400, 401, 404, 413, 503) },
});

/** An output in full: `step` null for the job's own. */
const jobOutputSchema = z
  .object({ step: z.string().nullable(), output: z.unknown().openapi({ description: 'The output as recorded; null while there is none' }) })
  .openapi('JobOutput') as unknown as z.ZodType<{ step: string | null; output: JSONValue }>;

/** GET of one output: the route definitions differ only in path, summary and params. */
const outputRoute = <P extends typeof jobIdParam>(path: string, whose: string, params: P) =>
  createRoute({
    method: 'get',
    path,
    tags: ['jobs'],
    summary: `${whose} output in full (the job view leaves large outputs out, with outputOmitted: true)`,
    security: SECURITY,
    request: { params },
    responses: { 200: jsonContent(jobOutputSchema, `${whose} output`), ...errorResponses(400, 401, 403, 404, 413, 503) },
  });
const jobOutputRouteDef = outputRoute('/{id}/output', "The job's own", jobIdParam);
const stepOutputRouteDef = outputRoute(
  '/{id}/steps/{step}/output',
  "One step's",
  jobIdParam.extend({ step: safeText().min(1).max(200).openapi({ description: 'Step id', example: 'outline' }) }),
);

const cancelRouteDef = createRoute({
  method: 'post',
  path: '/{id}/cancel',
  tags: ['jobs'],
  summary: 'Cancel a job: no new steps start, in-flight model calls are cancelled',
  security: SECURITY,
  request: {
    params: jobIdParam,
    body: { content: { 'application/json': { schema: z.object({ reason: safeText().max(1_000).optional() }).strict().openapi('CancelJob') } }, required: false },
  },
  responses: { 200: jsonContent(httpJobView, 'The cancelled job'), ...errorResponses(400, 401, 404, 409, 413, 503) },
});

const approveRouteDef = createRoute({
  method: 'post',
  path: '/{id}/approve',
  tags: ['jobs'],
  summary: 'Approve (the job goes on) or reject (the job ends) the step waiting for approval',
  security: SECURITY,
  request: {
    params: jobIdParam,
    body: {
      content: {
        'application/json': {
          schema: z
            .object({ approved: z.boolean(), step: safeText().min(1).max(64).optional(), comment: safeText().max(4_000).optional() })
            .strict()
            .openapi('ApproveJob'),
        },
      },
      required: true,
    },
  },
  responses: { 200: jsonContent(httpJobView, 'The job after the decision'), ...errorResponses(400, 401, 404, 409, 413, 503) },
});

const eventsRouteDef = createRoute({
  method: 'get',
  path: '/{id}/events',
  tags: ['jobs'],
  summary: "A job's events as Server-Sent Events, resumable with Last-Event-ID",
  description:
    'Each job event is sent with `id:` = its log sequence and `event:` = its type; model token deltas come as `event: token` without an id. ' +
    'Reconnect with the `Last-Event-ID` header (or `?lastEventId=`) to get every event after it exactly once. The stream ends after the job ends.',
  security: SECURITY,
  request: {
    params: jobIdParam,
    headers: z.object({ 'last-event-id': z.string().regex(/^\d{1,15}$/, 'must be an event id (a sequence number)').optional() }),
    query: z.object({ lastEventId: z.string().regex(/^\d{1,15}$/, 'must be an event id (a sequence number)').optional() }),
  },
  responses: { 200: { description: 'text/event-stream', content: { 'text/event-stream': { schema: z.string() } } }, ...errorResponses(400, 401, 404) },
});

function requireJobsScope(principal: Principal): void {
  if (!principal.scopes.has('jobs:run')) throw new HttpError(403, 'insufficient-scope', 'this API key lacks the jobs:run scope');
}

function parseJobId(raw: string): ActorId {
  try {
    return parseActorId(raw);
  } catch (err) {
    throw new HttpError(400, 'invalid-request', `id: ${(err as Error).message}`, { field: 'id', cause: err });
  }
}

/** The jobs router, to mount at /v1/jobs. */
export function jobsRoutes(deps: JobsRoutesDeps): Router {
  const router = createRouter();
  if (deps.middleware !== undefined) router.use('*', deps.middleware);

  /** The action happened whatever the audit log says: a failed record is logged, not returned. */
  const audit = async (c: Context<AuthEnv>, principal: Principal, action: 'job.create' | 'job.cancel' | 'job.approve', jobId: string, detail?: Record<string, unknown>) => {
    if (deps.audit === undefined) return;
    try {
      await deps.audit.record({ action, actor: principal, targetType: 'job', targetId: jobId, ip: c.get('clientIp'), ...(detail === undefined ? {} : { detail }) });
    } catch (err) {
      deps.logger.warn({ err, action, jobId }, 'recording a job action in the audit log failed');
    }
  };

  const urlOf = async (key: string): Promise<string | null> => (deps.downloadUrl === undefined ? null : await deps.downloadUrl(key));
  const withUrls = async (job: JobView): Promise<HttpJobView> => ({
    ...job,
    output: (job.output ?? null) as JSONValue,
    steps: job.steps.map((st) => ({ ...st, output: (st.output ?? null) as JSONValue })),
    artifacts: await Promise.all(job.artifacts.map(async (a) => ({ ...a, downloadUrl: await urlOf(a.key) }))),
  });

  /** The job as its owner sees it; 404 for everyone else and for jobs that do not exist. */
  const owners = new JobOwners(deps.jobLog);
  /**
   * Resolves for the owner; 404 for everyone else and for jobs that do not
   * exist. Read from the job's first log entry (then remembered), so a
   * made-up id activates nothing and no check reads the job's view.
   */
  const requireOwner = async (id: ActorId, principal: Principal): Promise<void> => {
    const owner = await owners.of(id);
    if (owner === null || owner !== principal.userId) throw new ProtocolError('not-found', `job ${id} does not exist`);
  };
  const ownJob = async (id: ActorId, principal: Principal): Promise<JobView> => {
    await requireOwner(id, principal);
    return decodeJson((await deps.client.request('job', id, 'get', EMPTY)).body, jobViewSchema, 'job');
  };

  router.openapi(createRouteDef, async (c) => {
    const principal = deps.getPrincipal(c);
    requireJobsScope(principal);
    const body = c.req.valid('json');
    const key = idempotencyKeyOf(c.req.valid('header')['idempotency-key'], body.idempotencyKey);
    const model = body.model === undefined ? null : servedModel(body.model, deps.models);
    const inputBytes = Buffer.byteLength(JSON.stringify(body.input));
    if (inputBytes > deps.maxInputBytes) {
      throw new HttpError(413, 'input-too-large', `input is ${inputBytes} bytes of JSON; the limit is ${deps.maxInputBytes}`, { field: 'input' });
    }
    let targetDocId: DocId | null = null;
    if (body.targetDocId !== undefined) {
      try {
        targetDocId = parseActorId(body.targetDocId);
      } catch (err) {
        throw new HttpError(400, 'invalid-request', `targetDocId: ${(err as Error).message}`, { field: 'targetDocId', cause: err });
      }
      if (!(await deps.canEditDocument(principal, targetDocId))) {
        throw new HttpError(403, 'forbidden', `you may not edit document ${targetDocId}, so a job may not write into it`, { field: 'targetDocId' });
      }
    }
    // The kind's definition, and the input checked against its schema as the client wrote it (before uploads are resolved).
    const pipeline = deps.resolvePipeline === undefined ? null : await deps.resolvePipeline(principal.userId, body.kind, body.input);
    // Uploaded inputs (`input.sources[].uploadId`) become the objects they name (JobSourcesError: 400 naming the field).
    const input = await resolveJobSources(body.input, principal, deps.resolveUpload);
    const id = key === null ? newJobId() : jobIdForKey(principal.userId, key);
    const request: StartJobRequest = {
      kind: body.kind,
      input,
      owner: principal.userId,
      idempotencyKey: key,
      targetDocId,
      priority: body.priority ?? 'batch',
      model,
      pipeline,
    };
    const reply = decodeJson((await deps.client.request('job', id, 'start', encodeJson(request))).body, startJobReplySchema, 'start reply');
    if (reply.created) await audit(c, principal, 'job.create', id, { kind: body.kind, ...(pipeline === null ? {} : { version: pipeline.version }) });
    c.header('Location', `/v1/jobs/${encodeURIComponent(id)}`);
    const out = { created: reply.created, job: await withUrls(reply.job) };
    return reply.created ? c.json(out, 201) : c.json(out, 200);
  });

  const listJobs = deps.listJobs;
  if (listJobs !== undefined) {
    router.openapi(listRouteDef, async (c) => {
      const principal = deps.getPrincipal(c);
      requireJobsScope(principal);
      const q = c.req.valid('query');
      const page = await listJobs(principal.userId, { limit: q.limit, after: q.cursor === undefined ? undefined : decodeCursor(q.cursor), kind: q.kind, status: q.status });
      const jobs = page.items.map((j) => ({
        ...j,
        status: jobSummarySchema.shape.status.parse(j.status),
        error: j.error === null ? null : jobErrorSchema.parse(j.error),
        createdAt: j.createdAt.toISOString(),
        updatedAt: j.updatedAt.toISOString(),
        finishedAt: j.finishedAt?.toISOString() ?? null,
      }));
      return c.json({ jobs, nextCursor: page.next === null ? null : encodeCursor(page.next) }, 200);
    });
  }

  router.openapi(getRouteDef, async (c) => {
    const principal = deps.getPrincipal(c);
    requireJobsScope(principal);
    const job = await ownJob(parseJobId(c.req.valid('param').id), principal);
    return c.json(await withUrls(job), 200);
  });

  /** The owner's `output` of the job (or of one step); 404 for everyone else, for unknown jobs and unknown steps. */
  const ownOutput = async (c: Context<AuthEnv>, rawId: string, step: string | undefined) => {
    const principal = deps.getPrincipal(c);
    requireJobsScope(principal);
    const id = parseJobId(rawId);
    await requireOwner(id, principal);
    const request: JobOutputRequest = step === undefined ? {} : { step };
    const reply = decodeJson((await deps.client.request('job', id, 'output', encodeJson(request))).body, jobOutputReplySchema, 'job output');
    return { step: reply.step, output: (reply.output ?? null) as JSONValue };
  };

  router.openapi(jobOutputRouteDef, async (c) => c.json(await ownOutput(c, c.req.valid('param').id, undefined), 200));

  router.openapi(stepOutputRouteDef, async (c) => {
    const { id, step } = c.req.valid('param');
    return c.json(await ownOutput(c, id, step), 200);
  });

  router.openapi(stepsRouteDef, async (c) => {
    const principal = deps.getPrincipal(c);
    requireJobsScope(principal);
    const id = parseJobId(c.req.valid('param').id);
    await requireOwner(id, principal);
    const request: JobStepsRequest = c.req.valid('query');
    const page = decodeJson((await deps.client.request('job', id, 'steps', encodeJson(request))).body, jobStepsReplySchema, 'job steps');
    const steps = await Promise.all(
      page.steps.map(async (st) => ({ ...st, output: (st.output ?? null) as JSONValue, artifact: st.artifact === null ? null : { ...st.artifact, downloadUrl: await urlOf(st.artifact.key) } })),
    );
    const out: HttpStepsPage = { ...page, steps };
    return c.json(out, 200);
  });

  router.openapi(cancelRouteDef, async (c) => {
    const principal = deps.getPrincipal(c);
    requireJobsScope(principal);
    const id = parseJobId(c.req.valid('param').id);
    await requireOwner(id, principal);
    const body = (c.req.header('content-type') ?? '').includes('json') ? c.req.valid('json') : {};
    const reply = await deps.client.request('job', id, 'cancel', encodeJson({ by: principal.userId, reason: body.reason ?? null }));
    await audit(c, principal, 'job.cancel', id);
    return c.json(await withUrls(decodeJson(reply.body, jobViewSchema, 'job')), 200);
  });

  router.openapi(approveRouteDef, async (c) => {
    const principal = deps.getPrincipal(c);
    requireJobsScope(principal);
    const id = parseJobId(c.req.valid('param').id);
    await requireOwner(id, principal);
    const body = c.req.valid('json');
    const reply = await deps.client.request('job', id, 'approve', encodeJson({ by: principal.userId, approved: body.approved, step: body.step ?? null, comment: body.comment ?? null }));
    await audit(c, principal, 'job.approve', id, { approved: body.approved, ...(body.step === undefined ? {} : { step: body.step }) });
    return c.json(await withUrls(decodeJson(reply.body, jobViewSchema, 'job')), 200);
  });

  router.openapi(eventsRouteDef, async (c) => {
    const principal = deps.getPrincipal(c);
    requireJobsScope(principal);
    const id = parseJobId(c.req.valid('param').id);
    const raw = c.req.valid('header')['last-event-id'] ?? c.req.valid('query').lastEventId;
    return jobEventsHandler(c, { ...deps, owners, principal, jobId: id, afterSeq: raw === undefined ? 0 : Number(raw) });
  });

  return router;
}
