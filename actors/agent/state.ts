/**
 * An agent session's state is the fold of its log: `evolve(state, event,
 * seq)` is pure, total over every event type, and the only way state
 * changes, in the actor and in replays alike. Only the current (or last)
 * turn is kept in detail; earlier turns live on in the transcript.
 */
import { AGENT_LIMITS, type AgentStatus, type AgentUsage } from '../../protocol/agent.ts';
import { NO_FIT, type TurnFit } from './answer-request.ts';
import type { AgentError, AgentEvent, AgentEventOf, AgentToolCall, AgentToolResult, ModelCallPurpose, TurnStatus } from '../../protocol/agent-events.ts';

/**
 * A tool call of the current step: `queued` until the engine looks at it,
 * then `waiting-approval`, `running` or straight to `completed` (unknown
 * tool, bad arguments). `rejected`: a person said no; the engine records
 * the rejection as the call's result next.
 */
export type ToolCallStatus = 'queued' | 'waiting-approval' | 'rejected' | 'running' | 'completed';

export interface ToolCallState {
  readonly id: string;
  readonly name: string;
  readonly arguments: string;
  readonly status: ToolCallStatus;
  /** null until a person decided (tools that need approval only). */
  readonly approved: boolean | null;
  readonly comment: string | null;
  readonly decidedBy: string | null;
  readonly requestedAt: number | null;
  readonly startedAt: number | null;
}

export interface ModelCallState {
  readonly requestId: string;
  readonly step: number;
  readonly purpose: ModelCallPurpose;
  readonly startedAt: number;
  readonly deadlineAt: number;
  /** How the request folded and cut the running turn (turnFit in answer-request.ts); NO_FIT when it did not. */
  readonly fit: TurnFit;
}

export interface TurnState {
  readonly id: string;
  /** 1 for the session's first turn. */
  readonly number: number;
  readonly content: string;
  readonly status: 'running' | TurnStatus;
  /** `answer` model calls started so far. */
  readonly steps: number;
  /** The model call in flight, if any. */
  readonly modelCall: ModelCallState | null;
  /** Tool calls of the latest answer, in the model's order. */
  readonly toolCalls: readonly ToolCallState[];
  readonly startedAt: number;
  readonly finishedAt: number | null;
  readonly error: AgentError | null;
}

export type TranscriptBody =
  | { readonly role: 'user'; readonly content: string }
  | { readonly role: 'assistant'; readonly step: number; readonly content: string; readonly toolCalls: readonly AgentToolCall[] }
  | { readonly role: 'tool'; readonly callId: string; readonly name: string; readonly result: AgentToolResult; readonly durationMs: number }
  | { readonly role: 'summary'; readonly throughTurnId: string; readonly content: string };

export interface TranscriptItem {
  readonly seq: number;
  readonly at: number;
  /** Number of the turn it belongs to. */
  readonly turn: number;
  readonly body: TranscriptBody;
  /** About the bytes of its JSON as a client reads it; never under half of them (see trimTranscript). */
  readonly bytes: number;
}

export interface SummaryState {
  /** Turns 1..throughTurn reach the model only through `content`. */
  readonly throughTurn: number;
  readonly content: string;
}

export interface AgentState {
  readonly id: string;
  /** Id of the last event folded in (0: empty log); its log entry is agentEntrySeqOf(lastSeq). */
  readonly lastSeq: number;
  /** The start event; null while the session does not exist. */
  readonly started: AgentEventOf<'session-started'> | null;
  /** The running or last turn. */
  readonly turn: TurnState | null;
  readonly turnCount: number;
  /** The newest entries: every one of turns not yet summarised, and of the others at least what a view shows (trimTranscript). */
  readonly transcript: readonly TranscriptItem[];
  /** Entries ever recorded, `transcript`'s and those trimmed from it. */
  readonly transcriptTotal: number;
  /** Sum of `bytes` over `transcript`. */
  readonly transcriptBytes: number;
  readonly summary: SummaryState | null;
  readonly usage: AgentUsage;
  readonly title: string | null;
  readonly createdAt: number;
  readonly updatedAt: number;
}

const TITLE_CHARS = 120;
const ENTRY_FIELDS_BYTES = 80;
/**
 * How much of the summarised part of the transcript a session keeps: twice
 * what a view shows, so that the view (measured exactly, with entries'
 * `bytes` being at most twice the exact size) never misses an entry.
 */
const KEPT_SUMMARISED_BYTES = 2 * AGENT_LIMITS.maxViewTranscriptBytes;

