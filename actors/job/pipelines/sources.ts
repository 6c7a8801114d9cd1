/**
 * Uploaded inputs ("sources") a pipeline can take: a `sources` list in its
 * input, one `source-<n>` step per file reading it (object-read), and a
 * prompt section quoting what was read. The gateway resolves `uploadId`s to
 * object keys at creation (a missing or unfinished upload is a 4xx there);
 * a file that disappears afterwards fails its source step, and so the job,
 * with `input-missing`.
 */
import { z } from 'zod';
import { jobSourceSchema, type JobSource } from '../../../protocol/job.ts';
import { step, type PipelineContext, type StepSpec } from '../pipeline.ts';

/** Files per job. */
export const MAX_SOURCES = 5;
/** Bytes read from each file. */
export const SOURCE_MAX_BYTES = 64 * 1024;
/** Characters of each file quoted in a prompt. */
const QUOTE_CHARS = 8_000;

export const sourcesSchema = z.array(jobSourceSchema).max(MAX_SOURCES).default([]);

const readSchema = z.object({ text: z.string(), truncated: z.boolean() });

/** Step ids of the sources, in input order. */
export function sourceStepIds(sources: readonly JobSource[]): string[] {
  return sources.map((_, i) => `source-${i + 1}`);
}

/** One object-read step per source. */
export function sourceSteps<I>(sources: readonly JobSource[]): StepSpec<I>[] {
  return sources.map((s, i) => step<I>(`source-${i + 1}`, [], 'object-read', () => ({ type: 'object-read', key: s.objectKey, maxBytes: SOURCE_MAX_BYTES })));
}

/** A prompt section quoting every source (empty when there are none). */
export function sourcesPrompt<I>(ctx: PipelineContext<I>, sources: readonly JobSource[]): string {
  if (sources.length === 0) return '';
  const quoted = sources.map((s, i) => {
    const read = ctx.output(`source-${i + 1}`, readSchema);
    const cut = read.text.length > QUOTE_CHARS || read.truncated;
    return `--- ${s.filename} ---\n${read.text.slice(0, QUOTE_CHARS)}${cut ? '\n[…]' : ''}`;
  });
  return `Sources provided by the user:\n${quoted.join('\n')}\n`;
}
