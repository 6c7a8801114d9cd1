/**
 * What the benchmark knows about each turn, stamped in the generator's one
 * clock (`performance.now()`): when the client sent the message and saw the
 * turn end (SSE), and when the fake model server and the tool service began
 * and finished each call. The fake model server, the tool service and the
 * clients live in the same process, so the stamps compare exactly.
 *
 * Loom's overhead in a step is the step's wall time minus the model call
 * and the tool calls (the slowest of a step's parallel calls):
 *   step k wall = start of model call k+1 - start of model call k
 *   (step 1 starts when the client sends the message; the last step ends
 *   when the client receives `turn-completed`).
 * Summed over a turn this is exactly "turn time minus model and tool time":
 * HTTP in, the turn's durable appends, queueing and dispatch of each model
 * call, delivering its result back, running and recording the tool calls,
 * and the final event's way out to the client.
 */

/** A call as the outside world (fake model server, tool service) saw it. */
export interface CallStamp {
  readonly step: number;
  readonly startedAt: number;
  endedAt: number | undefined;
}

export interface TurnRecord {
  readonly key: string;
  readonly sessionId: string;
  readonly turn: number;
  /** Counted in the figures (sent inside the measuring window). */
  readonly measured: boolean;
  readonly sentAt: number;
  /** When the client received `turn-completed`. */
  endedAt: number | undefined;
  status: string | undefined;
  readonly models: CallStamp[];
  readonly tools: CallStamp[];
}

export function turnKey(sessionId: string, turn: number): string {
  return `${sessionId}#${turn}`;
}

export class TurnLedger {
  private readonly turns = new Map<string, TurnRecord>();

  open(sessionId: string, turn: number, sentAt: number, measured: boolean): TurnRecord {
    const record: TurnRecord = { key: turnKey(sessionId, turn), sessionId, turn, measured, sentAt, endedAt: undefined, status: undefined, models: [], tools: [] };
    this.turns.set(record.key, record);
    return record;
  }

  get(key: string): TurnRecord | undefined {
    return this.turns.get(key);
  }

  all(): IterableIterator<TurnRecord> {
    return this.turns.values();
  }
}

/** Loom's overhead per step of one finished turn (ms), or null when a stamp is missing (failed turn). */
export function stepOverheadsMs(turn: TurnRecord, steps: number): number[] | null {
  if (turn.endedAt === undefined || turn.models.length !== steps) return null;
  const models = [...turn.models].sort((a, b) => a.step - b.step);
  const overheads: number[] = [];
  for (let i = 0; i < steps; i++) {
    const model = models[i];
    if (model === undefined || model.step !== i + 1 || model.endedAt === undefined) return null;
    const begin = i === 0 ? turn.sentAt : model.startedAt;
    const end = i === steps - 1 ? turn.endedAt : models[i + 1]?.startedAt;
    if (end === undefined) return null;
    let toolMs = 0;
    for (const tool of turn.tools) {
      if (tool.step !== i + 1) continue;
      if (tool.endedAt === undefined) return null;
      toolMs = Math.max(toolMs, tool.endedAt - tool.startedAt);
    }
    overheads.push(end - begin - (model.endedAt - model.startedAt) - toolMs);
  }
  return overheads;
}

/** Where a finished turn's overhead went, in the order it happens. */
export interface TurnSegmentsMs {
  /** Message sent, or the previous step's last tool reply -> the model server received the call. */
  readonly dispatch: number[];
  /** The model server finished -> the tool service received the step's first call. */
  readonly toTool: number[];
  /** The final model call finished -> the client received `turn-completed`. */
  readonly toClient: number;
}

/** The segments of a turn whose stamps are complete (stepOverheadsMs checks that first). */
export function turnSegmentsMs(turn: TurnRecord, steps: number): TurnSegmentsMs | null {
  if (stepOverheadsMs(turn, steps) === null || turn.endedAt === undefined) return null;
  const models = [...turn.models].sort((a, b) => a.step - b.step);
  const dispatch: number[] = [];
  const toTool: number[] = [];
  let ready = turn.sentAt;
  for (const model of models) {
    dispatch.push(model.startedAt - ready);
    const tools = turn.tools.filter((t) => t.step === model.step);
    if (tools.length === 0 || model.endedAt === undefined) continue;
    toTool.push(Math.min(...tools.map((t) => t.startedAt)) - model.endedAt);
    ready = Math.max(...tools.map((t) => t.endedAt ?? t.startedAt));
  }
  const last = models.at(-1)?.endedAt ?? turn.endedAt;
  return { dispatch, toTool, toClient: turn.endedAt - last };
}
