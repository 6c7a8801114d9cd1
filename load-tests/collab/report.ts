/**
 * Turns one scenario's raw figures into its JSON report line, and two lines
 * (Loom, Hocuspocus) for the same load into the comparison line.
 */
import type { LoadSpec, Target } from './load-spec.ts';
import type { FromWorker } from './messages.ts';
import { summarize, type LatencySummary } from './percentiles.ts';
import { cpuBetween, type ProcessFigures } from './proc-stats.ts';

/** Process figures at one instant: s0 before connecting, s1 edits start, s2 edits end, s3 converged. */
export interface Sample {
  readonly atMs: number;
  readonly server: ReadonlyMap<number, ProcessFigures>;
  readonly generator: ReadonlyMap<number, ProcessFigures>;
  readonly self: NodeJS.CpuUsage;
  /** Machine-wide busy CPU seconds (all cores) at this instant. */
  readonly hostBusySeconds: number;
}

export interface ReportInput {
  readonly target: Target;
  readonly load: LoadSpec;
  readonly workers: number;
  readonly host: { readonly cpus: number; readonly loadavg1: number };
  readonly samples: readonly [Sample, Sample, Sample, Sample];
  readonly serverPid: number;
  readonly edited: readonly Extract<FromWorker, { type: 'edited' }>[];
  readonly results: readonly Extract<FromWorker, { type: 'results' }>[];
  readonly expected: ReadonlyMap<string, number>;
  readonly converged: number;
  readonly convergeMs: number;
}

export interface ServerProcessReport {
  readonly name: string;
  readonly pid: number;
  readonly cpuSeconds: number;
  readonly peakRssMb: number;
  /** Resident set when convergence was checked; far below the peak means the peak came from start-up. */
  readonly rssAtEndMb: number;
  /** False for tsx's esbuild service: an artifact of running TypeScript directly. */
  readonly counted: boolean;
}

export interface Report {
  readonly server: Target;
  readonly load: { readonly name: string; readonly docs: number; readonly clients: number; readonly rate: number; readonly durationS: number };
  readonly editsPlanned: number;
  readonly editsSent: number;
  readonly updatesAppliedPerS: number;
  readonly updatesDeliveredPerS: number;
  readonly deliveries: { readonly expected: number; readonly inWindow: number; readonly total: number };
  readonly latencyMs: LatencySummary | null;
  readonly converged: string;
  readonly convergeMs: number | null;
  readonly serverCpuSeconds: number;
  readonly serverCpuPercentOfOneCore: number;
  readonly serverPeakRssMb: number;
  readonly serverProcesses: readonly ServerProcessReport[];
  readonly generatorCpuSeconds: number;
  readonly generatorCpuPercentOfOneCore: number;
  readonly generatorBusiestWorkerCpuPercent: number;
  readonly generatorPeakRssMb: number;
  readonly generatorEventLoopDelayMs: { readonly p99: number; readonly max: number };
  readonly orchestratorCpuSeconds: number;
  readonly connect: { readonly seconds: number; readonly serverCpuSeconds: number; readonly generatorCpuSeconds: number };
  readonly windowS: number;
  readonly workers: number;
  readonly disconnects: number;
  readonly droppedSamples: number;
  readonly unsampledDeliveries: number;
  readonly host: {
    readonly cpus: number;
    readonly loadavg1: number;
    /** Busy CPU of the whole machine during the window, in % of all cores. */
    readonly busyPercent: number;
    /** CPU seconds used during the window by processes that are not this run's. */
    readonly othersCpuSeconds: number;
  };
}

const r2 = (value: number): number => Math.round(value * 100) / 100;
const sum = (values: Iterable<number>): number => {
  let total = 0;
  for (const value of values) total += value;
  return total;
};

