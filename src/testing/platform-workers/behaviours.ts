/**
 * What the fake platform services do with a task: deterministic functions of
 * the task's input, so a test knows every output in advance and a retried
 * task gives the same answer. The worker process (platform-worker.ts) and
 * the engine-level example test both use them.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';

/** The queues the example flows (examples/pipelines/) send service steps to. */
export const PLATFORM_QUEUES = ['repository', 'patch', 'build-and-test', 'deploy-preview', 'extract-audio', 'transcribe', 'tts'] as const;
export type PlatformQueue = (typeof PLATFORM_QUEUES)[number];

/** A patch whose diff holds this marker breaks the build (the scripted model writes one in its first patch). */
export const BROKEN_MARKER = 'BROKEN';

/** A task input the service cannot work on: a terminal failure naming what is wrong. */
export class PlatformInputError extends Error {
  override readonly name = 'PlatformInputError';
}

const shortHash = (value: unknown) => createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 12);
const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'site';

const inputs = {
  repository: z.object({ action: z.literal('provision'), name: z.string().min(1), jobId: z.string().min(1) }),
  patch: z.object({ repo: z.string().min(1), files: z.array(z.object({ path: z.string().min(1), diff: z.string() })).min(1) }),
  'build-and-test': z.object({ repo: z.string().min(1), commit: z.string().min(1) }),
  'deploy-preview': z.object({ repo: z.string().min(1), commit: z.string().min(1), subdomain: z.string().min(1) }),
  'extract-audio': z.object({ videoKey: z.string().min(1), contentType: z.string().startsWith('video/') }),
  transcribe: z.object({ audioKey: z.string().min(1), durationMs: z.number().int().positive() }),
  tts: z.object({ jobId: z.string().min(1), index: z.number().int().min(1), text: z.string().min(1), language: z.string().min(2), voice: z.string().min(1) }),
} satisfies Record<PlatformQueue, z.ZodType>;

/** Commits the fake patch service made, so the fake build can tell a broken one (one process sees its own only; the id carries the verdict). */
function commitOf(files: ReadonlyArray<{ diff: string }>, repo: string): string {
  const broken = files.some((f) => f.diff.includes(BROKEN_MARKER));
  return `${broken ? 'x' : 'c'}${shortHash([repo, files])}`;
}

/**
 * The service's answer to one task.
 * @throws PlatformInputError when the input does not fit the queue (the message names the field).
 */
export function platformOutput(queue: PlatformQueue, raw: unknown): unknown {
  const parsed = inputs[queue].safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new PlatformInputError(`${queue}: input.${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`);
  }
  const input = parsed.data;
  switch (queue) {
    case 'repository': {
      const i = input as z.infer<(typeof inputs)['repository']>;
      return { repo: `sites/${slug(i.name)}`, defaultBranch: 'main' };
    }
    case 'patch': {
      const i = input as z.infer<(typeof inputs)['patch']>;
      return { commit: commitOf(i.files, i.repo), files: i.files.length };
    }
    case 'build-and-test': {
      const i = input as z.infer<(typeof inputs)['build-and-test']>;
      const passed = !i.commit.startsWith('x');
      return { passed, log: passed ? 'build ok, 12 tests passed' : `src/index.html:1: unexpected token ${BROKEN_MARKER}`, commit: i.commit };
    }
    case 'deploy-preview': {
      const i = input as z.infer<(typeof inputs)['deploy-preview']>;
      return { url: `https://${slug(i.subdomain)}.preview.test/${i.commit}`, subdomain: slug(i.subdomain) };
    }
    case 'extract-audio': {
      const i = input as z.infer<(typeof inputs)['extract-audio']>;
      return { audioKey: `${i.videoKey}.wav`, durationMs: 15_000 + 1_000 * (i.videoKey.length % 16) };
    }
    case 'transcribe': {
      const i = input as z.infer<(typeof inputs)['transcribe']>;
      return {
        segments: [
          { startMs: 0, text: 'Tired of slow mornings?' },
          { startMs: Math.floor(i.durationMs / 2), text: 'Brew in thirty seconds.' },
          { startMs: i.durationMs - 2_000, text: 'Order today.' },
        ],
      };
    }
    case 'tts': {
      const i = input as z.infer<(typeof inputs)['tts']>;
      const characters = [...i.text].length;
      return { audioKey: `tts/${i.jobId}/${i.index}-${i.language}.mp3`, characters, durationMs: characters * 60, voice: i.voice };
    }
  }
}
