/**
 * The messages of the next `answer` call, and what makes them fit both one
 * queued request (INFERENCE_LIMITS: 256 messages, bytes, characters per
 * message) and the session's token budget (estimateTokens).
 *
 * Earlier turns are summarised, whole (summariseThrough). The running turn
 * is never summarised: when it alone outgrows the request, its older steps
 * are folded into text (a model that calls tools step after step reaches
 * 256 messages within one turn) and its tool results are cut to a common
 * length. What a call folded and cut (TurnFit) is recorded in its
 * model-call-started, so a resubmission after a crash is the same request.
 */
import { CHAT_LIMITS, INFERENCE_LIMITS, type ChatMessage } from '../../protocol/inference.ts';
import { jsonTextBytes, jsonTextPrefix } from '../../protocol/json-text.ts';
import {
  chunks,
  commonCap,
  estimateTokens,
  fitsInferenceRequest,
  MAX_CONVERSATION_BYTES,
  messageBytes,
  messageFor,
  render,
  systemMessage,
  toolDefinitions,
  toolResultText,
  toolsBytes,
} from './context.ts';
import type { AgentState, TranscriptItem } from './state.ts';

/**
 * A tool result of the running turn cut to fit the answer request: the
 * `index`th tool result of the turn (0-based, in transcript order) keeps
 * its first `keptChars` UTF-16 units, then a note for the model.
 */
export interface ResultCut {
  readonly index: number;
  readonly keptChars: number;
}

/** How an answer request shapes the running turn: its first `foldedSteps` steps folded into text, its results cut as `cuts` say. */
export interface TurnFit {
  readonly foldedSteps: number;
  readonly cuts: readonly ResultCut[];
}

export const NO_FIT: TurnFit = Object.freeze({ foldedSteps: 0, cuts: Object.freeze([]) });

/**
 * Fold messages a request may need: the fold's text is cut to fit the
 * request's bytes, so it spans at most ceil(768 KiB / 256 Ki chars) = 3
 * messages, and one more for a chunk boundary moved off a surrogate pair.
 */
const FOLD_MESSAGES = 4;

/**
 * The messages of the next `answer` call: instructions and summary, then
 * every turn the summary does not cover, with the running turn shaped as
 * `fit` says (turnFit; recorded in model-call-started).
 */
export function answerMessages(state: AgentState, fit: TurnFit = NO_FIT): ChatMessage[] {
  const after = state.summary?.throughTurn ?? 0;
  const current = state.turn?.number ?? 0;
  const kept = new Map(fit.cuts.map((c) => [c.index, c.keptChars]));
  const messages = [...systemMessage(state)];
  const folded: string[] = [];
  let index = 0;
  let step = 0;
  for (const item of state.transcript) {
    if (item.turn <= after) continue;
    const m = messageFor(item);
    if (m === null) continue;
    if (item.turn !== current) {
      messages.push(m);
      continue;
    }
    if (m.role === 'assistant') step++;
    const keptChars = m.role === 'tool' ? kept.get(index++) : undefined;
    const content = keptChars === undefined ? m.content : cutResult(m.content, keptChars);
    if (step >= 1 && step <= fit.foldedSteps) {
      folded.push(foldLine(item, content));
      continue;
    }
    if (folded.length > 0) messages.push(...foldMessages(folded.splice(0), fit.foldedSteps));
    messages.push(content === m.content ? m : { ...m, content });
  }
  if (folded.length > 0) messages.push(...foldMessages(folded, fit.foldedSteps));
  return messages;
}

function foldLine(item: TranscriptItem, content: string): string {
  return item.body.role === 'tool' ? `Tool ${item.body.name} returned: ${content}` : (render(item) ?? '');
}

/** The folded steps as user messages, each within the characters one message may hold. */
function foldMessages(lines: readonly string[], steps: number): ChatMessage[] {
  const head = `[Loom folded steps 1-${steps} of this turn into text, as one model request carries at most ${INFERENCE_LIMITS.maxMessages} messages. What you said, called and got back:]`;
  return chunks([head, ...lines].join('\n\n'), CHAT_LIMITS.maxMessageChars).map((content): ChatMessage => ({ role: 'user', content }));
}

/** What the model reads of a cut result: the kept part and a note saying how much it sees. */
function cutResult(full: string, keptChars: number): string {
  const kept = full.slice(0, keptChars);
  return kept + cutNote(Buffer.byteLength(kept, 'utf8'), Buffer.byteLength(full, 'utf8'));
}

function cutNote(keptBytes: number, totalBytes: number): string {
  return `\n[cut by Loom: this turn's tool results exceed one model request or the session's token budget; ${keptBytes} of ${totalBytes} bytes shown]`;
}

/**
 * How the next answer call shapes the running turn, NO_FIT when it fits as
 * it is. A pure function of the state (`messages`: its answerMessages, when
 * the caller has them already).
 */
export function turnFit(state: AgentState, messages: readonly ChatMessage[] = answerMessages(state)): TurnFit {
  if (state.started === null || state.turn === null) return NO_FIT;
  const foldedSteps = messages.length > INFERENCE_LIMITS.maxMessages ? stepsToFold(state, messages.length) : 0;
  const laidOut = foldedSteps === 0 ? messages : answerMessages(state, { foldedSteps, cuts: [] });
  const cuts = resultCuts(state, laidOut, foldedSteps);
  return foldedSteps === 0 && cuts.length === 0 ? NO_FIT : { foldedSteps, cuts };
}

