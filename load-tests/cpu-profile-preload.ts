/**
 * Preloaded into Loom processes by a benchmark's `--cpu-prof-dir` (through
 * NODE_OPTIONS, which does not accept --cpu-prof on Node 20): profiles the
 * whole process with the in-process inspector and writes
 * `<dir>/<pid>.cpuprofile` as it exits (a graceful stop), for Chrome
 * DevTools or `cpu-profile-top.ts`.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import path from 'node:path';

const dir = process.env['BENCH_CPU_PROF_DIR'];
if (dir !== undefined && dir !== '') {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.start');
  // The in-process session answers synchronously, so this runs to the end inside 'exit'.
  process.on('exit', () => {
    session.post('Profiler.stop', (err, result) => {
      if (err === null) writeFileSync(path.join(dir, `${process.pid}.cpuprofile`), JSON.stringify(result.profile));
      else process.stderr.write(`cpu profile not written: ${err.message}\n`);
    });
  });
}
