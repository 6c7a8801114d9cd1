/**
 * Uploaded inputs of a job: clients (and agents) name their uploads by id
 * (`input.sources: [{ "uploadId" }]`); each is checked (the owner's,
 * complete, stored) and replaced by the object it names, so a job only
 * ever reads objects its owner uploaded. A caller never names an object key.
 */
import type { Principal } from '../auth/index.ts';
import { ServiceError } from '../errors/index.ts';
import type { ResolvedUpload } from '../uploads/index.ts';

/** Uploaded inputs per job (the pipelines take at most 5; more is refused without resolving any). */
export const MAX_JOB_SOURCES = 5;

/** `input.sources` is not a list of uploads this server can take; `field` names the place. */
export class JobSourcesError extends ServiceError {
  override readonly name = 'JobSourcesError';
  constructor(field: string, message: string) {
    super('invalid', 'invalid-input', message, { field });
  }
}

/**
 * The input with each `sources[i].uploadId` replaced by the upload it names.
 * @throws JobSourcesError for a malformed list; the resolver's own errors (not found, incomplete) as they are.
 */
export async function resolveJobSources(
  input: Record<string, unknown>,
  principal: Principal,
  resolve: ((ref: string, principal: Principal) => Promise<ResolvedUpload>) | undefined,
): Promise<Record<string, unknown>> {
  const raw = input['sources'];
  if (raw === undefined) return input;
  if (!Array.isArray(raw)) throw new JobSourcesError('input.sources', 'input.sources must be a list of {"uploadId": "..."}');
  if (resolve === undefined) throw new JobSourcesError('input.sources', 'this server takes no uploaded inputs');
  if (raw.length > MAX_JOB_SOURCES) throw new JobSourcesError('input.sources', `input.sources: at most ${MAX_JOB_SOURCES} files`);
  const sources = await Promise.all(
    raw.map(async (item: unknown, i) => {
      const ref = typeof item === 'object' && item !== null ? (item as { uploadId?: unknown }).uploadId : undefined;
      if (typeof ref !== 'string') throw new JobSourcesError(`input.sources.${i}.uploadId`, `input.sources.${i}: needs an uploadId`);
      const r = await resolve(ref, principal);
      return { uploadId: r.uploadId, objectKey: r.objectKey, filename: r.filename, contentType: r.contentType, size: r.size };
    }),
  );
  return { ...input, sources };
}
