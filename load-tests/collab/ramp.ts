/**
 * Ramp mode: one server, one connected load, the per-client edit rate raised
 * step by step (startRate x factor^k) until a step's p99 passes the limit,
 * the clients do not converge, or the generator cannot send what a step
 * planned. The highest step that passed is the server's sustained rate.
 */
import type { LoadSpec, RampSpec, Target } from './load-spec.ts';
import type { Report } from './report.ts';
import { openSession, type ScenarioOptions, type Session } from './scenario.ts';

/** Why the ramp ended: the step that failed, or none failed. */
export type RampEnd = 'p99' | 'not-converged' | 'generator-behind' | 'max-steps' | 'error';

export interface RampStepLine {
  readonly server: Target;
  readonly step: number;
  readonly ratePerClient: number;
  /** Edits sent per second by all clients together during the step. */
  readonly editsPerS: number;
  readonly updatesDeliveredPerS: number;
  readonly latencyMs: Report['latencyMs'];
  readonly converged: string;
  readonly editsSentOfPlanned: number;
  readonly serverCpuPercentOfOneCore: number;
  readonly generatorBusiestWorkerCpuPercent: number;
  readonly othersCpuSeconds: number;
  readonly sustained: boolean;
}

export interface RampSummary {
  readonly server: Target;
  readonly load: { readonly docs: number; readonly clients: number; readonly stepS: number; readonly p99LimitMs: number };
  /** The last step that passed (null: not even the first). */
  readonly sustained: { readonly ratePerClient: number; readonly editsPerS: number; readonly p99Ms: number | null } | null;
  readonly endedBy: RampEnd;
  /** The step that failed, if any. */
  readonly failedStep: { readonly ratePerClient: number; readonly editsPerS: number; readonly p99Ms: number | null } | null;
  readonly steps: number;
  /** Edit windows run: steps plus the repeats of failed steps. */
  readonly windows: number;
  readonly loadavg1AtStart: number;
  readonly error?: string;
}

const r2 = (value: number): number => Math.round(value * 100) / 100;

function stepLine(server: Target, step: number, rate: number, report: Report, limitMs: number): { line: RampStepLine; end: RampEnd | null } {
  const p99 = report.latencyMs?.p99 ?? null;
  const [converged, docs] = report.converged.split('/').map(Number);
  const sentShare = report.editsPlanned === 0 ? 1 : report.editsSent / report.editsPlanned;
  const end: RampEnd | null =
    p99 === null || p99 > limitMs ? 'p99' : converged !== docs ? 'not-converged' : sentShare < 0.95 ? 'generator-behind' : null;
  return {
    end,
    line: {
      server,
      step,
      ratePerClient: rate,
      editsPerS: report.updatesAppliedPerS,
      updatesDeliveredPerS: report.updatesDeliveredPerS,
      latencyMs: report.latencyMs,
      converged: report.converged,
      editsSentOfPlanned: r2(sentShare),
      serverCpuPercentOfOneCore: report.serverCpuPercentOfOneCore,
      generatorBusiestWorkerCpuPercent: report.generatorBusiestWorkerCpuPercent,
      othersCpuSeconds: report.host.othersCpuSeconds,
      sustained: end === null,
    },
  };
}

/**
 * Ramps one server; prints each step as `{"rampStep": ...}` through `print` and returns the summary.
 * Never throws for a server failure: the summary says `endedBy: 'error'`.
 */
export async function runRamp(
  target: Target,
  load: LoadSpec,
  options: ScenarioOptions,
  ramp: RampSpec,
  print: (line: Record<string, unknown>) => void,
  loadavg1: number,
): Promise<RampSummary> {
  const summary = (rest: Pick<RampSummary, 'sustained' | 'endedBy' | 'failedStep' | 'steps' | 'windows'> & { error?: string }): RampSummary => ({
    server: target,
    load: { docs: load.docs, clients: load.clients, stepS: ramp.stepS, p99LimitMs: ramp.p99LimitMs },
    loadavg1AtStart: loadavg1,
    ...rest,
  });
  let sustained: RampSummary['sustained'] = null;
  let session: Session;
  try {
    session = await openSession(target, load, options);
  } catch (err) {
    return summary({ sustained, endedBy: 'error', failedStep: null, steps: 0, windows: 0, error: err instanceof Error ? err.message : String(err) });
  }
  try {
    let windows = 0;
    for (let step = 0; step < ramp.maxSteps; step += 1) {
      const rate = r2(ramp.startRate * ramp.factor ** step);
      // A failed step is tried once more at the same rate: one noisy window on a shared machine should not end the ramp.
      for (let attempt = 1; ; attempt += 1) {
        const report = await session.window(rate, ramp.stepS * 1000);
        windows += 1;
        const { line, end } = stepLine(target, step + 1, rate, report, ramp.p99LimitMs);
        print({ rampStep: { ...line, attempt } });
        const figures = { ratePerClient: rate, editsPerS: line.editsPerS, p99Ms: line.latencyMs?.p99 ?? null };
        if (end === null) {
          sustained = figures;
          break;
        }
        if (attempt > 1) return summary({ sustained, endedBy: end, failedStep: figures, steps: step + 1, windows });
      }
    }
    return summary({ sustained, endedBy: 'max-steps', failedStep: null, steps: ramp.maxSteps, windows });
  } catch (err) {
    return summary({ sustained, endedBy: 'error', failedStep: null, steps: 0, windows: 0, error: err instanceof Error ? err.message : String(err) });
  } finally {
    await session.close();
  }
}

/** Sustained edits/s of each Loom setup against each Hocuspocus setup that reported one. */
export function rampRatios(summaries: readonly RampSummary[]): Record<string, number | null> {
  const rate = (server: Target): number | undefined => summaries.find((s) => s.server === server)?.sustained?.editsPerS;
  const ratios: Record<string, number | null> = {};
  for (const loom of ['loom', 'loom-x2'] as const) {
    for (const peer of ['hocuspocus', 'hocuspocus-x2'] as const) {
      const ours = rate(loom);
      const theirs = rate(peer);
      if (!summaries.some((s) => s.server === loom) || !summaries.some((s) => s.server === peer)) continue;
      ratios[`${loom}/${peer}`] = ours === undefined || theirs === undefined || theirs === 0 ? null : Math.round((ours / theirs) * 1000) / 1000;
    }
  }
  return ratios;
}