/**
 * Forgets the oldest entries that neither the model (their turns are
 * summarised) nor a view (older than the newest KEPT_SUMMARISED_BYTES)
 * will read again; the log keeps every one. Without it a session's memory
 * grew with everything ever said in it for as long as it stayed active.
 * Returns `state` itself when nothing can go.
 */
export function trimTranscript(state: AgentState): AgentState {
  const through = state.summary?.throughTurn ?? 0;
  let bytes = state.transcriptBytes;
  let drop = 0;
  for (const item of state.transcript) {
    if (item.turn > through || bytes - item.bytes < KEPT_SUMMARISED_BYTES) break;
    bytes -= item.bytes;
    drop++;
  }
  return drop === 0 ? state : { ...state, transcript: state.transcript.slice(drop), transcriptBytes: bytes };
}

export function emptyAgentState(id: string): AgentState {
  return {
    id,
    lastSeq: 0,
    started: null,
    turn: null,
    turnCount: 0,
    transcript: [],
    transcriptTotal: 0,
    transcriptBytes: 0,
    summary: null,
    usage: { calls: 0, promptTokens: 0, completionTokens: 0, costUsd: 0 },
    title: null,
    createdAt: 0,
    updatedAt: 0,
  };
}

/** `t<n>`: turn ids are short, ordered and unique within a session. */
export function turnIdOf(n: number): string {
  return `t${n}`;
}

export function turnNumberOf(turnId: string): number {
  const n = /^t(\d{1,9})$/.exec(turnId);
  if (n === null) throw new Error(`not a turn id: ${turnId}`);
  return Number(n[1]);
}

export function isTurnRunning(state: AgentState): boolean {
  return state.turn !== null && state.turn.status === 'running';
}

/** Running while the model or a tool works (or could start); waiting when only approvals hold the turn. */
export function sessionStatus(state: AgentState): AgentStatus {
  const t = state.turn;
  if (t === null) return 'idle';
  if (t.status === 'running') return turnWaitsForApproval(t) ? 'waiting-approval' : 'running';
  return t.status === 'failed' ? 'failed' : 'idle';
}

function turnWaitsForApproval(t: TurnState): boolean {
  if (t.modelCall !== null) return false;
  let waiting = false;
  for (const c of t.toolCalls) {
    if (c.status === 'waiting-approval') waiting = true;
    else if (c.status !== 'completed') return false;
  }
  return waiting;
}

/** Work is in flight (a model call or a tool): the session must stay live on a host. */
export function needsHost(state: AgentState): boolean {
  return sessionStatus(state) === 'running';
}

function requireTurn(state: AgentState, turnId: string, type: string): TurnState {
  const t = state.turn;
  if (t === null || t.id !== turnId) throw new Error(`agent session ${state.id}: ${type} for turn ${turnId}, which is not the current turn`);
  return t;
}

function withCall(t: TurnState, callId: string, type: string, patch: (c: ToolCallState) => ToolCallState): TurnState {
  let found = false;
  const toolCalls = t.toolCalls.map((c) => {
    if (c.id !== callId || found) return c;
    found = true;
    return patch(c);
  });
  if (!found) throw new Error(`${type} for tool call ${callId}, which turn ${t.id} never made`);
  return { ...t, toolCalls };
}

/** The recorded fit; NO_FIT itself when the call neither folded nor cut. */
function fitOf(event: AgentEventOf<'model-call-started'>): TurnFit {
  const foldedSteps = event.foldedSteps ?? 0;
  const cuts = event.cuts ?? [];
  return foldedSteps === 0 && cuts.length === 0 ? NO_FIT : { foldedSteps, cuts };
}

/**
 * Folds one event into the state.
 *
 * `opts.consume`: the caller never uses `state` again (a replay folding a
 * whole log), so the transcript is appended to in place. Copying it for
 * every event made a replay quadratic in the session's length: 10,000 turns
 * took 4.5 s and 40,000 took 86 s of an actor host's event loop, at every
 * activation.
 * @throws Error when the event contradicts the state (a log this fold's rules did not write).
 */
