/**
 * The ToolRunner the agent-session actor uses (actors/agent/tool.ts). For a
 * call it finds the tool (built-ins first, then the NATS services it
 * discovered), validates the arguments against the tool's JSON Schema, runs
 * it under the tool's timeout joined with the caller's signal, caps the
 * result's size, and turns every failure into a result: nothing a tool does
 * is thrown at the actor. Each call is logged once with sessionId, callId,
 * tool and durationMs.
 */
import type { ToolCallContext, ToolDescriptor, ToolResult, ToolRunner } from '../../actors/agent/tool.ts';
import type { Logger } from '../log.ts';
import type { RunnableTool } from './runnable-tool.ts';
import { capResult } from './result-cap.ts';
import type { SchemaValidator } from './schema-validator.ts';
import { resultOfError, ToolFailure, UNEXPECTED_FAILURE } from './tool-failure.ts';

/** Tools found by name beyond the built-ins (the service-tool directory). */
export interface ServiceToolSource {
  /**
   * The tool with this name, or null when no service offers it.
   * @throws ToolFailure `unavailable` when discovery itself failed.
   */
  find(name: string, signal: AbortSignal): Promise<RunnableTool | null>;
}

export interface AgentToolRunnerOptions {
  readonly builtins: readonly RunnableTool[];
  readonly services?: ServiceToolSource | undefined;
  readonly validator: SchemaValidator;
  /** Largest result the model sees, in UTF-8 bytes; longer ones are cut with a note. */
  readonly maxResultBytes: number;
  readonly log: Logger;
}

export class AgentToolRunner implements ToolRunner {
  readonly #builtins: ReadonlyMap<string, RunnableTool>;
  readonly #o: AgentToolRunnerOptions;

  constructor(opts: AgentToolRunnerOptions) {
    this.#o = opts;
    this.#builtins = new Map(opts.builtins.map((t) => [t.descriptor.name, t]));
  }

  async list(names: readonly string[] | undefined, signal: AbortSignal): Promise<readonly ToolDescriptor[]> {
    if (names === undefined) return [...this.#builtins.values()].map((t) => t.descriptor);
    const out: ToolDescriptor[] = [];
    for (const name of new Set(names)) {
      const tool = await this.#find(name, signal).catch((err: unknown) => {
        // Left out like an unknown name: the caller compares what it asked for with what it got.
        this.#o.log.warn({ err, tool: name }, 'service tool discovery failed');
        return null;
      });
      if (tool !== null) out.push(tool.descriptor);
    }
    return out;
  }

  async call(name: string, args: unknown, ctx: ToolCallContext): Promise<ToolResult> {
    const started = performance.now();
    const log = this.#o.log.child({ sessionId: ctx.sessionId, callId: ctx.callId, tool: name });
    let result: ToolResult;
    try {
      result = await this.#call(name, args, ctx, log);
    } catch (err) {
      // #call maps every failure; reaching here is a bug, still not the actor's problem.
      log.error({ err }, 'tool runner failed');
      result = { ok: false, code: 'failed', error: UNEXPECTED_FAILURE };
    }
    const durationMs = Math.round(performance.now() - started);
    // Per-call detail (the session log keeps every call with its duration): debug when it worked, info when not.
    if (result.ok) log.debug({ durationMs, ok: true, bytes: Buffer.byteLength(result.content) }, 'tool call');
    else log.info({ durationMs, ok: false, code: result.code }, 'tool call');
    return result;
  }

  async #call(name: string, rawArgs: unknown, ctx: ToolCallContext, log: Logger): Promise<ToolResult> {
    if (ctx.signal.aborted) return { ok: false, code: 'cancelled', error: 'the call was cancelled before it started' };
    let tool: RunnableTool | null;
    try {
      tool = await this.#find(name, ctx.signal);
    } catch (err) {
      return resultOfError(err);
    }
    if (tool === null) return { ok: false, code: 'unknown-tool', error: `no tool named ${JSON.stringify(name)}` };
    const args = parseArguments(rawArgs);
    if (args === NOT_JSON) return { ok: false, code: 'invalid-arguments', error: 'arguments: not a JSON object' };
    const problem = this.#o.validator.check(tool.descriptor.parameters, args);
    if (problem !== null) return { ok: false, code: 'invalid-arguments', error: problem };
    return this.#runBounded(tool, args, ctx, log);
  }

  /** Runs the tool until it settles, its timeout passes or the caller cancels, whichever comes first. */
  async #runBounded(tool: RunnableTool, args: unknown, ctx: ToolCallContext, log: Logger): Promise<ToolResult> {
    const { timeoutMs } = tool.descriptor;
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(new ToolFailure('timeout', `the tool did not finish within ${timeoutMs} ms`)), timeoutMs);
    const signal = AbortSignal.any([ctx.signal, timeout.signal]);
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(new Error('aborted'));
      // Cancelled while the tool was being looked up: an aborted signal fires no more events.
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    // Through an async function, so a tool that throws before returning a promise fails like one that rejects.
    const running = (async () => tool.run(args, { sessionId: ctx.sessionId, ownerId: ctx.ownerId, callId: ctx.callId, docId: ctx.docId, signal, log }))();
    try {
      const content = await Promise.race([running, aborted]);
      return { ok: true, content: capResult(content, this.#o.maxResultBytes) };
    } catch (err) {
      // The caller's cancel wins over a timeout that fired at the same moment.
      if (ctx.signal.aborted) return { ok: false, code: 'cancelled', error: 'the call was cancelled' };
      if (timeout.signal.aborted) return { ok: false, code: 'timeout', error: `the tool did not finish within ${timeoutMs} ms` };
      const result = resultOfError(err);
      if (result.error === UNEXPECTED_FAILURE) log.warn({ err }, 'tool failed');
      return result;
    } finally {
      clearTimeout(timer);
      if (onAbort !== undefined) signal.removeEventListener('abort', onAbort);
      // A tool that ignored the signal may still settle later: nobody awaits it, so keep its rejection from going unhandled.
      running.catch((err: unknown) => log.debug({ err }, 'abandoned tool call settled'));
    }
  }

  async #find(name: string, signal: AbortSignal): Promise<RunnableTool | null> {
    const builtin = this.#builtins.get(name);
    if (builtin !== undefined) return builtin;
    return this.#o.services === undefined ? null : this.#o.services.find(name, signal);
  }
}

const NOT_JSON = Symbol('not-json');

/** Arguments arrive parsed, or as the JSON text the model wrote. */
function parseArguments(raw: unknown): unknown {
  if (typeof raw !== 'string') return raw;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return NOT_JSON;
  }
}
