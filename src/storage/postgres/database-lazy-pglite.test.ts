/**
 * PGlite is loaded only when the embedded database is opened: a process with
 * DATABASE_URL (every role of a deployment) never loads its ~40 MB module.
 * Checked in a child process whose resolve hook records every request for
 * PGlite, then answers the probe specifier with what it recorded.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { test } from 'node:test';

const run = promisify(execFile);
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const HOOK = `
const seen = [];
export async function resolve(specifier, context, next) {
  if (specifier === 'loom-probe:pglite') return { url: 'data:text/javascript,export default ' + encodeURIComponent(JSON.stringify(seen)), shortCircuit: true };
  if (specifier.includes('pglite')) seen.push(specifier);
  return next(specifier, context);
}`;

/** Imports `modules` in a fresh node (through tsx, as Loom runs) and returns the PGlite specifiers it resolved. */
async function pgliteImportsOf(modules: readonly string[]): Promise<string[]> {
  const script = [
    "import { register } from 'node:module';",
    `register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(HOOK)}));`,
    ...modules.map((m) => `await import(${JSON.stringify(m)});`),
    "const { default: seen } = await import('loom-probe:pglite');",
    'process.stdout.write(JSON.stringify(seen));',
  ].join('\n');
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO_ROOT, timeout: 120_000 });
  return JSON.parse(stdout) as string[];
}

test('importing the storage adapters does not load PGlite', async () => {
  assert.deepEqual(await pgliteImportsOf([new URL('../index.ts', import.meta.url).href]), []);
});

test('the probe sees PGlite when something does load it', async () => {
  assert.ok((await pgliteImportsOf(['drizzle-orm/pglite'])).length > 0);
});
