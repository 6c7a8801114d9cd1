/**
 * The client worker processes: fork, request/reply over IPC with a deadline
 * on every wait, and shutdown by PID (SIGKILL only after a grace period).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseFromWorker, type FromWorker, type ToWorker } from './messages.ts';

const workerPath = join(dirname(fileURLToPath(import.meta.url)), 'client-worker.ts');

type Reply<K extends FromWorker['type']> = Extract<FromWorker, { type: K }>;

class WorkerLink {
  private readonly inbox: FromWorker[] = [];
  private wake: (() => void) | undefined;
  private exitNote: string | undefined;
  private stderrTail = '';

  constructor(readonly index: number, readonly child: ChildProcess) {
    child.on('message', (raw: unknown) => {
      const message = parseFromWorker(raw);
      this.inbox.push(message ?? { type: 'error', message: 'malformed message from worker' });
      this.wake?.();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString('utf8')).slice(-4_096);
    });
    child.on('exit', (code, signal) => {
      this.exitNote = `worker ${index} exited (code ${String(code)}, signal ${String(signal)}) ${this.stderrTail}`;
      this.wake?.();
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  send(message: ToWorker): void {
    this.child.send(message);
  }

  /** Waits for the next message of the given type; an error message or an exit rejects. */
  async next<K extends FromWorker['type']>(type: K, timeoutMs: number): Promise<Reply<K>> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const message = this.inbox.shift();
      if (message !== undefined) {
        if (message.type === 'error') throw new Error(`worker ${this.index}: ${message.message}`);
        if (message.type === type) return message as Reply<K>;
        throw new Error(`worker ${this.index}: expected ${type}, got ${message.type}`);
      }
      if (this.exitNote !== undefined) throw new Error(this.exitNote);
      const left = until - Date.now();
      if (left <= 0) throw new Error(`worker ${this.index}: no ${type} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }
}

export class WorkerPool {
  private constructor(readonly links: readonly WorkerLink[]) {}

  /** Forks `count` workers running client-worker.ts under tsx. */
  static start(count: number): WorkerPool {
    const links = Array.from({ length: count }, (_, index) => {
      const child = fork(workerPath, [], {
        execArgv: ['--import', 'tsx'],
        serialization: 'advanced',
        stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
      });
      return new WorkerLink(index, child);
    });
    return new WorkerPool(links);
  }

  get pids(): number[] {
    return this.links.map((link) => link.pid);
  }

  /** Sends each worker its own message and gathers one reply of `type` from each. */
  async ask<K extends FromWorker['type']>(
    messageFor: (index: number) => ToWorker,
    type: K,
    timeoutMs: number,
  ): Promise<Reply<K>[]> {
    for (const link of this.links) link.send(messageFor(link.index));
    return Promise.all(this.links.map((link) => link.next(type, timeoutMs)));
  }

  /**
   * Waits up to graceMs for every worker to exit (a worker whose IPC channel
   * closes destroys its clients and exits), then SIGKILLs the rest by PID.
   */
  async stop(graceMs: number, closeChannels: boolean): Promise<void> {
    if (closeChannels) for (const link of this.links) if (link.child.connected) link.child.disconnect();
    const until = Date.now() + graceMs;
    while (Date.now() < until && this.links.some((link) => !link.exited)) {
      await new Promise((wake) => setTimeout(wake, 50));
    }
    for (const link of this.links) if (!link.exited) link.child.kill('SIGKILL');
  }
}
