/**
 * The outbound event types Loom itself produces (protocol/PROTOCOL.md,
 * "Outbound events"), their `data` shapes and `orderKey`s. Pipelines add
 * their own types through `emit` steps; those carry the step's data as is.
 * `data` holds ids and API links, never content or secrets.
 */

/** Types recorded from job logs, agent-session logs, document logs and PostgreSQL facts. */
export const LOOM_EVENT_TYPES = {
  jobCreated: 'job.created',
  jobSucceeded: 'job.succeeded',
  jobFailed: 'job.failed',
  jobCancelled: 'job.cancelled',
  jobWaitingApproval: 'job.waiting-approval',
  jobStuck: 'job.stuck',
  jobStepSucceeded: 'job.step.succeeded',
  agentTurnCompleted: 'agent.turn.completed',
  docUpdated: 'doc.updated',
  docMemberAdded: 'doc.member.added',
  docMemberRemoved: 'doc.member.removed',
  uploadCompleted: 'upload.completed',
} as const;
export type LoomEventType = (typeof LOOM_EVENT_TYPES)[keyof typeof LOOM_EVENT_TYPES];

/** API paths events link to (relative to the gateway's base URL). */
export const eventLinks = {
  job: (jobId: string) => `/v1/jobs/${encodeURIComponent(jobId)}`,
  agentSession: (sessionId: string) => `/v1/agent-sessions/${encodeURIComponent(sessionId)}`,
  doc: (docId: string) => `/v1/docs/${encodeURIComponent(docId)}`,
  upload: (uploadId: string) => `/v1/uploads/${encodeURIComponent(uploadId)}`,
};

/** Events of one subject keep their order under these keys. */
export const orderKeys = {
  job: (jobId: string) => `job:${jobId}`,
  agentSession: (sessionId: string) => `agent:${sessionId}`,
  doc: (docId: string) => `doc:${docId}`,
  upload: (uploadId: string) => `upload:${uploadId}`,
};

/** `doc.member.added` / `doc.member.removed` (role is absent on removal). */
export interface DocMemberEventData {
  readonly [key: string]: unknown;
  readonly docId: string;
  readonly userId: string;
  readonly role?: string;
  readonly link: string;
}

/** `upload.completed`. */
export interface UploadCompletedData {
  readonly [key: string]: unknown;
  readonly uploadId: string;
  readonly contentType: string;
  readonly bytes: number;
  readonly link: string;
}
