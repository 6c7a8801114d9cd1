/**
 * CPU and memory of a process tree, read from Linux /proc: utime + stime from
 * /proc/<pid>/stat, VmRSS and VmHWM (peak resident set) from
 * /proc/<pid>/status, and children from /proc/<pid>/task/<tid>/children.
 *
 * A process's CPU can only be read while it lives, so the monitor samples
 * every intervalMs and keeps the last figures of each process it has seen.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcessFigures {
  readonly pid: number;
  readonly name: string;
  readonly cpuSeconds: number;
  /** Resident set now (VmRSS). */
  readonly rssKb: number;
  /** Largest resident set so far (VmHWM, or the largest VmRSS sampled). */
  readonly peakRssKb: number;
}

function clockTicksPerSecond(): number {
  try {
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(ticks) && ticks > 0 ? ticks : 100;
  } catch (err) {
    // getconf missing: 100 is the value on every Linux this runs on.
    process.stderr.write(`proc-stats: getconf CLK_TCK failed (${String(err)}), assuming 100\n`);
    return 100;
  }
}

const ticksPerSecond = clockTicksPerSecond();

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    // The process exited between listing and reading: expected, not an error.
    return null;
  }
}

/** Reads one process's figures now; null if it is gone. */
export function readProcess(pid: number): ProcessFigures | null {
  const stat = readText(`/proc/${pid}/stat`);
  const status = readText(`/proc/${pid}/status`);
  if (stat === null || status === null) return null;
  const open = stat.indexOf('(');
  const close = stat.lastIndexOf(')');
  const name = stat.slice(open + 1, close);
  // Fields after "(comm)": state is field 3, so utime (14) and stime (15) sit at 11 and 12.
  const rest = stat.slice(close + 2).split(' ');
  const cpuTicks = Number(rest[11]) + Number(rest[12]);
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  const rssKb = kb('VmRSS');
  return { pid, name, cpuSeconds: cpuTicks / ticksPerSecond, rssKb, peakRssKb: Math.max(kb('VmHWM'), rssKb) };
}

function childrenOf(pid: number): number[] {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    // Gone: no children to find.
    return [];
  }
  const children: number[] = [];
  for (const tid of tasks) {
    const text = readText(`/proc/${pid}/task/${tid}/children`);
    if (text === null) continue;
    for (const token of text.split(' ')) if (token !== '') children.push(Number(token));
  }
  return children;
}

/** Samples a set of root processes and all their descendants until stopped. */
export class ProcessTreeMonitor {
  private readonly seen = new Map<number, ProcessFigures>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly roots: readonly number[]) {}

  start(intervalMs: number): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Reads every live process of the tree now and returns the figures of all ever seen. */
  sample(): ReadonlyMap<number, ProcessFigures> {
    const queue = [...this.roots];
    const visited = new Set<number>();
    while (queue.length > 0) {
      const pid = queue.pop();
      if (pid === undefined || visited.has(pid)) continue;
      visited.add(pid);
      const figures = readProcess(pid);
      if (figures === null) continue;
      const before = this.seen.get(pid);
      this.seen.set(pid, { ...figures, peakRssKb: Math.max(figures.peakRssKb, before?.peakRssKb ?? 0) });
      queue.push(...childrenOf(pid));
    }
    return new Map(this.seen);
  }
}

/** CPU seconds each process spent between two samples (absent before: counted from zero). */
export function cpuBetween(
  before: ReadonlyMap<number, ProcessFigures>,
  after: ReadonlyMap<number, ProcessFigures>,
): Map<number, number> {
  const delta = new Map<number, number>();
  for (const [pid, figures] of after) delta.set(pid, figures.cpuSeconds - (before.get(pid)?.cpuSeconds ?? 0));
  return delta;
}

/**
 * CPU seconds the whole machine has spent busy since boot, all cores together
 * (user + nice + system + irq + softirq + steal from /proc/stat). The
 * difference between two readings, less our own processes, is what everyone
 * else on the machine used meanwhile: the noise in the figures.
 */
export function readHostBusySeconds(): number {
  const line = readText('/proc/stat')?.split('\n', 1)[0] ?? '';
  const [, user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).map(Number);
  return (user + nice + system + irq + softirq + steal) / ticksPerSecond;
}
