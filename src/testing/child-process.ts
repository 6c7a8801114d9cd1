/**
 * child-process.ts: spawn server processes for tests and keep them on a leash.
 *
 * Every child keeps its last lines of stdout/stderr for error messages, can
 * be waited on for a log line or its exit, and never outlives the test
 * process: it is spawned through `setpriv --pdeathsig KILL` where setpriv
 * exists (covers a SIGKILLed test runner), and an exit hook SIGKILLs what is
 * still running on a normal exit. Children are unref'd, so a forgotten one
 * does not keep a test file alive; the waits below hold their own timers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, rmSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Readable } from 'node:stream';

/** How a child ended. `error` is set when it could not be spawned at all. */
export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

/** Options for {@link spawnChild}. */
export interface SpawnChildOptions {
  command: string;
  args?: readonly string[];
  /** Full environment of the child; defaults to the test process's. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Run as this user/group (the test process must be root). */
  uid?: number;
  gid?: number;
  /** Name used in error messages; defaults to the command. */
  name?: string;
  /**
   * Put the child in its own process group. SIGKILL (kill(), stop()'s
   * fallback, the exit hook) then reaches its whole tree, and `exited` waits
   * until every process holding its output pipes is gone.
   */
  processGroup?: boolean;
  /** First signal stop() sends. Default SIGTERM. */
  stopSignal?: NodeJS.Signals;
  /** Output lines kept for errors. Default 200. */
  maxLines?: number;
}

/** A running (or finished) child process. */
export interface Child {
  readonly name: string;
  readonly pid: number | undefined;
  /** False once the process has exited or failed to spawn. */
  readonly running: boolean;
  /** Resolves when the process has exited and its output is drained. Never rejects. */
  readonly exited: Promise<ChildExit>;
  /** The most recent output lines, stdout and stderr interleaved. */
  output(): string[];
  /**
   * Resolves with the match of the first output line (seen so far or later)
   * matching `pattern`. Rejects with a {@link ChildProcessError} if the child
   * exits first or `timeoutMs` (default 15_000) passes.
   */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Sends `sig` to the process (not its group). False if it is gone. */
  signal(sig: NodeJS.Signals): boolean;
  /**
   * Resolves like `exited`, but rejects with a {@link ChildProcessError}
   * (code CHILD_TIMEOUT) after `timeoutMs` (default 15_000). Prefer this to
   * awaiting `exited` directly: its timer keeps the event loop alive, which
   * the unref'd child does not.
   */
  waitForExit(timeoutMs?: number): Promise<ChildExit>;
  /** Sends the stop signal, then SIGKILL after `timeoutMs` (default 10_000); resolves on exit. */
  stop(timeoutMs?: number): Promise<ChildExit>;
  /** SIGKILL (to the group with `processGroup`); resolves on exit. */
  kill(): Promise<ChildExit>;
}

export type ChildProcessErrorCode = 'CHILD_EXITED' | 'CHILD_TIMEOUT';

/** A child did not do what was awaited; the message ends with its recent output. */
export class ChildProcessError extends Error {
  override readonly name = 'ChildProcessError';
  constructor(
    readonly code: ChildProcessErrorCode,
    message: string,
    readonly output: readonly string[],
    options?: ErrorOptions,
  ) {
    super(`${message}${formatOutput(output)}`, options);
  }
}

/** Renders output lines for appending to an error message. */
export function formatOutput(lines: readonly string[]): string {
  if (lines.length === 0) return '\n(no output)';
  return `\n--- last ${lines.length} output lines ---\n${lines.join('\n')}`;
}

/** Describes an exit for messages: "exit code 1", "signal SIGKILL", or the spawn error. */
export function describeExit(exit: ChildExit): string {
  if (exit.error) return `could not spawn: ${exit.error.message}`;
  if (exit.signal) return `killed by ${exit.signal}`;
  return `exit code ${String(exit.code)}`;
}

const live = new Set<ChildHandle>();
const dirsToRemove = new Set<string>();
let exitHookRegistered = false;
let setprivPath: string | null | undefined;

/**
 * Spawns `command` and returns a {@link Child}. Never throws for a missing
 * binary: the failure shows in `exited` (and rejects `waitForLine`).
 */
export function spawnChild(opts: SpawnChildOptions): Child {
  registerExitHook();
  return new ChildHandle(opts);
}

/**
 * Removes `dir` (recursively) when the process exits normally, after the
 * exit hook has SIGKILLed the children; for temp dirs whose owner was never
 * disposed (a crashed test). Returns a function that cancels the removal.
 */
export function removeOnExit(dir: string): () => void {
  registerExitHook();
  dirsToRemove.add(dir);
  return () => {
    dirsToRemove.delete(dir);
  };
}

class ChildHandle implements Child {
  readonly name: string;
  readonly exited: Promise<ChildExit>;
  #proc: ChildProcess;
  #exit: ChildExit | undefined;
  #lines: string[] = [];
  #maxLines: number;
  #listeners = new Set<(line: string) => void>();
  #group: boolean;
  #stopSignal: NodeJS.Signals;

