/**
 * The contract between the agent-session actor and the tools it offers the
 * model. The actor sees tools only through `ToolRunner`; the runtime
 * (src/agents/) implements it with the built-in tools (documents, jobs,
 * uploads) and the NATS micro-services it discovers.
 *
 * A tool failure is a result, not an exception: the model sees it as the
 * tool's answer (`ok: false`) and may try again. The runner validates the
 * arguments against the tool's JSON Schema before running anything.
 */

/** A JSON Schema object, as offered to the model in the OpenAI `tools` format. */
export type JsonSchemaObject = { readonly [keyword: string]: unknown };

/** Tool names follow the OpenAI function-name rule. */
export const TOOL_NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export interface ToolDescriptor {
  /** Unique among the tools a session can see; matches TOOL_NAME_PATTERN. */
  readonly name: string;
  readonly description: string;
  /** JSON Schema of the arguments object. */
  readonly parameters: JsonSchemaObject;
  /** Longest a call may run before it is abandoned as `timeout`. */
  readonly timeoutMs: number;
  /** When true the turn waits durably for a person to approve the call before it runs. */
  readonly needsApproval: boolean;
  readonly source: 'builtin' | 'service';
}

export const TOOL_ERROR_CODES = [
  'unknown-tool',
  'invalid-arguments',
  'forbidden',
  'not-found',
  'timeout',
  'unavailable',
  'cancelled',
  'rejected',
  'failed',
] as const;
export type ToolErrorCode = (typeof TOOL_ERROR_CODES)[number];

export type ToolResult =
  | { readonly ok: true; readonly content: string }
  | { readonly ok: false; readonly code: ToolErrorCode; readonly error: string };

export interface ToolCallContext {
  readonly sessionId: string;
  /** The session owner's user id: a tool may never read or write what this user cannot. */
  readonly ownerId: string;
  /** The model's tool-call id; stable across a retried call, so services can deduplicate. */
  readonly callId: string;
  /** The document the session is attached to, if any. */
  readonly docId?: string | undefined;
  /** Aborted on cancel; the runner adds the tool's own timeout. */
  readonly signal: AbortSignal;
}

/** What the agent actor needs to offer and run tools. */
export interface ToolRunner {
  /**
   * The tools visible to a session: the named ones, or every built-in when
   * `names` is undefined (service tools are offered only when named).
   * Unknown names are left out, so a caller that must refuse them (session
   * creation answers 400) compares the names it asked for with the result.
   */
  list(names: readonly string[] | undefined, signal: AbortSignal): Promise<readonly ToolDescriptor[]>;
  /** Runs a call; never throws for a failure of the tool itself. */
  call(name: string, args: unknown, ctx: ToolCallContext): Promise<ToolResult>;
}
