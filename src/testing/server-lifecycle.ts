/**
 * server-lifecycle.ts: the stop/kill/restart/dispose half of a test server.
 *
 * nats-server.ts and postgres-server.ts differ in how they spawn and wait for
 * readiness (`start()`), but own their process and temp dir the same way:
 * stop and kill act on the current child, restart is stop-then-start, and
 * dispose stops the server and removes the temp dir once.
 */
import { rm } from 'node:fs/promises';
import { ChildProcessError, formatOutput, removeOnExit, type Child } from './child-process.ts';

export abstract class ServerLifecycle {
  /** The running (or last) server process; set by the subclass's start(). */
  protected child: Child | undefined;
  /** The temp dir that dispose() removes. */
  protected readonly dir: string;
  #name: string;
  #stopTimeoutMs: number;
  #disposed = false;
  #cancelDirRemoval: () => void;

  /**
   * @param name server name for error messages (`nats-server`, `postgres`)
   * @param dir temp dir owned by this handle, removed by dispose() or at process exit
   * @param stopTimeoutMs how long stop() waits after the stop signal before SIGKILL
   */
  protected constructor(name: string, dir: string, stopTimeoutMs: number) {
    this.#name = name;
    this.dir = dir;
    this.#stopTimeoutMs = stopTimeoutMs;
    this.#cancelDirRemoval = removeOnExit(dir);
  }

  get pid(): number | undefined {
    return this.child?.running ? this.child.pid : undefined;
  }

  abstract start(): Promise<void>;

  async stop(): Promise<void> {
    await this.child?.stop(this.#stopTimeoutMs);
  }

  async kill(): Promise<void> {
    await this.child?.kill();
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
    this.#cancelDirRemoval();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  /** @throws {Error} if dispose() has run; start() calls this first. */
  protected assertNotDisposed(): void {
    if (this.#disposed) throw new Error(`${this.#name} handle was disposed`);
  }

  /** Wraps a failed start with the reason and, unless the child error already has them, the recent log lines. */
  protected startError(err: unknown, child: Child): Error {
    const reason = err instanceof ChildProcessError ? err.message : `${String(err)}${formatOutput(child.output())}`;
    return new Error(`${this.#name} failed to start: ${reason}`, { cause: err });
  }
}
