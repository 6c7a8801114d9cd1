/**
 * What the pure engine asks the actor's shell to do once the events of a
 * decision are durable. Effects never change state themselves: model
 * results come back as `inference-result` commands, tool outcomes and
 * timers through the actor's own mailbox, and become events.
 */
import type { AgentRequestMeta } from '../../protocol/agent.ts';
import type { AgentToolResult } from '../../protocol/agent-events.ts';
import type { ChatMessage, ToolDefinition } from '../../protocol/inference.ts';

/** A model call as the session asks for it; the queue adapter adds where results and tokens go. */
export interface AgentModelCall {
  readonly requestId: string;
  readonly model: string;
  readonly messages: readonly ChatMessage[];
  /** Offered on `answer` calls; summaries get none. */
  readonly tools?: readonly ToolDefinition[];
  readonly meta: AgentRequestMeta;
}

export type AgentEffect =
  | { readonly type: 'submit-inference'; readonly call: AgentModelCall }
  | { readonly type: 'cancel-inference'; readonly requestId: string }
  | {
      readonly type: 'run-tool';
      readonly turnId: string;
      readonly step: number;
      readonly callId: string;
      readonly name: string;
      /** Parsed arguments (a JSON object); the runner validates them against the tool's schema. */
      readonly args: unknown;
    }
  /** Stops every tool still running for the turn (their late outcomes are ignored). */
  | { readonly type: 'abort-tools'; readonly turnId: string }
  | { readonly type: 'arm-deadline'; readonly requestId: string; readonly at: number };

/** How a tool call ended; delivered back through the mailbox as `tool-done`. */
export interface ToolOutcome {
  readonly turnId: string;
  readonly step: number;
  readonly callId: string;
  readonly result: AgentToolResult;
  readonly durationMs: number;
}
