/**
 * Starts platform-worker.ts processes for a test and reads back what they
 * did: every task event they printed, so a test can count completions per
 * task at the workers (a killed worker's lines still count).
 */
import { fileURLToPath } from 'node:url';
import { spawnChild, type Child } from '../child-process.ts';
import type { PlatformQueue } from './behaviours.ts';

const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));

/** One task event a platform worker printed. */
export interface PlatformTaskEvent {
  readonly task: 'working' | 'claimed' | 'refused' | 'completed' | 'cancelled';
  readonly taskId: string;
  readonly queue: string;
  readonly workerId: string;
  readonly accepted?: boolean;
  readonly ok?: boolean;
  readonly attempt?: number;
}

export interface PlatformWorkerFleet {
  /** Every worker started, killed ones included. */
  readonly workers: Child[];
  start(name: string, queues: readonly PlatformQueue[], workMs?: number): Promise<Child>;
  /** Task events about job `jobId`'s tasks, in each worker's order. */
  events(jobId: string): PlatformTaskEvent[];
  /** Completions Loom accepted for `jobId`, by task id. */
  acceptedByTask(jobId: string): Map<string, number>;
  stop(): Promise<void>;
}

export function platformWorkerFleet(natsUrl: string): PlatformWorkerFleet {
  const workers: Child[] = [];
  const fleet: PlatformWorkerFleet = {
    workers,
    async start(name, queues, workMs = 0) {
      const child = spawnChild({
        command: process.execPath,
        args: ['--import', 'tsx', 'src/testing/platform-workers/platform-worker.ts'],
        cwd: REPO_ROOT,
        name,
        maxLines: 5_000,
        env: { PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: process.env.TMPDIR, NATS_URL: natsUrl, WORKER_ID: name, QUEUES: queues.join(','), WORK_MS: String(workMs) },
      });
      await child.waitForLine(/"worker":"ready"/, 60_000);
      workers.push(child);
      return child;
    },
    events(jobId) {
      return workers.flatMap((w) =>
        w
          .output()
          .filter((line) => line.startsWith('{"task"'))
          .map((line) => JSON.parse(line) as PlatformTaskEvent)
          .filter((e) => e.taskId.startsWith(`${jobId}.`)),
      );
    },
    acceptedByTask(jobId) {
      const counts = new Map<string, number>();
      for (const e of fleet.events(jobId)) if (e.task === 'completed' && e.accepted === true) counts.set(e.taskId, (counts.get(e.taskId) ?? 0) + 1);
      return counts;
    },
    async stop() {
      await Promise.all(workers.map((w) => w.stop(5_000)));
    },
  };
  return fleet;
}
