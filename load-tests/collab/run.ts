/**
 * Collaborative load generator: drives Loom and @hocuspocus/server with the
 * same load, one after the other, and prints one JSON line per (server, load)
 * plus one comparison line per load with loom/hocuspocus ratios.
 *
 *   node --import tsx load-tests/collab/run.ts [--target T[,T...]|both|all]
 *     [--load small|large|all] [--docs N --clients M --rate R --duration S] [--workers K] [--nats-cluster 3]
 *     [--ramp [--ramp-factor F --step S --max-steps N --p99-limit MS]]
 *
 * Loopback only. Bounded: a watchdog stops every child and exits if the whole
 * run takes longer than its budget. See load-tests/README.md for the figures.
 */
import { loadavg } from 'node:os';
import { parseArgs, UsageError, type LoadSpec, type RampSpec, type RunOptions } from './load-spec.ts';
import { rampRatios, runRamp, type RampSummary } from './ramp.ts';
import { compare, type Report } from './report.ts';
import { abortRunningScenario, runScenario } from './scenario.ts';

function print(line: Record<string, unknown> | Report): void {
  process.stdout.write(JSON.stringify(line) + '\n');
}

/** Generous upper bound on one scenario: start, connect, window, converge, shutdown. */
function budgetMs(load: LoadSpec, workers: number, convergeTimeoutMs: number): number {
  const connectMs = 60_000 * Math.ceil(load.docs * load.clients / workers / 50);
  return 300_000 + connectMs + load.durationS * 1000 + 60_000 + convergeTimeoutMs + 60_000;
}

/** Upper bound on one server's ramp: start, connect, every step with its convergence wait, shutdown. */
function rampBudgetMs(load: LoadSpec | undefined, ramp: RampSpec, options: RunOptions): number {
  const connectMs = load === undefined ? 0 : 60_000 * Math.ceil(load.docs * load.clients / options.workers / 50);
  // Every step may be run twice (a failed step is repeated once).
  return 300_000 + connectMs + 2 * ramp.maxSteps * (ramp.stepS * 1000 + options.convergeTimeoutMs + 40_000) + 60_000;
}

async function main(): Promise<number> {
  let options: RunOptions;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(err.message + '\n');
      return 2;
    }
    throw err;
  }
  const ramp = options.ramp;
  const totalBudgetMs = ramp !== undefined ? options.targets.length * rampBudgetMs(options.loads[0], ramp, options) : options.loads.reduce(
    (total, load) => total + options.targets.length * budgetMs(load, options.workers, options.convergeTimeoutMs),
    0,
  );
  const watchdog = setTimeout(() => {
    process.stderr.write(`collab: run exceeded its ${totalBudgetMs} ms budget; stopping\n`);
    void abortRunningScenario().finally(() => process.exit(1));
  }, totalBudgetMs);
  const onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`collab: ${signal}; stopping\n`);
    void abortRunningScenario().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  let failures = 0;
  const rampLoad = options.loads[0];
  if (ramp !== undefined && rampLoad !== undefined) {
    const summaries: RampSummary[] = [];
    for (const target of [...options.targets].sort()) {
      const summary = await runRamp(target, rampLoad, options, ramp, print, Math.round((loadavg()[0] ?? 0) * 100) / 100);
      if (summary.endedBy === 'error') failures += 1;
      summaries.push(summary);
      print({ ramp: summary });
    }
    print({ rampCompare: { sustainedEditsPerS: Object.fromEntries(summaries.map((s) => [s.server, s.sustained?.editsPerS ?? null])) }, ratios: rampRatios(summaries) });
  }
  for (const load of ramp === undefined ? options.loads : []) {
    const reports = new Map<string, Report>();
    // Hocuspocus first: it is the reference, and it works even while Loom is unfinished.
    for (const target of [...options.targets].sort()) {
      try {
        const report = await runScenario(target, load, options);
        reports.set(target, report);
        print(report);
      } catch (err) {
        failures += 1;
        const error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
        print({ server: target, load, error });
      }
    }
    const loom = reports.get('loom');
    const cluster = reports.get('loom-cluster');
    // Each Loom setup against each Hocuspocus setup of the run: loom/hocuspocus ratios.
    let compared = 0;
    for (const ours of ['loom', 'loom-x2'] as const) {
      for (const peer of ['hocuspocus', 'hocuspocus-x2'] as const) {
        const a = reports.get(ours);
        const b = reports.get(peer);
        if (a === undefined || b === undefined) continue;
        print(compare(a, b, [ours, peer]));
        compared += 1;
      }
    }
    // What replication costs: the cluster (RN) against the single server (R1), same load, same run.
    if (loom !== undefined && cluster !== undefined) print(compare(cluster, loom, [`loom-r${String(options.natsCluster)}`, 'loom-r1']));
    else if (compared === 0 && options.targets.length >= 2) print({ compare: { load }, ratios: null, reason: 'a server did not report' });
  }
  clearTimeout(watchdog);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  return failures === 0 ? 0 : 1;
}

process.exitCode = await main();
