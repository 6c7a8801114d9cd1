/**
 * The frame every server-starting benchmark runs in: parse the flags, run
 * the body with a list of stops (servers, connections) to run at the end in
 * order, a watchdog that runs them all and exits 1 after `timeoutS`, and the
 * body's result as the exit code. Errors go to stderr prefixed by the
 * benchmark's name.
 */

/** Stops to run at the end, first to last: `unshift` what must stop before the servers it uses. */
export type StopList = Array<() => Promise<unknown>>;

export function runBenchmark<O extends { readonly timeoutS: number }>(name: string, parse: () => O, body: (opts: O, stops: StopList) => Promise<number>): void {
  const run = async (): Promise<number> => {
    const opts = parse();
    const stops: StopList = [];
    const watchdog = setTimeout(() => {
      process.stderr.write(`${name}: run exceeded ${opts.timeoutS} s; stopping\n`);
      void Promise.allSettled(stops.map((stop) => stop())).finally(() => process.exit(1));
    }, opts.timeoutS * 1000);
    try {
      return await body(opts, stops);
    } finally {
      clearTimeout(watchdog);
      for (const stop of stops) {
        try {
          await stop();
        } catch (err) {
          process.stderr.write(`${name}: cleanup step failed: ${(err as Error).message}\n`);
        }
      }
    }
  };
  run().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`${name}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}

/** One JSON line on stdout: what the benchmarks print. */
export function printLine(line: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

/**
 * Reads the integer flag `--<name>` from parseArgs values.
 * @throws Error naming the flag when it is not an integer in [min, max].
 */
export function intFlag(values: Readonly<Record<string, unknown>>, name: string, min: number, max: number): number {
  const n = Number(values[name]);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer in ${min}..${max}`);
  return n;
}

/**
 * What the benchmarks start Loom from: the bundle `npm start` and the image
 * run (default), or `BENCH_LOOM_ENTRY=sources` for src/main.ts through tsx
 * (to compare the two in the same minutes).
 */
export function benchLoomEntry(): 'sources' | 'bundle' {
  const entry = process.env.BENCH_LOOM_ENTRY ?? 'bundle';
  if (entry !== 'sources' && entry !== 'bundle') throw new Error(`BENCH_LOOM_ENTRY must be sources or bundle, not ${entry}`);
  return entry;
}
