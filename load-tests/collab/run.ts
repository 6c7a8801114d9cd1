/**
 * Collaborative load generator: drives Loom and @hocuspocus/server with the
 * same load, one after the other, and prints one JSON line per (server, load)
 * plus one comparison line per load with loom/hocuspocus ratios.
 *
 *   node --import tsx load-tests/collab/run.ts [--target loom|hocuspocus|both]
 *     [--load small|large|all] [--docs N --clients M --rate R --duration S] [--workers K] [--nats-cluster 3]
 *
 * Loopback only. Bounded: a watchdog stops every child and exits if the whole
 * run takes longer than its budget. See load-tests/README.md for the figures.
 */
import { parseArgs, UsageError, type LoadSpec, type RunOptions } from './load-spec.ts';
import { compare, type Report } from './report.ts';
import { abortRunningScenario, runScenario } from './scenario.ts';

function print(line: Record<string, unknown> | Report): void {
  process.stdout.write(JSON.stringify(line) + '\n');
}

/** Generous upper bound on one scenario: start, connect, window, converge, shutdown. */
function budgetMs(load: LoadSpec, workers: number, convergeTimeoutMs: number): number {
  const connectMs = 60_000 * Math.ceil(load.docs * load.clients / workers / 50);
  return 120_000 + connectMs + load.durationS * 1000 + 60_000 + convergeTimeoutMs + 60_000;
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
  const totalBudgetMs = options.loads.reduce(
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
  for (const load of options.loads) {
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
    const hocuspocus = reports.get('hocuspocus');
    const cluster = reports.get('loom-cluster');
    if (loom !== undefined && hocuspocus !== undefined) print(compare(loom, hocuspocus));
    // What replication costs: the cluster (RN) against the single server (R1), same load, same run.
    else if (loom !== undefined && cluster !== undefined) print(compare(cluster, loom, [`loom-r${String(options.natsCluster)}`, 'loom-r1']));
    else if (options.targets.length === 2) print({ compare: { load }, ratios: null, reason: 'a server did not report' });
  }
  clearTimeout(watchdog);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  return failures === 0 ? 0 : 1;
}

process.exitCode = await main();
