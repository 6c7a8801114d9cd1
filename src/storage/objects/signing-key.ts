/**
 * The secret behind signed gateway URLs: the configured one
 * (LOOM_URL_SIGNING_KEY), else one generated on first start and kept in the
 * data folder, so URLs stay valid across restarts and every process sharing
 * the folder signs alike.
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ObjectStoreError } from './object-store-error.ts';

/** File under the data folder that holds a generated key (base64url, 0600). */
export const SIGNING_KEY_FILE = 'url-signing-key';

/**
 * Returns the key bytes: `configured` when set, else the persisted key under
 * `dataDir`, created with create-if-absent semantics so concurrent first
 * starts agree on one key.
 * @throws ObjectStoreError when the file cannot be read or written or holds a short key.
 */
export async function loadUrlSigningKey(opts: { configured: string | undefined; dataDir: string }): Promise<Uint8Array> {
  if (opts.configured !== undefined) return new Uint8Array(Buffer.from(opts.configured, 'utf8'));
  const file = path.join(opts.dataDir, SIGNING_KEY_FILE);
  try {
    await mkdir(opts.dataDir, { recursive: true });
    // Written whole to a temp file, then linked into place: link fails if the
    // key exists, so a concurrent start never reads a half-written key.
    const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
    await writeFile(temp, randomBytes(32).toString('base64url'), { flag: 'wx', mode: 0o600 });
    try {
      await link(temp, file);
    } catch (err) {
      if (!isCode(err, 'EEXIST')) throw err;
      // Another start created it first: use theirs.
    } finally {
      await unlink(temp);
    }
    const key = Buffer.from((await readFile(file, 'utf8')).trim(), 'base64url');
    if (key.length < 32) throw new Error(`${file} holds fewer than 32 key bytes`);
    return new Uint8Array(key);
  } catch (err) {
    throw new ObjectStoreError(`cannot load the URL signing key from ${file}`, { op: 'signing-key' }, { cause: err });
  }
}

function isCode(err: unknown, code: string): boolean {
  return err instanceof Error && (err as { code?: unknown }).code === code;
}
