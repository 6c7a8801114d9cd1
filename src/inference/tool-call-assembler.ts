/**
 * Streamed tool calls arrive in pieces: the first delta of a call carries its
 * `index`, `id` and function `name`, later ones only the `index` and a piece
 * of `arguments`. The assembler joins them into whole calls, in index order.
 * `checkToolCalls` then makes them fit the result's contract (InferenceResult
 * in protocol/inference.ts), which the model's output is not bound by.
 */
import { CHAT_LIMITS, type ToolCall } from '../../protocol/inference.ts';
import { ModelOutputError } from './failure.ts';

/** One `choices[0].delta.tool_calls` entry, as the OpenAI streaming format sends it. */
export interface ToolCallDelta {
  readonly index: number;
  readonly id?: string | undefined;
  readonly function?: { readonly name?: string | undefined; readonly arguments?: string | undefined } | undefined;
}

interface Partial {
  id: string;
  name: string;
  args: string[];
  argChars: number;
}

export class ToolCallAssembler {
  readonly #calls = new Map<number, Partial>();

  /** @throws ModelOutputError `invalid-output` once the calls outgrow the result's limits. */
  add(delta: ToolCallDelta): void {
    let call = this.#calls.get(delta.index);
    if (call === undefined) {
      if (this.#calls.size >= CHAT_LIMITS.maxToolCallsPerMessage) {
        throw new ModelOutputError('invalid-output', `the model made more than ${CHAT_LIMITS.maxToolCallsPerMessage} tool calls`);
      }
      call = { id: '', name: '', args: [], argChars: 0 };
      this.#calls.set(delta.index, call);
    }
    // Names and ids come whole (OpenAI sends each once; a server repeating them must not double them).
    if (delta.id) call.id = delta.id;
    if (delta.function?.name) call.name = delta.function.name;
    const piece = delta.function?.arguments;
    if (piece) {
      call.argChars += piece.length;
      if (call.argChars > CHAT_LIMITS.maxToolArgumentsChars) {
        throw new ModelOutputError('invalid-output', `tool call arguments over ${CHAT_LIMITS.maxToolArgumentsChars} characters`);
      }
      call.args.push(piece);
    }
  }

  /** The calls so far, in index order; ids may still be empty (see checkToolCalls). */
  calls(): ToolCall[] {
    return [...this.#calls.entries()].sort(([a], [b]) => a - b).map(([, c]) => ({ id: c.id, name: c.name, arguments: c.args.join('') }));
  }
}

const VALID_ID = /^[\x21-\x7e]+$/;

/**
 * Fits calls to the result's contract: a missing or unusable id becomes
 * `call_<n>_<requestId>`-derived (stable across redeliveries of the request,
 * so a caller's dedup by call id still works); an overlong name is cut (the
 * caller answers it as an unknown tool either way).
 * @throws ModelOutputError `invalid-output` when there are too many calls or
 *   their arguments are too long.
 */
export function checkToolCalls(calls: readonly ToolCall[], requestId: string): ToolCall[] {
  if (calls.length > CHAT_LIMITS.maxToolCallsPerMessage) {
    throw new ModelOutputError('invalid-output', `the model made ${calls.length} tool calls; the limit is ${CHAT_LIMITS.maxToolCallsPerMessage}`);
  }
  const seen = new Set<string>();
  return calls.map((c, i) => {
    if (c.arguments.length > CHAT_LIMITS.maxToolArgumentsChars) {
      throw new ModelOutputError('invalid-output', `tool call arguments over ${CHAT_LIMITS.maxToolArgumentsChars} characters`);
    }
    let id = c.id;
    if (!VALID_ID.test(id) || id.length > CHAT_LIMITS.maxToolCallIdChars || seen.has(id)) {
      id = `call_${i}_${requestId.replace(/[^A-Za-z0-9_-]/g, '_')}`.slice(0, CHAT_LIMITS.maxToolCallIdChars);
    }
    seen.add(id);
    return { id, name: c.name.slice(0, CHAT_LIMITS.maxToolCallNameChars), arguments: c.arguments };
  });
}