export function evolve(state: AgentState, event: AgentEvent, seq: number, opts?: { readonly consume: boolean }): AgentState {
  const at = event.at;
  const next = (patch: Partial<AgentState>): AgentState => ({ ...state, ...patch, lastSeq: seq, updatedAt: at });
  const note = (turn: number, body: TranscriptBody): Pick<AgentState, 'transcript' | 'transcriptTotal' | 'transcriptBytes'> => {
    // The entry's other fields (seq, at as ISO text, turnId) take about this many bytes of JSON.
    const item = { seq, at, turn, body, bytes: Buffer.byteLength(JSON.stringify(body), 'utf8') + ENTRY_FIELDS_BYTES };
    let transcript = state.transcript;
    if (opts?.consume === true) (transcript as TranscriptItem[]).push(item);
    else transcript = [...transcript, item];
    return { transcript, transcriptTotal: state.transcriptTotal + 1, transcriptBytes: state.transcriptBytes + item.bytes };
  };
  switch (event.type) {
    case 'session-started':
      if (state.started !== null) throw new Error(`agent session ${state.id} started twice`);
      return next({ started: event, createdAt: at });
    case 'turn-started': {
      if (state.started === null) throw new Error(`agent session ${state.id}: turn before start`);
      if (isTurnRunning(state)) throw new Error(`agent session ${state.id}: turn ${event.turnId} started while ${state.turn?.id} runs`);
      const number = state.turnCount + 1;
      const turn: TurnState = { id: event.turnId, number, content: event.content, status: 'running', steps: 0, modelCall: null, toolCalls: [], startedAt: at, finishedAt: null, error: null };
      return next({ turn, turnCount: number, ...note(number, { role: 'user', content: event.content }), title: state.title ?? event.content.slice(0, TITLE_CHARS) });
    }
    case 'model-call-started': {
      const t = requireTurn(state, event.turnId, event.type);
      const modelCall: ModelCallState = { requestId: event.requestId, step: event.step, purpose: event.purpose, startedAt: at, deadlineAt: event.deadlineAt, fit: fitOf(event) };
      const turn = event.purpose === 'answer' ? { ...t, modelCall, steps: event.step, toolCalls: [] } : { ...t, modelCall };
      return next({ turn });
    }
    case 'model-call-completed': {
      const t = requireTurn(state, event.turnId, event.type);
      const u = state.usage;
      const usage: AgentUsage = {
        calls: u.calls + 1,
        promptTokens: u.promptTokens + event.usage.promptTokens,
        completionTokens: u.completionTokens + event.usage.completionTokens,
        costUsd: Math.round((u.costUsd + event.usage.costUsd) * 1e9) / 1e9,
      };
      if (event.purpose === 'summary') return next({ turn: { ...t, modelCall: null }, usage });
      const toolCalls = event.toolCalls.map(
        (c): ToolCallState => ({ id: c.id, name: c.name, arguments: c.arguments, status: 'queued', approved: null, comment: null, decidedBy: null, requestedAt: null, startedAt: null }),
      );
      return next({
        turn: { ...t, modelCall: null, toolCalls },
        usage,
        ...note(t.number, { role: 'assistant', step: event.step, content: event.content, toolCalls: event.toolCalls }),
      });
    }
    case 'model-call-failed': {
      const t = requireTurn(state, event.turnId, event.type);
      return next({ turn: { ...t, modelCall: null } });
    }
    case 'approval-requested': {
      const t = requireTurn(state, event.turnId, event.type);
      return next({ turn: withCall(t, event.callId, event.type, (c) => ({ ...c, status: 'waiting-approval', requestedAt: at })) });
    }
    case 'approval-decided': {
      const t = requireTurn(state, event.turnId, event.type);
      const turn = withCall(t, event.callId, event.type, (c) => ({
        ...c,
        status: event.approved ? 'queued' : 'rejected',
        approved: event.approved,
        comment: event.comment,
        decidedBy: event.by,
      }));
      return next({ turn });
    }
    case 'tool-call-started': {
      const t = requireTurn(state, event.turnId, event.type);
      return next({ turn: withCall(t, event.callId, event.type, (c) => ({ ...c, status: 'running', startedAt: at })) });
    }
    case 'tool-call-completed': {
      const t = requireTurn(state, event.turnId, event.type);
      const turn = withCall(t, event.callId, event.type, (c) => ({ ...c, status: 'completed' }));
      return next({ turn, ...note(t.number, { role: 'tool', callId: event.callId, name: event.name, result: event.result, durationMs: event.durationMs }) });
    }
    case 'summary-recorded': {
      const t = requireTurn(state, event.turnId, event.type);
      return next({
        summary: { throughTurn: turnNumberOf(event.throughTurnId), content: event.content },
        ...note(t.number, { role: 'summary', throughTurnId: event.throughTurnId, content: event.content }),
      });
    }
    case 'turn-completed': {
      const t = requireTurn(state, event.turnId, event.type);
      return next({ turn: { ...t, status: event.status, modelCall: null, finishedAt: at, error: event.error } });
    }
    default: {
      const never: never = event;
      throw new Error(`unhandled agent event ${JSON.stringify(never)}`);
    }
  }
}
