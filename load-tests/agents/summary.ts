/**
 * Turns one agent run's raw stamps into its summary line: throughput,
 * Loom's overhead per step (turn-ledger.ts) overall and by position in the
 * turn, model token to client, and where the CPU went (Loom's processes,
 * the generator, everyone else on the machine).
 */
import { summarize, type LatencySummary } from '../collab/percentiles.ts';
import { cpuBetween, type ProcessFigures } from '../collab/proc-stats.ts';
import type { BenchModel } from './outside-world.ts';
import type { DriverFigures } from './session-driver.ts';
import { stepOverheadsMs, turnSegmentsMs, type TurnLedger } from './turn-ledger.ts';

/** Issue 7's target: Loom's overhead per step, p99, at 50 concurrent sessions on the 2-core machine. */
export const TARGET_STEP_OVERHEAD_P99_MS = 20;

/** Process and machine figures at one instant. */
export interface CpuSample {
  readonly processes: ReadonlyMap<number, ProcessFigures>;
  readonly self: NodeJS.CpuUsage;
  readonly hostBusySeconds: number;
}

export interface SummaryInput {
  readonly ledger: TurnLedger;
  readonly model: BenchModel;
  readonly figures: DriverFigures;
  readonly steps: number;
  readonly latencyMs: number;
  readonly windowMs: { readonly from: number; readonly to: number };
  /** Loom's and its servers' processes: pid -> label. */
  readonly labels: ReadonlyMap<number, string>;
  readonly cpu: { readonly before: CpuSample; readonly after: CpuSample; readonly cpus: number };
  readonly eventLoopDelayMs: { readonly p99: number; readonly max: number };
}

const of = (values: readonly number[]): LatencySummary | null => summarize([Float64Array.from(values)]);
const r1 = (n: number): number => Math.round(n * 10) / 10;

/** The figure issue 7 sets a target for, and whether the run met it. */
export interface TargetVerdict {
  readonly what: 'stepOverheadMs.p99';
  readonly limitMs: number;
  readonly valueMs: number | null;
  /** Also needs every measured turn to have completed. */
  readonly met: boolean;
}

export interface RunSummary {
  /** The `summary` line. */
  readonly line: Record<string, unknown>;
  readonly target: TargetVerdict;
  readonly turnsFailed: number;
}

