/**
 * The conversation part of an inference request: chat messages of every
 * role, the tools offered to the model and the tool calls it makes. Split
 * from inference.ts so the queue layout and the chat layout read separately;
 * inference.ts re-exports what callers need.
 *
 * Tool definitions travel in the OpenAI `tools` format unchanged; tool calls
 * (in results and in assistant messages) are flattened to
 * `{ id, name, arguments }` so a caller can put a result's calls straight
 * back into the next request's assistant message.
 */
import { z } from 'zod';

/** Bounds of the chat part of a request (the whole body is bounded in inference.ts). */
export const CHAT_LIMITS = {
  maxMessageChars: 256 * 1024,
  /** OpenAI's own limit on tools per request. */
  maxTools: 128,
  maxToolDescriptionChars: 4_096,
  maxToolCallsPerMessage: 64,
  maxToolCallIdChars: 128,
  /** A called name is the model's output: bounded, not checked against TOOL_FUNCTION_NAME (the caller answers unknown names). */
  maxToolCallNameChars: 256,
  maxToolArgumentsChars: 256 * 1024,
} as const;

/** The OpenAI function-name rule; every offered tool's name matches it. */
export const TOOL_FUNCTION_NAME = /^[A-Za-z0-9_-]{1,64}$/;
// Printable ASCII without spaces: OpenAI (`call_…`) and vLLM (`chatcmpl-tool-…`) ids both fit.
const TOOL_CALL_ID = /^[\x21-\x7e]+$/;

/** One call the model made: `arguments` is the JSON text exactly as the model sent it (it may not parse). */
export interface ToolCall {
  readonly id: string;
  readonly name: string;
  readonly arguments: string;
}

export type ChatMessage =
  | { readonly role: 'system' | 'user'; readonly content: string }
  /** `toolCalls` when the model asked for tools in this turn; `content` may then be empty. */
  | { readonly role: 'assistant'; readonly content: string; readonly toolCalls?: readonly ToolCall[] }
  /** The answer to the assistant's call `toolCallId`. */
  | { readonly role: 'tool'; readonly toolCallId: string; readonly content: string };

/** A tool offered to the model, in the OpenAI `tools` format. */
export interface ToolDefinition {
  readonly type: 'function';
  readonly function: {
    readonly name: string;
    readonly description?: string;
    /** JSON Schema of the arguments object. */
    readonly parameters?: { readonly [keyword: string]: unknown };
  };
}

/** OpenAI `tool_choice`: let the model choose, forbid tools, require one, or name the one to call. */
export type ToolChoice = 'auto' | 'none' | 'required' | { readonly type: 'function'; readonly function: { readonly name: string } };

const content = z.string().max(CHAT_LIMITS.maxMessageChars);
const toolCallId = z.string().min(1).max(CHAT_LIMITS.maxToolCallIdChars).regex(TOOL_CALL_ID, 'must be printable ASCII without spaces');
const functionName = z.string().regex(TOOL_FUNCTION_NAME, 'must match [A-Za-z0-9_-]{1,64}');

export const toolCallSchema: z.ZodType<ToolCall> = z
  .object({
    id: toolCallId,
    name: z.string().max(CHAT_LIMITS.maxToolCallNameChars),
    arguments: z.string().max(CHAT_LIMITS.maxToolArgumentsChars),
  })
  .strict();

export const toolCallsSchema = z.array(toolCallSchema).max(CHAT_LIMITS.maxToolCallsPerMessage);

export const chatMessageSchema: z.ZodType<ChatMessage> = z.discriminatedUnion('role', [
  z.object({ role: z.literal('system'), content }).strict(),
  z.object({ role: z.literal('user'), content }).strict(),
  z.object({ role: z.literal('assistant'), content, toolCalls: toolCallsSchema.min(1).optional() }).strict(),
  z.object({ role: z.literal('tool'), toolCallId, content }).strict(),
]);

export const toolDefinitionSchema: z.ZodType<ToolDefinition> = z
  .object({
    type: z.literal('function'),
    function: z
      .object({
        name: functionName,
        description: z.string().max(CHAT_LIMITS.maxToolDescriptionChars).optional(),
        parameters: z.record(z.unknown()).optional(),
      })
      .strict(),
  })
  .strict();

export const toolsSchema = z
  .array(toolDefinitionSchema)
  .min(1)
  .max(CHAT_LIMITS.maxTools)
  .refine((tools) => new Set(tools.map((t) => t.function.name)).size === tools.length, 'must have unique function names');

export const toolChoiceSchema: z.ZodType<ToolChoice> = z.union([
  z.enum(['auto', 'none', 'required']),
  z.object({ type: z.literal('function'), function: z.object({ name: functionName }).strict() }).strict(),
]);
