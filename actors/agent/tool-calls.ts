/**
 * The session's side of the ToolRunner contract (tool.ts): resolving the
 * tools a new session asks for, and running one call so that whatever
 * happens (a runner that throws despite its contract included) comes back
 * as a result the model can read.
 */
import type { Logger } from 'pino';
import type { AgentTool } from '../../protocol/agent-events.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import type { AgentEffect, ToolOutcome } from './effects.ts';
import type { ToolCallContext, ToolRunner } from './tool.ts';

/**
 * The tools for a new session: the named ones (every built-in when `names` is null).
 * @throws ProtocolError `invalid-input` naming `tools.<index>` of the first unknown name; `unavailable` when listing timed out.
 */
export async function resolveTools(runner: ToolRunner, names: readonly string[] | null, timeoutMs: number, signal: AbortSignal): Promise<AgentTool[]> {
  const listSignal = AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]);
  let listed;
  try {
    listed = await runner.list(names ?? undefined, listSignal);
  } catch (err) {
    throw new ProtocolError('unavailable', `listing tools failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const byName = new Map(listed.map((t) => [t.name, t]));
  const unknown = (names ?? []).findIndex((n) => !byName.has(n));
  if (unknown >= 0) throw new ProtocolError('invalid-input', `tools.${unknown}: unknown tool ${JSON.stringify(names?.[unknown])}`);
  const ordered = names === null ? listed : names.map((n) => byName.get(n)).filter((t) => t !== undefined);
  return ordered.map((t) => ({
    name: t.name,
    description: t.description,
    parameters: { ...t.parameters },
    needsApproval: t.needsApproval,
    timeoutMs: t.timeoutMs,
    source: t.source,
  }));
}

/** Runs one call; never throws. */
export async function runToolCall(
  runner: ToolRunner,
  call: Extract<AgentEffect, { type: 'run-tool' }>,
  ctx: ToolCallContext,
  log: Logger,
  now: () => number,
): Promise<ToolOutcome> {
  const started = now();
  const base = { turnId: call.turnId, step: call.step, callId: call.callId };
  try {
    const result = await runner.call(call.name, call.args, ctx);
    const durationMs = now() - started;
    log.debug({ callId: call.callId, tool: call.name, ok: result.ok, durationMs }, 'tool call ended');
    return { ...base, result: result.ok ? { ok: true, content: result.content } : { ok: false, code: result.code, error: result.error }, durationMs };
  } catch (err) {
    // The contract says runners report failures as results; a throw is a runner bug, still shown to the model.
    log.error({ err, callId: call.callId, tool: call.name }, 'tool runner threw');
    return { ...base, result: { ok: false, code: 'failed', error: err instanceof Error ? err.message : String(err) }, durationMs: now() - started };
  }
}
