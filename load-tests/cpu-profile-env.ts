/**
 * The environment that makes a Loom process a benchmark starts write a V8
 * CPU profile (`cpu-profile-preload.ts`) into `dir` as it stops. Node 20
 * refuses `--cpu-prof` in NODE_OPTIONS, so the profile is taken in process.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const PROFILE_PRELOAD = fileURLToPath(new URL('./cpu-profile-preload.ts', import.meta.url));

export function profilingEnv(dir: string | undefined): Record<string, string> {
  return dir === undefined ? {} : { NODE_OPTIONS: `--import tsx --import ${PROFILE_PRELOAD}`, BENCH_CPU_PROF_DIR: path.resolve(dir) };
}
