/**
 * What the pipeline registry refuses, by stable code (src/http/errors.ts
 * gives each kind its status):
 * - `invalid-definition`: the definition breaks a rule; `errors` lists every
 *   fault with its JSON-pointer path (400)
 * - `invalid-body`: the body is not JSON or YAML of one document (400)
 * - `definition-too-large`: the body is over MAX_PIPELINE_DEFINITION_BYTES (413)
 * - `unsupported-media-type`: neither JSON nor YAML (415)
 * - `builtin-kind`: built-in kinds ship with Loom and cannot be registered (409)
 * - `kind-mismatch`: the body's `kind` is not the one in the path (400)
 * - `too-many-pipelines`, `too-many-versions`: an owner's bounds (409)
 * - `pipeline-not-found`: no such kind or version visible to the caller (404)
 * - `unknown-kind`: a job names a kind that is neither built in nor the caller's (400, field `kind`)
 * - `invalid-input`: a job's input fails its pipeline's input schema (400, field `input.<path>`)
 */
import { type FailureKind, ServiceError } from '../errors/index.ts';

export type PipelineErrorCode =
  | 'invalid-definition'
  | 'invalid-body'
  | 'definition-too-large'
  | 'unsupported-media-type'
  | 'builtin-kind'
  | 'kind-mismatch'
  | 'too-many-pipelines'
  | 'too-many-versions'
  | 'pipeline-not-found'
  | 'unknown-kind'
  | 'invalid-input';

const KIND: Record<PipelineErrorCode, FailureKind> = {
  'invalid-definition': 'invalid',
  'invalid-body': 'invalid',
  'definition-too-large': 'too-large',
  'unsupported-media-type': 'unsupported-type',
  'builtin-kind': 'conflict',
  'kind-mismatch': 'invalid',
  'too-many-pipelines': 'conflict',
  'too-many-versions': 'conflict',
  'pipeline-not-found': 'not-found',
  'unknown-kind': 'invalid',
  'invalid-input': 'invalid',
};

/** One fault of a definition or an input: a JSON pointer and what is wrong there. */
export interface PipelineProblem {
  readonly path: string;
  readonly message: string;
}

/** A refused registry operation; public, with a message that says why and, for definitions, every fault. */
export class PipelineError extends ServiceError {
  override readonly name = 'PipelineError';
  declare readonly code: PipelineErrorCode;
  constructor(code: PipelineErrorCode, message: string, options: { field?: string; problems?: readonly PipelineProblem[]; cause?: unknown } = {}) {
    super(KIND[code], code, message, options);
  }
}