export function buildReport(input: ReportInput): Report {
  const [s0, s1, , s3] = input.samples;
  const { load } = input;
  const windowS = (s3.atMs - s1.atMs) / 1000;
  const serverCpu = cpuBetween(s1.server, s3.server);
  const generatorCpu = cpuBetween(s1.generator, s3.generator);
  const serverProcesses = [...s3.server.values()].map((f) => ({
    name: f.pid === input.serverPid ? `${f.name} (server)` : f.name,
    pid: f.pid,
    cpuSeconds: r2(serverCpu.get(f.pid) ?? 0),
    peakRssMb: r2(f.peakRssKb / 1024),
    rssAtEndMb: r2(f.rssKb / 1024),
    counted: f.name !== 'esbuild',
  }));
  const counted = serverProcesses.filter((p) => p.counted);
  const editsSent = sum(input.edited.map((e) => e.sent));
  const inWindow = sum(input.results.map((r) => r.deliveredInWindow));
  const serverCpuSeconds = sum(counted.map((p) => serverCpu.get(p.pid) ?? 0));
  const generatorCpuSeconds = sum(generatorCpu.values());
  const selfCpuUs = s3.self.user + s3.self.system - (s1.self.user + s1.self.system);
  return {
    server: input.target,
    load: { name: load.name, docs: load.docs, clients: load.clients, rate: load.rate, durationS: load.durationS },
    editsPlanned: sum(input.edited.map((e) => e.planned)),
    editsSent,
    updatesAppliedPerS: r2(editsSent / load.durationS),
    updatesDeliveredPerS: r2(inWindow / load.durationS),
    deliveries: {
      expected: sum([...input.expected.values()].map((sent) => sent * (load.clients - 1))),
      inWindow,
      total: sum(input.results.map((r) => r.deliveredTotal)),
    },
    latencyMs: summarize(input.results.map((r) => r.latenciesMs)),
    converged: `${input.converged}/${load.docs}`,
    convergeMs: Number.isNaN(input.convergeMs) ? null : Math.round(input.convergeMs),
    serverCpuSeconds: r2(serverCpuSeconds),
    serverCpuPercentOfOneCore: r2((serverCpuSeconds / windowS) * 100),
    // Sum of each process's own peak: an upper bound if the peaks were not simultaneous.
    serverPeakRssMb: r2(sum(counted.map((p) => p.peakRssMb))),
    serverProcesses,
    generatorCpuSeconds: r2(generatorCpuSeconds),
    generatorCpuPercentOfOneCore: r2((generatorCpuSeconds / windowS) * 100),
    generatorBusiestWorkerCpuPercent: r2((Math.max(0, ...generatorCpu.values()) / windowS) * 100),
    generatorPeakRssMb: r2(sum([...s3.generator.values()].filter((f) => f.name !== 'esbuild').map((f) => f.peakRssKb / 1024))),
    generatorEventLoopDelayMs: {
      p99: r2(Math.max(0, ...input.results.map((r) => r.eventLoopDelayP99Ms))),
      max: r2(Math.max(0, ...input.results.map((r) => r.eventLoopDelayMaxMs))),
    },
    orchestratorCpuSeconds: r2(selfCpuUs / 1e6),
    connect: {
      seconds: r2((s1.atMs - s0.atMs) / 1000),
      serverCpuSeconds: r2(sum(cpuBetween(s0.server, s1.server).values())),
      generatorCpuSeconds: r2(sum(cpuBetween(s0.generator, s1.generator).values())),
    },
    windowS: r2(windowS),
    workers: input.workers,
    disconnects: sum(input.results.map((r) => r.disconnects)),
    droppedSamples: sum(input.results.map((r) => r.droppedSamples)),
    unsampledDeliveries: sum(input.results.map((r) => r.unsampled)),
    host: {
      ...input.host,
      busyPercent: r2(((s3.hostBusySeconds - s1.hostBusySeconds) / windowS / input.host.cpus) * 100),
      othersCpuSeconds: r2(
        Math.max(
          0,
          s3.hostBusySeconds - s1.hostBusySeconds - sum(serverCpu.values()) - generatorCpuSeconds - selfCpuUs / 1e6,
        ),
      ),
    },
  };
}

const ratio = (ours: number | undefined, theirs: number | undefined): number | null =>
  ours === undefined || theirs === undefined || theirs === 0 ? null : Math.round((ours / theirs) * 1000) / 1000;

/** The comparison line for one load: key figures side by side and loom/hocuspocus ratios. */
/** Ratios of `loom` to `hocuspocus` (or of any subject to its reference, named by `names`). */
export function compare(loom: Report, hocuspocus: Report, names: readonly [string, string] = ['loom', 'hocuspocus']): Record<string, unknown> {
  const pick = (r: Report): Record<string, unknown> => ({
    latencyMs: r.latencyMs,
    updatesDeliveredPerS: r.updatesDeliveredPerS,
    converged: r.converged,
    serverCpuSeconds: r.serverCpuSeconds,
    serverPeakRssMb: r.serverPeakRssMb,
    generatorCpuPercentOfOneCore: r.generatorCpuPercentOfOneCore,
  });
  return {
    compare: { load: loom.load, [names[0]]: pick(loom), [names[1]]: pick(hocuspocus) },
    ratios: {
      p50: ratio(loom.latencyMs?.p50, hocuspocus.latencyMs?.p50),
      p95: ratio(loom.latencyMs?.p95, hocuspocus.latencyMs?.p95),
      p99: ratio(loom.latencyMs?.p99, hocuspocus.latencyMs?.p99),
      max: ratio(loom.latencyMs?.max, hocuspocus.latencyMs?.max),
      updatesDeliveredPerS: ratio(loom.updatesDeliveredPerS, hocuspocus.updatesDeliveredPerS),
      serverCpuSeconds: ratio(loom.serverCpuSeconds, hocuspocus.serverCpuSeconds),
      serverPeakRssMb: ratio(loom.serverPeakRssMb, hocuspocus.serverPeakRssMb),
    },
  };
}
