/**
 * The model a request names, checked at creation: a malformed name, or one
 * no inference worker serves, is a 400 naming `model` now rather than a job
 * or agent turn that waits for a worker that never comes.
 */
import { parseModelName } from '../../protocol/inference.ts';
import { HttpError } from './errors.ts';

/**
 * @param models the served models (LOOM_DEFAULT_MODEL and LOOM_INFERENCE_MODELS); any well-formed name when undefined.
 * @throws HttpError 400 `invalid-request` (malformed) or `unknown-model` (not served), field `model`.
 */
export function servedModel(name: string, models: ReadonlySet<string> | undefined): string {
  try {
    parseModelName(name);
  } catch (err) {
    throw new HttpError(400, 'invalid-request', `model: ${(err as Error).message}`, { field: 'model', cause: err });
  }
  if (models !== undefined && !models.has(name)) {
    const served = [...models].slice(0, 20).join(', ');
    throw new HttpError(400, 'unknown-model', `model: ${JSON.stringify(name.slice(0, 128))} is not served here; use one of: ${served}`, { field: 'model' });
  }
  return name;
}
