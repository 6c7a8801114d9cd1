/**
 * `upload_read`: one of the owner's completed uploads as text (text, Markdown,
 * CSV, subtitles, JSON), read from object storage up to a byte cap. Uploads
 * are checked by the uploads service exactly as a job input naming them:
 * someone else's upload is reported as not found.
 */
import type { Readable } from 'node:stream';
import type { Principal } from '../../auth/index.ts';
import type { ResolvedUpload } from '../../uploads/index.ts';
import { mediaTypeOf } from '../../uploads/index.ts';
import { prefixWithin } from '../result-cap.ts';
import type { RunnableTool, ToolInvocation } from '../runnable-tool.ts';
import { ToolFailure } from '../tool-failure.ts';
import { ownerPrincipal } from './doc-target.ts';

export interface UploadReadDeps {
  /** UploadService.resolveUploadInput: the caller's complete, still stored upload. */
  resolve(ref: string, principal: Principal): Promise<ResolvedUpload>;
  /** The object's bytes (the object store's `get`), or null when it is gone. */
  open(key: string): Promise<{ readonly body: Readable } | null>;
  /** Bytes read at most; the rest is left out with a note. */
  readonly maxBytes: number;
  readonly timeoutMs: number;
}

const TEXT_TYPES: ReadonlySet<string> = new Set(['application/json', 'application/x-subrip']);

export function uploadReadTool(deps: UploadReadDeps): RunnableTool {
  return {
    descriptor: {
      name: 'upload_read',
      description: `Reads one of your uploaded text files (text, Markdown, CSV, JSON, subtitles) by its uploadId; at most the first ${deps.maxBytes} bytes.`,
      parameters: {
        type: 'object',
        properties: { uploadId: { type: 'string', minLength: 1, maxLength: 100 } },
        required: ['uploadId'],
        additionalProperties: false,
      },
      timeoutMs: deps.timeoutMs,
      needsApproval: false,
      source: 'builtin',
    },
    async run(raw: unknown, call: ToolInvocation): Promise<string> {
      const { uploadId } = raw as { readonly uploadId: string };
      // Only upload ids: an object key would let the model name objects, which clients never do either.
      if (!/^[0-9a-f-]{36}$/i.test(uploadId)) throw new ToolFailure('not-found', `no upload ${uploadId}`);
      const upload = await deps.resolve(uploadId, ownerPrincipal(call.ownerId));
      const type = mediaTypeOf(upload.contentType);
      if (!type.startsWith('text/') && !TEXT_TYPES.has(type)) {
        throw new ToolFailure('failed', `upload ${uploadId} (${upload.filename}) is ${type}, not text; upload_read reads text files only`);
      }
      const object = await deps.open(upload.objectKey);
      if (object === null) throw new ToolFailure('not-found', `the file of upload ${uploadId} is no longer stored`);
      const { bytes, complete } = await readAtMost(object.body, deps.maxBytes, call.signal);
      const text = prefixWithin(bytes.toString('utf8'), deps.maxBytes);
      if (complete) return text;
      // A cut inside a character decodes to U+FFFD at the end: drop it.
      return `${text.replace(/\uFFFD$/, '')}\n[truncated: the file has ${upload.size} bytes; only the first ${deps.maxBytes} were read]`;
    },
  };
}

/** Reads up to `max` bytes and stops the stream there. */
async function readAtMost(body: Readable, max: number, signal: AbortSignal): Promise<{ bytes: Buffer; complete: boolean }> {
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of body) {
      signal.throwIfAborted();
      const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
      chunks.push(buf);
      total += buf.length;
      if (total > max) return { bytes: Buffer.concat(chunks).subarray(0, max), complete: false };
    }
    return { bytes: Buffer.concat(chunks), complete: true };
  } finally {
    body.destroy();
  }
}
