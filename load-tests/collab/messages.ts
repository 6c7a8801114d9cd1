/**
 * The IPC contract between the orchestrator (run.ts) and its client workers
 * (client-worker.ts). Messages travel with `serialization: 'advanced'`, so
 * typed arrays arrive as typed arrays.
 *
 * Order: setup -> ready, start -> edited, report -> states (repeated until
 * converged or out of time), finish -> results, then the worker exits. A
 * ramp repeats start -> edited, report -> states, collect -> results (the
 * step's figures, then forgotten) before its finish.
 */
import type { Target } from './load-spec.ts';

/** One simulated editor: which document, and its index among that document's clients. */
export interface ClientAssignment {
  readonly docName: string;
  readonly clientIndex: number;
}

export type ToWorker =
  | {
      readonly type: 'setup';
      readonly target: Target;
      /**
       * ws://127.0.0.1:PORT/collab for Loom, ws://127.0.0.1:PORT for Hocuspocus; one per entry
       * point of the server (gateway, Hocuspocus process): client k of a document uses baseUrls[k % length].
       */
      readonly baseUrls: readonly string[];
      readonly clients: readonly ClientAssignment[];
      readonly syncTimeoutMs: number;
    }
  | {
      readonly type: 'start';
      /** Wall-clock ms (performance.timeOrigin + performance.now()) of the first possible edit. */
      readonly startAtMs: number;
      readonly rate: number;
      readonly durationMs: number;
    }
  | { readonly type: 'report' }
  | { readonly type: 'collect' }
  | { readonly type: 'finish' };

export interface ClientState {
  readonly docName: string;
  readonly clientIndex: number;
  /** base64 of Y.encodeStateVector: equal vectors mean equal content (every change came from a client). */
  readonly stateVector: string;
  /** Edits of all senders this client holds (sum of each sender's edit number + 1). */
  readonly edits: number;
}

export type FromWorker =
  | { readonly type: 'ready'; readonly synced: number; readonly connectMs: number }
  | {
      readonly type: 'edited';
      /** Edits this window planned and sent. */
      readonly planned: number;
      readonly sent: number;
      /** Edits sent per document since setup, every window together (what a converged client holds). */
      readonly sentByDoc: Readonly<Record<string, number>>;
    }
  | { readonly type: 'states'; readonly states: readonly ClientState[] }
  | {
      readonly type: 'results';
      /** Edit-to-remote-client latency of every remote edit observed, ms. */
      readonly latenciesMs: Float64Array;
      readonly deliveredInWindow: number;
      readonly deliveredTotal: number;
      /** Samples past the per-worker cap (not in latenciesMs). */
      readonly droppedSamples: number;
      /** Deliveries too far behind their sender's newest edit to carry a send time. */
      readonly unsampled: number;
      readonly eventLoopDelayP99Ms: number;
      readonly eventLoopDelayMaxMs: number;
      readonly disconnects: number;
    }
  | { readonly type: 'error'; readonly message: string };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/**
 * Checks the discriminant and the fields the receiver reads first; the rest is
 * trusted because both ends are this folder's own code in the same run.
 */
export function parseToWorker(value: unknown): ToWorker | null {
  if (!isRecord(value)) return null;
  switch (value.type) {
    case 'setup':
      return Array.isArray(value.clients) && Array.isArray(value.baseUrls) && value.baseUrls.length > 0 ? (value as unknown as ToWorker) : null;
    case 'start':
      return typeof value.startAtMs === 'number' && typeof value.rate === 'number' ? (value as unknown as ToWorker) : null;
    case 'report':
    case 'collect':
    case 'finish':
      return value as unknown as ToWorker;
    default:
      return null;
  }
}

export function parseFromWorker(value: unknown): FromWorker | null {
  if (!isRecord(value)) return null;
  switch (value.type) {
    case 'ready':
      return typeof value.synced === 'number' ? (value as unknown as FromWorker) : null;
    case 'edited':
      return typeof value.sent === 'number' && isRecord(value.sentByDoc) ? (value as unknown as FromWorker) : null;
    case 'states':
      return Array.isArray(value.states) ? (value as unknown as FromWorker) : null;
    case 'results':
      return value.latenciesMs instanceof Float64Array ? (value as unknown as FromWorker) : null;
    case 'error':
      return typeof value.message === 'string' ? (value as unknown as FromWorker) : null;
    default:
      return null;
  }
}
