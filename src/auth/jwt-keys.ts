/**
 * Where the JWT signing keys come from: `LOOM_JWT_KEYS` when set; otherwise a
 * development key generated once and kept in `<LOOM_DATA_DIR>/jwt-dev-key`
 * (mode 0600), so `npm start` works with nothing configured and sessions
 * survive restarts. Never a hard-coded secret. Processes that do not share
 * the data folder get different keys: a deployment with several gateways
 * must set LOOM_JWT_KEYS.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MIN_JWT_SECRET_CHARS, type JwtKeyConfig } from '../config.ts';
import type { Logger } from '../log.ts';

/** File name of the generated development key under the data folder. */
export const DEV_KEY_FILE = 'jwt-dev-key';

/** A development key file that exists but cannot be used. */
export class JwtKeyFileError extends Error {
  override readonly name = 'JwtKeyFileError';
  readonly code = 'invalid-jwt-key-file';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * The configured keys, or the development key (created on first use).
 * @throws JwtKeyFileError when the key file is unreadable or malformed.
 */
export async function resolveJwtKeys(opts: {
  configured: readonly JwtKeyConfig[] | undefined;
  dataDir: string;
  log: Logger;
}): Promise<readonly JwtKeyConfig[]> {
  if (opts.configured !== undefined && opts.configured.length > 0) return opts.configured;
  const file = path.join(opts.dataDir, DEV_KEY_FILE);
  let key = await readKeyFile(file);
  if (key === null) {
    const fresh: JwtKeyConfig = { kid: `dev-${randomBytes(4).toString('hex')}`, secret: randomBytes(32).toString('base64url') };
    await mkdir(opts.dataDir, { recursive: true });
    try {
      // 'wx': if another process on the same folder won the race, use its key.
      await writeFile(file, `${fresh.kid}:${fresh.secret}\n`, { mode: 0o600, flag: 'wx' });
      key = fresh;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new JwtKeyFileError(`cannot write ${file}`, { cause: err });
      key = await readKeyFile(file);
      if (key === null) throw new JwtKeyFileError(`${file} vanished while being created`, { cause: err });
    }
  }
  opts.log.warn({ file, kid: key.kid }, 'LOOM_JWT_KEYS is not set: using a generated development signing key; set LOOM_JWT_KEYS in production');
  return [key];
}

async function readKeyFile(file: string): Promise<JwtKeyConfig | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new JwtKeyFileError(`cannot read ${file}`, { cause: err });
  }
  const line = text.trim();
  const colon = line.indexOf(':');
  const kid = line.slice(0, colon);
  const secret = line.slice(colon + 1);
  if (colon < 1 || !/^[A-Za-z0-9_-]{1,64}$/.test(kid) || secret.length < MIN_JWT_SECRET_CHARS) {
    throw new JwtKeyFileError(`${file} is not a kid:secret line with a secret of at least ${MIN_JWT_SECRET_CHARS} characters; delete it to generate a new key`);
  }
  return { kid, secret };
}
