/**
 * What the runner runs: a tool's descriptor and the function behind it.
 * Built-in tools and the tools discovered on NATS micro-services both take
 * this shape, so validation, timeouts, caps and logging live in one place
 * (tool-runner.ts) and a tool only does its own work.
 */
import type { ToolDescriptor } from '../../actors/agent/tool.ts';
import type { Logger } from '../log.ts';

/** One call as a tool sees it. */
export interface ToolInvocation {
  readonly sessionId: string;
  /** The session owner: the tool acts with this user's rights and no more. */
  readonly ownerId: string;
  readonly callId: string;
  readonly docId?: string | undefined;
  /** Aborted on cancel and on the tool's timeout; pass it to every await that can take long. */
  readonly signal: AbortSignal;
  /** Bound to sessionId, callId and tool. */
  readonly log: Logger;
}

export interface RunnableTool {
  readonly descriptor: ToolDescriptor;
  /**
   * Runs with arguments already validated against `descriptor.parameters`.
   * @returns the text the model sees.
   * @throws ToolFailure (or a public service error) for a failure the model should see.
   */
  run(args: unknown, call: ToolInvocation): Promise<string>;
}
