/**
 * Builds the web app (web/) into memory with esbuild when the gateway first
 * serves it, so `npm start` needs no separate build step and nothing built
 * lands in the source tree (the Docker image's sources are read-only).
 * One build per process: the bundle is built from the sources it runs with.
 */
import { readFile } from 'node:fs/promises';
import { build } from 'esbuild';
import type { Logger } from '../log.ts';
import { projectPath } from '../project-root.ts';

const WEB_ROOT = `${projectPath('web')}/`;

/** One file of the app, ready to serve. */
export interface WebAsset {
  readonly body: Uint8Array;
  readonly contentType: string;
}

/** The app's files by URL path (`/`, `/app.js`, `/app.css`). */
export type WebBundle = ReadonlyMap<string, WebAsset>;

/** A build: the files, and the source files bundled into app.js (relative to web/). */
export interface WebBuild {
  readonly assets: WebBundle;
  readonly inputs: readonly string[];
}

/**
 * Bundles web/src/main.ts (TypeScript, TipTap, Yjs, y-websocket) into one
 * ES module and reads the page and its stylesheet.
 * @throws Error with esbuild's messages when the sources do not build.
 */
export async function buildWebBundle(log: Logger): Promise<WebBuild> {
  const startedAt = performance.now();
  const result = await build({
    absWorkingDir: WEB_ROOT,
    entryPoints: ['src/main.ts'],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    sourcemap: false,
    outfile: 'app.js',
    logLevel: 'silent',
    metafile: true,
  });
  const js = result.outputFiles.find((f) => f.path.endsWith('app.js'));
  if (js === undefined) throw new Error('esbuild produced no app.js');
  const [html, css] = await Promise.all([readFile(`${WEB_ROOT}index.html`), readFile(`${WEB_ROOT}app.css`)]);
  log.info({ ms: Math.round(performance.now() - startedAt), bytes: js.contents.byteLength, inputs: Object.keys(result.metafile.inputs).length }, 'web app built');
  const assets = new Map<string, WebAsset>([
    ['/', { body: html, contentType: 'text/html; charset=utf-8' }],
    ['/app.js', { body: js.contents, contentType: 'text/javascript; charset=utf-8' }],
    ['/app.css', { body: css, contentType: 'text/css; charset=utf-8' }],
  ]);
  return { assets, inputs: Object.keys(result.metafile.inputs) };
}

/** Builds on first use and shares the result; a failed build is retried on the next call. */
export function lazyWebBundle(log: Logger): () => Promise<WebBundle> {
  let pending: Promise<WebBundle> | undefined;
  return () => {
    pending ??= buildWebBundle(log).then((build) => build.assets, (err: unknown) => {
      pending = undefined;
      throw err;
    });
    return pending;
  };
}
