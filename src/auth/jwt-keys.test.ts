/** Signing keys: configured ones win; otherwise one development key is generated, kept private and reused. */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { createRootLogger } from '../log.ts';
import { DEV_KEY_FILE, JwtKeyFileError, resolveJwtKeys } from './jwt-keys.ts';

const log = createRootLogger({ level: 'silent', instanceId: 'test' });
const dirs: string[] = [];
const tempDir = async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'loom-jwt-'));
  dirs.push(dir);
  return dir;
};
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

describe('resolveJwtKeys', () => {
  it('returns the configured keys and writes nothing', async () => {
    const dataDir = await tempDir();
    const configured = [{ kid: 'k1', secret: 's'.repeat(32) }];
    assert.deepEqual(await resolveJwtKeys({ configured, dataDir, log }), configured);
    await assert.rejects(stat(path.join(dataDir, DEV_KEY_FILE)), { code: 'ENOENT' });
  });

  it('generates one private development key and reuses it, also when asked concurrently', async () => {
    const dataDir = path.join(await tempDir(), 'nested');
    const [a, b] = await Promise.all([resolveJwtKeys({ configured: undefined, dataDir, log }), resolveJwtKeys({ configured: undefined, dataDir, log })]);
    assert.deepEqual(a, b);
    assert.equal(a.length, 1);
    assert.ok(a[0]!.secret.length >= 32);
    const file = path.join(dataDir, DEV_KEY_FILE);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.deepEqual(await resolveJwtKeys({ configured: undefined, dataDir, log }), a);
    assert.equal((await readFile(file, 'utf8')).trim(), `${a[0]!.kid}:${a[0]!.secret}`);
  });

  it('refuses a malformed key file instead of replacing it', async () => {
    const dataDir = await tempDir();
    await writeFile(path.join(dataDir, DEV_KEY_FILE), 'short:abc\n');
    await assert.rejects(resolveJwtKeys({ configured: undefined, dataDir, log }), JwtKeyFileError);
  });
});
