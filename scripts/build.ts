/**
 * Builds what `npm start` and the image run: Loom's own TypeScript bundled by
 * esbuild into one ES module per entry under dist/, every npm package left
 * as an import (packages: 'external'), so node_modules is used as installed.
 *
 * Why not run the sources through tsx as the tests do: tsx compiles each
 * module at load, keeps the compiled text and its inline source map, and
 * always turns on esbuild's `keepNames`, which wraps every function
 * expression in a `__name()` call that defines `name` on each closure as it
 * is made. A process of plain bundled JavaScript uses about 90 MB less at
 * idle, and less per open document and per hot-path closure
 * (load-tests/README.md, "Memory at idle").
 *
 * Usage: `node --import tsx scripts/build.ts` (npm run build; npm start runs it first).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Each output under dist/ and the source entry it is built from (deploy/deploy.test.ts checks the manifests run one of these). */
export const BUNDLES: Readonly<Record<string, string>> = {
  'dist/main.js': 'src/main.ts',
  'dist/migrate.js': 'src/storage/postgres/migrate-cli.ts',
};

/**
 * How `npm start` (package.json) and the image (Dockerfile) run the bundle;
 * deploy/deploy.test.ts keeps both equal to these, and the benchmarks start
 * Loom with them. Memory at idle, not speed: a smaller young generation
 * (V8's default lets it grow to 2 x 16 MB, all of it touched after start-up)
 * and glibc returning freed memory instead of keeping it in its arenas (its
 * dynamic thresholds grow after start-up's large temporary buffers, e.g.
 * PGlite's WASM compile). Together about 40 MB less for an idle embedded
 * process, with no CPU cost visible under load (load-tests/README.md,
 * "Memory at idle").
 */
export const BUNDLE_NODE_ARGS: readonly string[] = ['--max-semi-space-size=8'];
export const BUNDLE_ENV: Readonly<Record<string, string>> = {
  MALLOC_TRIM_THRESHOLD_: '131072',
  MALLOC_MMAP_THRESHOLD_: '131072',
};

/** Bundles every entry of BUNDLES; @returns the output files written. */
export async function buildBundles(): Promise<string[]> {
  const outputs: string[] = [];
  for (const [out, entry] of Object.entries(BUNDLES)) {
    await build({
      absWorkingDir: ROOT,
      entryPoints: [entry],
      outfile: out,
      bundle: true,
      packages: 'external',
      platform: 'node',
      format: 'esm',
      target: 'node20',
      // Stack traces name the TypeScript files under `node --enable-source-maps`.
      sourcemap: 'linked',
      logLevel: 'warning',
    });
    outputs.push(out);
  }
  return outputs;
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const startedAt = performance.now();
  const outputs = await buildBundles();
  process.stdout.write(`built ${outputs.join(', ')} in ${Math.round(performance.now() - startedAt)} ms\n`);
}
