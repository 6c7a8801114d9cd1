/**
 * Heavy modules load only where they are used, not with the roles: PGlite
 * when the embedded database is opened (a process with DATABASE_URL never
 * loads its ~40 MB), minio when an S3 store is built (the embedded setup's
 * filesystem store never loads its ~27 MB), the OpenTelemetry SDK when an
 * OTLP endpoint is set (~15 MB). Checked in a child process whose resolve
 * hook records every request for them, then answers the probe specifier with
 * what it recorded.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { test } from 'node:test';

const run = promisify(execFile);
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

const HOOK = `
const seen = [];
export async function resolve(specifier, context, next) {
  if (specifier === 'loom-probe:heavy') return { url: 'data:text/javascript,export default ' + encodeURIComponent(JSON.stringify(seen)), shortCircuit: true };
  if (specifier.includes('pglite') || specifier === 'minio' || specifier.startsWith('@opentelemetry/sdk-') || specifier.startsWith('@opentelemetry/exporter-')) seen.push(specifier);
  return next(specifier, context);
}`;

/** Imports `modules` in a fresh node (through tsx, as Loom runs) and returns the heavy specifiers it resolved. */
async function heavyImportsOf(modules: readonly string[]): Promise<string[]> {
  const script = [
    "import { register } from 'node:module';",
    `register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(HOOK)}));`,
    ...modules.map((m) => `await import(${JSON.stringify(m)});`),
    "const { default: seen } = await import('loom-probe:heavy');",
    'process.stdout.write(JSON.stringify(seen));',
  ].join('\n');
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO_ROOT, timeout: 120_000 });
  return JSON.parse(stdout) as string[];
}

test('importing every role (and the storage adapters) loads none of them', async () => {
  assert.deepEqual(await heavyImportsOf([new URL('./index.ts', import.meta.url).href, new URL('../storage/index.ts', import.meta.url).href]), []);
});

test('the probe sees them when something does load them', async () => {
  const seen = new Set(await heavyImportsOf(['drizzle-orm/pglite', 'minio', '@opentelemetry/sdk-trace-node']));
  for (const specifier of ['drizzle-orm/pglite', '@electric-sql/pglite', 'minio', '@opentelemetry/sdk-trace-node']) assert.ok(seen.has(specifier), specifier);
});
