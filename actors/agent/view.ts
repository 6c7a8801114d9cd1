/**
 * Read models of a session's state: the AgentSessionView clients get
 * (`get`, GET /v1/agent-sessions/:id) and the row of the PostgreSQL
 * projection. Both are pure functions of the folded state.
 */
import { AGENT_LIMITS, type AgentSessionView, type AgentTurnView, type PendingApproval, type TranscriptEntry } from '../../protocol/agent.ts';
import type { AgentProjectionRecord } from './ports.ts';
import { needsHost, sessionStatus, turnIdOf, type AgentState, type TranscriptItem, type TurnState } from './state.ts';

const iso = (ms: number): string => new Date(ms).toISOString();

/** One transcript item as clients read it (the view carries the newest; an account export carries all). */
export function transcriptEntry(item: TranscriptItem): TranscriptEntry {
  return { ...item.body, seq: item.seq, at: iso(item.at), turnId: turnIdOf(item.turn) } as TranscriptEntry;
}

/** The newest entries whose JSON fits the view's byte budget (at least the last one). */
function newestEntries(items: readonly TranscriptItem[]): TranscriptEntry[] {
  const out: TranscriptEntry[] = [];
  let bytes = 0;
  for (let i = items.length - 1; i >= 0; i--) {
    const e = transcriptEntry(items[i] as TranscriptItem);
    bytes += Buffer.byteLength(JSON.stringify(e), 'utf8');
    if (bytes > AGENT_LIMITS.maxViewTranscriptBytes && out.length > 0) break;
    out.push(e);
  }
  return out.reverse();
}

function turnView(t: TurnState, waiting: boolean): AgentTurnView {
  return {
    id: t.id,
    status: t.status === 'running' && waiting ? 'waiting-approval' : t.status,
    steps: t.steps,
    startedAt: iso(t.startedAt),
    finishedAt: t.finishedAt === null ? null : iso(t.finishedAt),
    error: t.error,
  };
}

function pendingApprovals(t: TurnState | null): PendingApproval[] {
  if (t === null || t.status !== 'running') return [];
  return t.toolCalls
    .filter((c) => c.status === 'waiting-approval')
    .map((c) => ({ turnId: t.id, callId: c.id, name: c.name, arguments: c.arguments, requestedAt: iso(c.requestedAt ?? t.startedAt) }));
}

/**
 * The client's view of a session.
 * @throws Error when the session does not exist.
 */
export function agentSessionView(state: AgentState): AgentSessionView {
  const s = state.started;
  if (s === null) throw new Error(`agent session ${state.id} does not exist`);
  const status = sessionStatus(state);
  return {
    id: state.id,
    ownerId: s.ownerId,
    status,
    model: s.model,
    instructions: s.instructions,
    tools: s.tools.map((t) => ({ name: t.name, description: t.description, needsApproval: t.needsApproval, source: t.source })),
    docId: s.docId,
    maxSteps: s.maxSteps,
    tokenBudget: s.tokenBudget,
    transcript: newestEntries(state.transcript),
    transcriptTotal: state.transcriptTotal,
    currentTurn: state.turn === null ? null : turnView(state.turn, status === 'waiting-approval'),
    turns: state.turnCount,
    pendingApprovals: pendingApprovals(state.turn),
    usage: state.usage,
    createdAt: iso(state.createdAt),
    updatedAt: iso(state.updatedAt),
    lastSeq: state.lastSeq,
  };
}

/**
 * The session's projection row.
 * @throws Error when the session does not exist.
 */
export function projectionRecord(state: AgentState): AgentProjectionRecord {
  const s = state.started;
  if (s === null) throw new Error(`agent session ${state.id} does not exist`);
  return {
    id: state.id,
    ownerId: s.ownerId,
    status: sessionStatus(state),
    needsHost: needsHost(state),
    model: s.model,
    docId: s.docId,
    title: state.title,
    turns: state.turnCount,
    usage: state.usage,
    lastSeq: state.lastSeq,
    createdAt: new Date(state.createdAt),
    updatedAt: new Date(state.updatedAt),
  };
}
