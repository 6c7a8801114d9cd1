export { jobActorDefinition, replayJob, type JobActorDeps } from './definition.ts';
export { clientIdForJob } from './document-writer.ts';
export type { JobDefaults } from './engine.ts';
export type { InferenceCall, ServiceTask } from './effects.ts';
export type { AnyPipeline, Pipeline, ServiceActivity } from './pipeline.ts';
export { BUILT_IN_DEFINITIONS, builtInPipelines, pipelineCatalog } from './pipelines/catalog.ts';
export type { PriceTable } from '../ports/index.ts';
export {
  JobLogFencingError,
  type DocumentPort,
  type InferenceQueue,
  type JobClock,
  type JobLog,
  type JobLogEntry,
  type JobProjection,
  type JobProjectionRecord,
  type ServiceQueue,
  type WorkerPresence,
} from './ports.ts';
export { emptyJobState, evolve, foldJob, type JobState } from './state.ts';
export { jobView, needsHost, projectionRecord } from './view.ts';
