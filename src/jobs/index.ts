/**
 * jobs/: the job engine's edges in src/. Adapters of the job actor's ports
 * (inference queue, document port), the supervisor that resumes jobs whose
 * host died, job ids as the gateway mints them, and the event feed SSE and
 * /ws follow jobs with.
 */
export { ActorDocumentPort } from './document-port.ts';
export { followJobEvents, type FollowOptions, type JobEventFeedDeps, type JobFeedEnd, type JobFeedItem } from './job-event-feed.ts';
export { jobIdForKey, newJobId } from './job-ids.ts';
export { JobSourcesError, MAX_JOB_SOURCES, resolveJobSources } from './job-sources.ts';
export { jobOwner, JobOwners } from './job-owner.ts';
export { JobSupervisor, type JobSupervisorOptions } from './job-supervisor.ts';
export { NatsInferenceQueue } from './inference-queue.ts';
export { rebuildJobProjection, type RebuildResult } from './rebuild-projection.ts';
