/**
 * The chat shapes of the fake model server: how it reads a request (messages
 * of every role, offered tools, tool_choice) and what a test may answer (text,
 * tool calls, or both), turned into the pieces the server streams.
 */

/** A message as the fake parsed it; `content` is '' when the client sent null. */
export interface FakeChatMessage {
  readonly role: string;
  readonly content: string;
  /** Assistant messages: the calls it made (`function.arguments` as sent). */
  readonly toolCalls?: ReadonlyArray<{ readonly id: string; readonly name: string; readonly arguments: string }>;
  /** Tool messages: the call they answer. */
  readonly toolCallId?: string;
}

/** A chat completion request as the fake parsed it. */
export interface FakeChatRequest {
  readonly model: string;
  readonly messages: readonly FakeChatMessage[];
  readonly stream: boolean;
  readonly maxTokens: number | undefined;
  readonly temperature: number | undefined;
  /** `response_format.type` (`json_object`, `text`), if any. */
  readonly responseFormat: string | undefined;
  /** Names of the offered function tools, in order (empty when none). */
  readonly toolNames: readonly string[];
  /** `tool_choice` as sent, if any. */
  readonly toolChoice: unknown;
  /** The whole JSON body. */
  readonly body: Readonly<Record<string, unknown>>;
}

/** A tool call a test scripts; `arguments` may be an object (sent as its JSON) or raw text (sent as is, even if broken). */
export interface FakeToolCall {
  /** Default `call_<seq>_<n>`. */
  readonly id?: string;
  readonly name: string;
  readonly arguments: string | Readonly<Record<string, unknown>>;
}

/** A full answer: text, tool calls, or both (text first, as models do). */
export interface FakeReply {
  readonly content?: string;
  readonly toolCalls?: readonly FakeToolCall[];
  /** Default `tool_calls` when there are calls, else `stop` (`length` when cut by max_tokens). */
  readonly finishReason?: string;
}

/** What `respond` and scripted replies may be: plain text is a text answer. */
export type FakeAnswer = string | FakeReply;

/** A reply ready to send: content tokens, calls with their argument text in pieces. */
export interface PlannedReply {
  readonly tokens: string[];
  readonly toolCalls: ReadonlyArray<{ readonly id: string; readonly name: string; readonly argumentPieces: string[] }>;
  readonly finishReason: string;
  readonly completionTokens: number;
}

/** Argument text streams in pieces of this many characters, the way models emit it over several chunks. */
const ARGUMENT_PIECE_CHARS = 12;

export function planReply(answer: FakeAnswer, callSeq: number, maxTokens: number | undefined, tokenize: (text: string) => string[]): PlannedReply {
  const reply: FakeReply = typeof answer === 'string' ? { content: answer } : answer;
  let tokens = tokenize(reply.content ?? '');
  let finishReason = reply.finishReason ?? ((reply.toolCalls?.length ?? 0) > 0 ? 'tool_calls' : 'stop');
  if (maxTokens !== undefined && tokens.length > maxTokens) {
    tokens = tokens.slice(0, maxTokens);
    finishReason = 'length';
  }
  const toolCalls = (reply.toolCalls ?? []).map((c, i) => {
    const text = typeof c.arguments === 'string' ? c.arguments : JSON.stringify(c.arguments);
    const argumentPieces: string[] = [];
    for (let at = 0; at < text.length; at += ARGUMENT_PIECE_CHARS) argumentPieces.push(text.slice(at, at + ARGUMENT_PIECE_CHARS));
    return { id: c.id ?? `call_${callSeq}_${i}`, name: c.name, argumentPieces };
  });
  const completionTokens = tokens.length + toolCalls.reduce((n, c) => n + 1 + c.argumentPieces.length, 0);
  return { tokens, toolCalls, finishReason, completionTokens };
}

/** @throws Error naming what is wrong (the server answers 400 with it). */
export function parseChatRequest(raw: string): FakeChatRequest {
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    throw new Error('body is not JSON');
  }
  if (!isRecord(body)) throw new Error('body must be a JSON object');
  const { model, messages } = body;
  if (typeof model !== 'string' || model.length === 0) throw new Error('model is required');
  if (!Array.isArray(messages) || messages.length === 0) throw new Error('messages must be a non-empty array');
  const parsed = messages.map((m, i) => parseMessage(m, i));
  const tools = body['tools'];
  if (tools !== undefined && !Array.isArray(tools)) throw new Error('tools must be an array');
  const toolNames = (tools ?? []).map((t: unknown, i: number) => {
    const fn = isRecord(t) && t['type'] === 'function' && isRecord(t['function']) ? t['function'] : undefined;
    if (fn === undefined || typeof fn['name'] !== 'string') throw new Error(`tools[${i}] must be {type:"function", function:{name}}`);
    return fn['name'];
  });
  const responseFormat = isRecord(body['response_format']) && typeof body['response_format']['type'] === 'string' ? body['response_format']['type'] : undefined;
  return {
    model,
    messages: parsed,
    stream: body['stream'] === true,
    maxTokens: typeof body['max_tokens'] === 'number' ? body['max_tokens'] : undefined,
    temperature: typeof body['temperature'] === 'number' ? body['temperature'] : undefined,
    responseFormat,
    toolNames,
    toolChoice: body['tool_choice'],
    body,
  };
}

function parseMessage(m: unknown, i: number): FakeChatMessage {
  if (!isRecord(m) || typeof m['role'] !== 'string') throw new Error(`messages[${i}] needs a role`);
  const role = m['role'];
  const content = m['content'];
  const rawCalls = m['tool_calls'];
  // The OpenAI API allows null content only beside tool calls.
  if (typeof content !== 'string' && !(content === null && role === 'assistant' && Array.isArray(rawCalls))) {
    throw new Error(`messages[${i}] needs string content`);
  }
  if (role === 'tool') {
    if (typeof m['tool_call_id'] !== 'string') throw new Error(`messages[${i}] (tool) needs tool_call_id`);
    return { role, content: content ?? '', toolCallId: m['tool_call_id'] };
  }
  if (role === 'assistant' && rawCalls !== undefined) {
    if (!Array.isArray(rawCalls)) throw new Error(`messages[${i}].tool_calls must be an array`);
    const toolCalls = rawCalls.map((c: unknown, j: number) => {
      const fn = isRecord(c) && isRecord(c['function']) ? c['function'] : undefined;
      if (!isRecord(c) || typeof c['id'] !== 'string' || fn === undefined || typeof fn['name'] !== 'string' || typeof fn['arguments'] !== 'string') {
        throw new Error(`messages[${i}].tool_calls[${j}] needs id, function.name and function.arguments`);
      }
      return { id: c['id'], name: fn['name'], arguments: fn['arguments'] };
    });
    return { role, content: content ?? '', toolCalls };
  }
  return { role, content: content ?? '' };
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