export function summarizeRun(input: SummaryInput): RunSummary {
  const { ledger, steps, windowMs } = input;
  const overheads: number[] = [];
  const byPosition = { first: [] as number[], middle: [] as number[], last: [] as number[] };
  const turnOverheads: number[] = [];
  const turnMs: number[] = [];
  const modelMs: number[] = [];
  const toolMs: number[] = [];
  const segments = { dispatch: [] as number[], toTool: [] as number[], toClient: [] as number[] };
  let measured = 0;
  let completedInWindow = 0;
  const failed: string[] = [];
  for (const turn of ledger.all()) {
    if (turn.status === 'completed' && turn.endedAt !== undefined && turn.endedAt >= windowMs.from && turn.endedAt < windowMs.to) completedInWindow += 1;
    if (!turn.measured) continue;
    measured += 1;
    if (turn.status !== 'completed') {
      failed.push(`${turn.key}: ${turn.status ?? 'no end seen'}`);
      continue;
    }
    const perStep = stepOverheadsMs(turn, steps);
    if (perStep === null || turn.endedAt === undefined) {
      failed.push(`${turn.key}: incomplete stamps (${turn.models.length} model calls, ${turn.tools.length} tool calls)`);
      continue;
    }
    perStep.forEach((ms, i) => (i === 0 ? byPosition.first : i === steps - 1 ? byPosition.last : byPosition.middle).push(ms));
    overheads.push(...perStep);
    const parts = turnSegmentsMs(turn, steps);
    if (parts !== null) {
      segments.dispatch.push(...parts.dispatch);
      segments.toTool.push(...parts.toTool);
      segments.toClient.push(parts.toClient);
    }
    turnOverheads.push(perStep.reduce((a, b) => a + b, 0));
    turnMs.push(turn.endedAt - turn.sentAt);
    for (const m of turn.models) if (m.endedAt !== undefined) modelMs.push(m.endedAt - m.startedAt);
    for (const t of turn.tools) if (t.endedAt !== undefined) toolMs.push(t.endedAt - t.startedAt);
  }
  const windowS = (windowMs.to - windowMs.from) / 1000;
  const overhead = of(overheads);
  const target: TargetVerdict = {
    what: 'stepOverheadMs.p99',
    limitMs: TARGET_STEP_OVERHEAD_P99_MS,
    valueMs: overhead?.p99 ?? null,
    met: overhead !== null && failed.length === 0 && overhead.p99 < TARGET_STEP_OVERHEAD_P99_MS,
  };
  const line = {
    type: 'summary',
    sessionsStarted: input.figures.sessions,
    turnsMeasured: measured,
    turnsFailed: failed.length,
    failures: failed.slice(0, 5),
    clientErrors: input.figures.errors.length,
    clientErrorSamples: input.figures.errors.slice(0, 5),
    unmatchedModelCalls: input.model.unmatchedCalls,
    turnsPerSecond: r1(completedInWindow / windowS),
    modelCallsPerSecond: r1((completedInWindow * steps) / windowS),
    stepOverheadMs: overhead,
    stepOverheadByPositionMs: { first: of(byPosition.first), middle: of(byPosition.middle), last: of(byPosition.last) },
    turnOverheadMs: of(turnOverheads),
    overheadSegmentsMs: { dispatch: of(segments.dispatch), toTool: of(segments.toTool), toClient: of(segments.toClient) },
    tokenToClientMs: of(input.figures.tokenToClientMs),
    turnMs: { ...of(turnMs), idealMs: steps * input.latencyMs },
    modelMs: of(modelMs),
    toolMs: of(toolMs),
    sessionCreateMs: of(input.figures.createMs),
    messageAcceptedMs: of(input.figures.messageAcceptedMs),
    target,
    ...cpuFigures(input, windowS, completedInWindow),
  };
  return { line, target, turnsFailed: failed.length };
}

function cpuFigures(input: SummaryInput, windowS: number, turns: number): Record<string, unknown> {
  const { before, after, cpus } = input.cpu;
  const spent = cpuBetween(before.processes, after.processes);
  const byLabel = new Map<string, number>();
  for (const [pid, seconds] of spent) {
    const root = input.labels.get(pid);
    const name = root ?? `${after.processes.get(pid)?.name ?? 'process'} (child)`;
    byLabel.set(name, (byLabel.get(name) ?? 0) + seconds);
  }
  const loomSeconds = [...spent.values()].reduce((a, b) => a + b, 0);
  const selfSeconds = (after.self.user - before.self.user + after.self.system - before.self.system) / 1e6;
  const busy = after.hostBusySeconds - before.hostBusySeconds;
  const pct = (seconds: number) => Math.round((seconds / windowS) * 100);
  return {
    // CPU per turn hardly depends on how busy the machine is: 1000 / it is the turns/s one free core could carry.
    serversCpuMsPerTurn: turns === 0 ? null : Math.round((loomSeconds * 1000) / turns),
    serversCpuPercentOfOneCore: Object.fromEntries([...byLabel].map(([name, seconds]) => [name, pct(seconds)])),
    generatorCpuPercentOfOneCore: pct(selfSeconds),
    generatorEventLoopDelayMs: input.eventLoopDelayMs,
    host: {
      cpus,
      busyPercent: Math.round((busy / windowS / cpus) * 100),
      othersCpuPercentOfOneCore: pct(Math.max(0, busy - loomSeconds - selfSeconds)),
    },
  };
}
