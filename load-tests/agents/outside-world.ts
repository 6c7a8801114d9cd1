/**
 * The outside world of the agent benchmark, in the generator process so its
 * stamps share the clients' clock (turn-ledger.ts):
 * - the fake model server's answers: each turn's first `toolSteps` model
 *   calls ask for `callsPerStep` calls of the benchmark tool, the next one
 *   answers in unique tokens; every call is held `latencyMs` before it is
 *   answered, and the tokens are written as the hold ends (the stamp);
 * - the tool: a NATS micro-service endpoint (@nats-io/services, the
 *   documented metadata) that answers at once and stamps each call.
 * Turns are found by the marker in the user's message (`messageFor`).
 */
import { Svcm, type Service } from '@nats-io/services';
import type { NatsConnection } from '@nats-io/transport-node';
import { SERVICE_TOOL_METADATA } from '../../protocol/agent-tools.ts';
import type { FakeAnswer, FakeChatRequest } from '../../src/testing/index.ts';
import { turnKey, type TurnLedger } from './turn-ledger.ts';

export const BENCH_TOOL = 'bench_lookup';

const MARKER = /^bench (\S+) turn (\d+):/;

/** The user message of a turn; the model server and the tool find the turn by it. */
export function messageFor(sessionId: string, turn: number): string {
  return `bench ${sessionId} turn ${turn}: look it up`;
}

interface ToolArguments {
  readonly session: string;
  readonly turn: number;
  readonly step: number;
  readonly call: number;
}

export interface BenchModelOptions {
  readonly ledger: TurnLedger;
  readonly toolSteps: number;
  readonly callsPerStep: number;
  readonly latencyMs: number;
  readonly answerTokens: number;
}

/** Answers of the fake model server, and when each answer token was written. */
export class BenchModel {
  /** Token text -> (turn, when it was written). Tokens are unique in a run. */
  readonly tokens = new Map<string, { readonly key: string; readonly sentAt: number }>();
  /** Calls that named no benchmark turn (a summary call, say). */
  unmatchedCalls = 0;
  private tokenCounter = 0;

  constructor(private readonly opts: BenchModelOptions) {}

  /** For `startFakeModelServer({ respond })`, with `firstTokenDelayMs` 0: the hold happens here. */
  readonly respond = async (request: FakeChatRequest): Promise<FakeAnswer> => {
    const startedAt = performance.now();
    const lastUser = request.messages.findLastIndex((m) => m.role === 'user');
    const marker = MARKER.exec(request.messages[lastUser]?.content ?? '');
    const turn = marker === null ? undefined : this.opts.ledger.get(turnKey(marker[1] ?? '', Number(marker[2])));
    const step = request.messages.slice(lastUser).filter((m) => m.role === 'assistant').length + 1;
    const stamp = { step, startedAt, endedAt: undefined as number | undefined };
    if (turn === undefined) this.unmatchedCalls += 1;
    else turn.models.push(stamp);
    await new Promise((resolve) => setTimeout(resolve, this.opts.latencyMs));
    // The fake writes the answer in the same task as this promise settles (firstTokenDelayMs 0).
    stamp.endedAt = performance.now();
    if (turn === undefined) return 'ok';
    if (step <= this.opts.toolSteps) {
      return {
        toolCalls: Array.from({ length: this.opts.callsPerStep }, (_, call) => ({
          name: BENCH_TOOL,
          arguments: { session: turn.sessionId, turn: turn.turn, step, call } satisfies ToolArguments,
        })),
      };
    }
    let answer = '';
    for (let i = 0; i < this.opts.answerTokens; i++) {
      const token = `k${++this.tokenCounter}`;
      this.tokens.set(token, { key: turn.key, sentAt: stamp.endedAt });
      answer += `${token} `;
    }
    return answer;
  };
}

/** The tool service: answers every call at once, stamping it on the turn's record. */
export async function startBenchToolService(nc: NatsConnection, ledger: TurnLedger): Promise<Service> {
  const service = await new Svcm(nc).add({ name: 'bench-tools', version: '1.0.0' });
  service.addEndpoint(BENCH_TOOL, {
    metadata: {
      [SERVICE_TOOL_METADATA.name]: BENCH_TOOL,
      [SERVICE_TOOL_METADATA.description]: 'Looks something up (benchmark)',
      [SERVICE_TOOL_METADATA.schema]: JSON.stringify({
        type: 'object',
        properties: { session: { type: 'string' }, turn: { type: 'integer' }, step: { type: 'integer' }, call: { type: 'integer' } },
        required: ['session', 'turn', 'step', 'call'],
      }),
    },
    handler: (err, msg) => {
      if (err !== null) return;
      const startedAt = performance.now();
      const args = msg.json<ToolArguments>();
      msg.respond(JSON.stringify({ found: `${args.session} ${args.turn}.${args.step}.${args.call}` }));
      ledger.get(turnKey(args.session, args.turn))?.tools.push({ step: args.step, startedAt, endedAt: performance.now() });
    },
  });
  return service;
}
