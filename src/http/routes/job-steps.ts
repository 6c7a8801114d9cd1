/**
 * GET /v1/jobs/:id/steps: a job's step instances, paged in start order.
 * A job view summarises its steps (`stepsOmitted`, `stepCounts`) when they
 * alone would not fit one NATS message; this pages them, each page fitted
 * into one message by the job actor (`steps` command, PROTOCOL.md §12).
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { JSONValue } from 'hono/utils/types';
import { artifactRefSchema } from '../../../protocol/job-events.ts';
import { jobStepsReplySchema, MAX_STEPS_PAGE, type JobStepsReply } from '../../../protocol/job.ts';
import { errorResponses, jsonContent, SECURITY } from '../router.ts';
import { queryInt, safeText } from '../safe-text.ts';

/** A page as HTTP clients get it: artifacts carry a download URL. */
export type HttpStepsPage = Omit<JobStepsReply, 'steps'> & {
  steps: Array<Omit<JobStepsReply['steps'][number], 'output' | 'artifact'> & { output: JSONValue; artifact: (JobStepsReply['steps'][number]['artifact'] & { downloadUrl: string | null }) | null }>;
};

const httpStepsPage = jobStepsReplySchema
  .extend({ steps: z.array(jobStepsReplySchema.shape.steps.element.extend({ artifact: artifactRefSchema.extend({ downloadUrl: z.string().nullable() }).nullable() })) })
  .openapi('JobStepsPage') as unknown as z.ZodType<HttpStepsPage>;

export const stepsRouteDef = createRoute({
  method: 'get',
  path: '/{id}/steps',
  tags: ['jobs'],
  summary: "A page of the job's step instances in start order (the job view summarises them, stepsOmitted: true, when they do not fit it)",
  description:
    'Up to `limit` steps from `offset`; a page stops early to fit one message, so ask again from `nextOffset` until it is null. ' +
    'A step whose output alone would not fit a page has it left out (`outputOmitted: true`; GET …/steps/{step}/output serves it).',
  security: SECURITY,
  request: {
    params: z.object({ id: safeText().min(1).max(200).openapi({ description: 'Job id' }) }),
    query: z.object({ offset: queryInt({ min: 0, max: 1_000_000 }).default(0), limit: queryInt({ min: 1, max: MAX_STEPS_PAGE }).default(100) }),
  },
  responses: { 200: jsonContent(httpStepsPage, 'A page of steps'), ...errorResponses(400, 401, 403, 404, 503) },
});
