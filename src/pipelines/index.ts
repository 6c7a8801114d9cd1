/**
 * pipelines/: the registry of pipeline definitions users register over HTTP
 * (PUT /v1/pipelines/:kind), and the resolution of a job's kind to the
 * definition version it runs.
 */
export { builtInPipelineDefinitions } from './builtin-pipelines.ts';
export { isYamlMediaType, parseDefinitionBody, YAML_MEDIA_TYPES } from './definition-body.ts';
export { PipelineError, type PipelineErrorCode, type PipelineProblem } from './pipeline-error.ts';
export {
  DEFAULT_PIPELINE_LIMITS,
  PipelineService,
  type PipelinePage,
  type PipelineRecord,
  type PipelineServiceLimits,
} from './pipeline-service.ts';
export type { PipelineStore, StoredPipeline } from './pipeline-store.ts';
