/**
 * A user's agent sessions (export-sections.ts lists them), for the account
 * export (their views, transcript included, folded from each session's log
 * without activating it) and the account deletion (a running turn is
 * cancelled, then the session's log and projection row are deleted, as for
 * jobs).
 */
import { eq } from 'drizzle-orm';
import { agentSessionView, replayAgentSession, transcriptEntry, type AgentLog } from '../../actors/agent/index.ts';
import { parseActorId, type ActorId } from '../../protocol/ids.ts';
import { encodeJson } from '../../protocol/reply.ts';
import { agentSessions, type LoomDatabase } from '../storage/index.ts';
import { projectionSettled } from './projection-settled.ts';

/** The agent log (JetStreamAgentLog), read and purged. */
export type AgentSessionLog = AgentLog & { remove(id: string): Promise<number> };

/** The session's view as its owner reads it, with the whole transcript (a view carries only the newest part), or null when its log is gone. */
export async function agentSessionExport(log: AgentLog, id: string): Promise<unknown> {
  const state = await replayAgentSession(id, { log });
  return state.started === null ? null : { ...agentSessionView(state), transcript: state.transcript.map(transcriptEntry) };
}

/**
 * Cancels the session's turn if one runs, then deletes its log and projection row.
 * @throws what the actor, JetStream or the database throw.
 */
export async function removeAgentSession(
  deps: { db: LoomDatabase; log: AgentSessionLog; actors: { request(kind: 'agent', id: ActorId, command: string, body: Uint8Array): Promise<unknown> } },
  session: { id: string; status: string; by: string },
): Promise<number> {
  // Cancel is a no-op for an idle session, so only sessions that may be mid-turn are woken for it.
  if (session.status !== 'idle' && session.status !== 'failed') {
    await deps.actors.request('agent', parseActorId(session.id), 'cancel', encodeJson({ by: session.by, reason: 'account deleted' }));
    const status = async () => (await deps.db.select({ status: agentSessions.status }).from(agentSessions).where(eq(agentSessions.id, session.id)).limit(1))[0]?.status ?? null;
    await projectionSettled(`agent session ${session.id}`, status, (s) => s === 'idle' || s === 'failed');
  }
  const events = await deps.log.remove(session.id);
  await deps.db.delete(agentSessions).where(eq(agentSessions.id, session.id));
  return events;
}