/**
 * The fewest oldest steps of the running turn whose folding brings `count`
 * messages within the limit; never the latest step, whose tool results
 * the model reads as the answers to its calls (at most 65 messages).
 */
function stepsToFold(state: AgentState, count: number): number {
  const current = state.turn?.number ?? 0;
  const sizes: number[] = [];
  for (const item of state.transcript) {
    if (item.turn !== current) continue;
    if (item.body.role === 'assistant') sizes.push(1);
    else if (item.body.role === 'tool' && sizes.length > 0) sizes[sizes.length - 1] = (sizes.at(-1) ?? 0) + 1;
  }
  let left = count + FOLD_MESSAGES;
  let steps = 0;
  while (steps < sizes.length - 1 && left > INFERENCE_LIMITS.maxMessages) left -= sizes[steps++] ?? 0;
  return steps;
}

/**
 * How to cut the running turn's tool results so that the answer request
 * `messages` (laid out with `foldedSteps` folded) fits one queued request
 * (bytes; characters per message for results that are messages of their
 * own) and the session's token budget, or [] when it fits already or has
 * too many messages anyway. The longest results are cut to one common
 * length (their JSON text, note included, within the room left), as
 * summaryMessages cuts lines. Tokens are counted on the JSON text too,
 * which is never shorter than the UTF-8 the estimate counts.
 */
function resultCuts(state: AgentState, messages: readonly ChatMessage[], foldedSteps: number): ResultCut[] {
  const started = state.started;
  const turn = state.turn;
  if (started === null || turn === null) return [];
  const tools = toolDefinitions(started.tools);
  if (messages.length > INFERENCE_LIMITS.maxMessages) return [];
  const tokens = estimateTokens(messages, tools);
  if (tokens <= started.tokenBudget && fitsInferenceRequest(messages, tools)) return [];
  const texts: string[] = [];
  let foldedResults = 0;
  let step = 0;
  for (const item of state.transcript) {
    if (item.turn !== turn.number) continue;
    if (item.body.role === 'assistant') step++;
    if (item.body.role !== 'tool') continue;
    texts.push(toolResultText(item.body.result));
    if (step <= foldedSteps) foldedResults++;
  }
  if (texts.length === 0) return [];
  let bytesRoom = MAX_CONVERSATION_BYTES - toolsBytes(tools);
  for (const m of messages) bytesRoom -= messageBytes(m);
  bytesRoom += texts.reduce((n, t) => n + jsonTextBytes(t), 0);
  // Each result's tokens as the estimate counts them; rounding (per result, per fold message) is kept in hand.
  const resultTokens = texts.reduce((n, t) => n + Math.ceil(Buffer.byteLength(t, 'utf8') / 4), 0);
  const tokensRoom = started.tokenBudget - (tokens - resultTokens) - 2 * texts.length - FOLD_MESSAGES;
  // A note is at most this long (the kept count has no more digits than the total).
  const noteOf = texts.map((t) => {
    const total = Buffer.byteLength(t, 'utf8');
    return cutNote(total, total);
  });
  // First, results that are messages of their own within the characters one message may hold (ASCII notes: a character is a byte).
  const kept = texts.map((t, i) => {
    const room = CHAT_LIMITS.maxMessageChars - (noteOf[i]?.length ?? 0);
    return i < foldedResults || t.length + (noteOf[i]?.length ?? 0) <= CHAT_LIMITS.maxMessageChars ? t : (chunks(t, Math.max(1, room))[0] ?? '');
  });
  const noteBytes = noteOf.map(jsonTextBytes);
  const costs = kept.map((k, i) => jsonTextBytes(k) + (k === texts[i] ? 0 : (noteBytes[i] ?? 0)));
  const cap = commonCap(costs, Math.min(bytesRoom, 4 * tokensRoom));
  const cuts: ResultCut[] = [];
  kept.forEach((k, i) => {
    const note = noteBytes[i] ?? 0;
    const within = (costs[i] ?? 0) <= cap ? k : jsonTextPrefix(k, Math.max(0, cap - note));
    // Never a note longer than what it replaces: a budget too small for the turn's other messages would swap short results for longer notes.
    const shorter = jsonTextBytes(within) + note < jsonTextBytes(texts[i] ?? '');
    if (within.length < (texts[i]?.length ?? 0) && shorter) cuts.push({ index: i, keptChars: within.length });
  });
  return cuts;
}

/**
 * The last finished turn not yet summarised, when the next answer call would
 * exceed the session's token budget; null when it fits or nothing can be
 * summarised (only whole earlier turns are, never the running one).
 * `messages`: the state's answerMessages, when the caller has them already.
 */
export function summariseThrough(state: AgentState, messages?: readonly ChatMessage[]): number | null {
  const started = state.started;
  const current = state.turn;
  if (started === null || current === null) return null;
  const through = current.status === 'running' ? current.number - 1 : current.number;
  if (through <= (state.summary?.throughTurn ?? 0)) return null;
  const answer = messages ?? answerMessages(state);
  const tools = toolDefinitions(started.tools);
  return estimateTokens(answer, tools) > started.tokenBudget || !fitsInferenceRequest(answer, tools) ? through : null;
}