  constructor(opts: SpawnChildOptions) {
    this.name = opts.name ?? opts.command;
    this.#maxLines = opts.maxLines ?? 200;
    this.#group = opts.processGroup ?? false;
    this.#stopSignal = opts.stopSignal ?? 'SIGTERM';
    const [command, args] = withParentDeathSignal(opts.command, opts.args ?? []);
    this.#proc = spawn(command, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      uid: opts.uid,
      gid: opts.gid,
      detached: this.#group,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.exited = this.#track();
    if (this.#proc.pid !== undefined) live.add(this);
    this.#proc.unref();
  }

  get pid(): number | undefined {
    return this.#proc.pid;
  }

  get running(): boolean {
    return this.#exit === undefined && this.#proc.pid !== undefined;
  }

  output(): string[] {
    return [...this.#lines];
  }

  waitForLine(pattern: RegExp, timeoutMs = 15_000): Promise<RegExpExecArray> {
    const test = (line: string): RegExpExecArray | null => {
      pattern.lastIndex = 0;
      return pattern.exec(line);
    };
    for (const line of this.#lines) {
      const m = test(line);
      if (m) return Promise.resolve(m);
    }
    return new Promise<RegExpExecArray>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#listeners.delete(onLine);
      };
      const onLine = (line: string): void => {
        const m = test(line);
        if (m) {
          done();
          resolve(m);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new ChildProcessError('CHILD_TIMEOUT', `${this.name}: no line matching ${String(pattern)} within ${timeoutMs} ms`, this.output()));
      }, timeoutMs);
      this.#listeners.add(onLine);
      void this.exited.then((exit) => {
        if (!this.#listeners.has(onLine)) return;
        done();
        reject(new ChildProcessError('CHILD_EXITED', `${this.name}: ${describeExit(exit)} before a line matched ${String(pattern)}`, this.output(), { cause: exit.error }));
      });
    });
  }

  signal(sig: NodeJS.Signals): boolean {
    return this.#send(sig, false);
  }

  async waitForExit(timeoutMs = 15_000): Promise<ChildExit> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new ChildProcessError('CHILD_TIMEOUT', `${this.name}: still running after ${timeoutMs} ms`, this.output()));
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async stop(timeoutMs = 10_000): Promise<ChildExit> {
    if (!this.running) return this.waitForExit();
    this.#send(this.#stopSignal, false);
    try {
      return await this.waitForExit(timeoutMs);
    } catch (err) {
      if (!(err instanceof ChildProcessError && err.code === 'CHILD_TIMEOUT')) throw err;
      return this.kill();
    }
  }

  async kill(): Promise<ChildExit> {
    this.#send('SIGKILL', this.#group);
    return this.waitForExit();
  }

  /** SIGKILLs synchronously; for the exit hook. */
  killNow(): void {
    this.#send('SIGKILL', this.#group);
  }

  #send(sig: NodeJS.Signals, toGroup: boolean): boolean {
    const pid = this.#proc.pid;
    if (pid === undefined || (this.#exit !== undefined && !toGroup)) return false;
    try {
      process.kill(toGroup ? -pid : pid, sig);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
      throw err;
    }
  }

  #track(): Promise<ChildExit> {
    const proc = this.#proc;
    for (const stream of [proc.stdout, proc.stderr]) if (stream) this.#collect(stream);
    return new Promise<ChildExit>((resolve) => {
      let closed = false;
      const settle = (): void => {
        if (this.#exit && closed) resolve(this.#exit);
      };
      proc.on('error', (err) => {
        // Spawn failures (ENOENT, EACCES) leave no pid and may emit no 'close'.
        if (proc.pid === undefined) {
          this.#exit = { code: null, signal: null, error: err };
          closed = true;
          settle();
        } else {
          this.#push(`[harness] ${this.name}: ${err.message}`);
        }
      });
      proc.on('exit', (code, signal) => {
        this.#exit ??= { code, signal };
        live.delete(this);
        settle();
        // A grandchild that escaped the group can hold the pipes open
        // forever; don't let it block `exited` beyond a short drain.
        setTimeout(() => {
          closed = true;
          settle();
        }, 2_000).unref();
      });
      proc.on('close', () => {
        closed = true;
        settle();
      });
    });
  }

  #collect(stream: Readable): void {
    stream.setEncoding('utf8');
    let partial = '';
    stream.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) this.#push(line);
    });
    stream.on('end', () => {
      if (partial) this.#push(partial);
      partial = '';
    });
    // Pipes of an unref'd child must not hold the event loop either.
    const handle = stream as Readable & { unref?: () => void };
    handle.unref?.();
  }

  #push(line: string): void {
    this.#lines.push(line);
    if (this.#lines.length > this.#maxLines) this.#lines.shift();
    for (const listener of this.#listeners) listener(line);
  }
}

/** Prefixes `setpriv --pdeathsig KILL --` when setpriv is on PATH. */
function withParentDeathSignal(command: string, args: readonly string[]): [string, string[]] {
  setprivPath ??= findOnPath('setpriv');
  if (setprivPath === null) return [command, [...args]];
  return [setprivPath, ['--pdeathsig', 'KILL', '--', command, ...args]];
}

function findOnPath(name: string): string | null {
  // The harness reads PATH itself: it is test tooling, not app config.
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here (or not executable); keep looking along PATH.
    }
  }
  return null;
}

function registerExitHook(): void {
  if (exitHookRegistered) return;
  exitHookRegistered = true;
  process.on('exit', () => {
    for (const child of live) child.killNow();
    for (const dir of dirsToRemove) {
      try {
        rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
      } catch {
        // The process is exiting and has nowhere to report this; a leftover
        // temp dir is harmless and the OS tmp cleaner gets it.
      }
    }
  });
}
