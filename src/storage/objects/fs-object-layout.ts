/**
 * How FsObjectStore lays objects out on disk. A key's segments become
 * folders and its last segment the base name of two kinds of file:
 *   <base>~meta.json     the sidecar: size, etag, content type, metadata and
 *                        the name of the blob holding the bytes (the commit point)
 *   <base>~<id>.blob     the bytes, written once under a fresh name
 * `~` cannot occur in a key, so `a` (file `a~meta.json`) and `a/b` (folder
 * `a/`) never collide, and nothing a key names can look like a sidecar.
 */
import type { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';

/** Suffix of sidecar files. */
export const META_SUFFIX = '~meta.json';
const BLOB_NAME = /^[A-Za-z0-9._=-]+~[0-9a-f]{16,64}\.blob$/;

/** The sidecar's content. */
export const metaRecordSchema = z
  .object({
    v: z.literal(1),
    blob: z.string().regex(BLOB_NAME),
    size: z.number().int().nonnegative(),
    etag: z.string().min(1),
    contentType: z.string().min(1),
    metadata: z.record(z.string()),
    lastModified: z.string().datetime(),
  })
  .strict();
export type MetaRecord = z.infer<typeof metaRecordSchema>;

/** Where a (validated) key lives. */
export interface ObjectPaths {
  readonly dir: string;
  readonly base: string;
  readonly meta: string;
}

/** The folder, base name and sidecar path of a key that passed parseObjectKey (so no segment can climb out of `root`). */
export function objectPaths(root: string, key: string): ObjectPaths {
  const segments = key.split('/');
  const base = segments.pop() ?? key;
  const dir = path.join(root, ...segments);
  return { dir, base, meta: path.join(dir, base + META_SUFFIX) };
}

/** A file name for a new blob of `base`. */
export function blobName(base: string, id: string): string {
  return `${base}~${id}.blob`;
}

/** A stored object found by {@link walkObjects}. */
export interface FoundObject {
  readonly key: string;
  readonly paths: ObjectPaths;
}

/**
 * Every object in `dir` and below whose key starts with `prefix` (`keyDir`
 * is the key prefix of `dir`: empty or ending in `/`). Folders that cannot
 * hold a match are not entered. Each folder entered is passed to
 * `onLeaveDir` after its contents, so callers can remove emptied folders
 * bottom-up. A folder that vanishes meanwhile is skipped.
 */
export async function* walkObjects(
  dir: string,
  keyDir: string,
  prefix: string,
  onLeaveDir?: (dir: string) => Promise<void>,
): AsyncGenerator<FoundObject> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ENOENT') return; // removed by a concurrent delete: nothing left to find
    throw err;
  }
  for (const entry of entries) {
    if (entry.isDirectory()) {
      const childKeyDir = `${keyDir}${entry.name}/`;
      if (childKeyDir.startsWith(prefix) || prefix.startsWith(childKeyDir)) {
        yield* walkObjects(path.join(dir, entry.name), childKeyDir, prefix, onLeaveDir);
      }
    } else if (entry.name.endsWith(META_SUFFIX)) {
      const base = entry.name.slice(0, -META_SUFFIX.length);
      const key = keyDir + base;
      if (key.startsWith(prefix)) yield { key, paths: { dir, base, meta: path.join(dir, entry.name) } };
    }
  }
  await onLeaveDir?.(dir);
}
