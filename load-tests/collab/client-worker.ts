/**
 * A client worker process: hosts a share of the simulated editors, edits at
 * the given rate, and records edit-to-remote-client latency.
 *
 * Each edit overwrites the editor's own key of the document's Y.Map `edits`
 * with its edit number and recent send times (see edit-stamps.ts). Every
 * other client observes the map and, for a remote transaction, records
 * latency = receive time - send time for each edit newly delivered.
 *
 * Started by run.ts with `fork`; driven only over IPC. It exits by itself when
 * the parent goes away or stays silent past idleExitMs.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import * as Y from 'yjs';
import { openCollabClient, type CollabClient } from './collab-client.ts';
import { editsHeld, nextStamps, readStamps } from './edit-stamps.ts';
import { parseToWorker, type ClientAssignment, type ClientState, type FromWorker, type ToWorker } from './messages.ts';
import { SampleBuffer } from './percentiles.ts';

const idleExitMs = 180_000;
const connectBatch = 50;
const maxSamplesPerWorker = 4_000_000;

interface Editor {
  readonly assignment: ClientAssignment;
  readonly client: CollabClient;
  readonly edits: Y.Map<number[]>;
  /** Per sender (client index as the map key): the edit number last seen. */
  readonly lastSeen: Map<string, number>;
  sent: number;
  timer: NodeJS.Timeout | undefined;
}

const nowMs = (): number => performance.timeOrigin + performance.now();

const editors: Editor[] = [];
const samples = new SampleBuffer(maxSamplesPerWorker);
let windowEndMs = Number.POSITIVE_INFINITY;
let deliveredInWindow = 0;
let deliveredTotal = 0;
let unsampled = 0;
const loopDelayResolutionMs = 10;
const loopDelay = monitorEventLoopDelay({ resolution: loopDelayResolutionMs });
/** The histogram records the sampling timer's whole period; report only the excess. */
const excessMs = (ns: number): number => Math.max(0, ns / 1e6 - loopDelayResolutionMs);

function send(message: FromWorker, then?: () => void): void {
  if (process.send === undefined) return;
  process.send(message, undefined, {}, (err) => {
    // A failed send means the orchestrator is gone; the disconnect handler cleans up.
    if (err !== null) process.stderr.write(`collab worker: send failed: ${err.message}\n`);
    then?.();
  });
}

function onRemoteEdits(editor: Editor, event: Y.YMapEvent<number[]>, local: boolean): void {
  if (local) return;
  const now = nowMs();
  for (const key of event.keysChanged) {
    const delivered = readStamps(editor.edits.get(key), editor.lastSeen.get(key) ?? -1);
    if (delivered === null) continue;
    const count = delivered.sentAtMs.length + delivered.unsampled;
    editor.lastSeen.set(key, delivered.n);
    for (const sentAt of delivered.sentAtMs) samples.push(now - sentAt);
    unsampled += delivered.unsampled;
    deliveredTotal += count;
    if (now <= windowEndMs) deliveredInWindow += count;
  }
}

async function setup(message: Extract<ToWorker, { type: 'setup' }>): Promise<void> {
  const began = nowMs();
  for (let i = 0; i < message.clients.length; i += connectBatch) {
    const batch = message.clients.slice(i, i + connectBatch).map((assignment) => {
      const baseUrl = message.baseUrls[assignment.clientIndex % message.baseUrls.length] ?? '';
      const client = openCollabClient(message.target, baseUrl, assignment.docName);
      const edits = client.doc.getMap<number[]>('edits');
      const editor: Editor = { assignment, client, edits, lastSeen: new Map(), sent: 0, timer: undefined };
      edits.observe((event, transaction) => onRemoteEdits(editor, event, transaction.local));
      editors.push(editor);
      return editor;
    });
    await Promise.all(batch.map((editor) => editor.client.whenSynced(message.syncTimeoutMs)));
  }
  send({ type: 'ready', synced: editors.length, connectMs: nowMs() - began });
}

/**
 * Schedules each editor's edits at start + jitter + k / rate, so a late timer
 * catches up instead of silently lowering the offered rate; nothing is sent
 * after the window closes (the shortfall shows as sent < planned).
 */
function start(message: Extract<ToWorker, { type: 'start' }>): void {
  const periodMs = 1000 / message.rate;
  const endMs = message.startAtMs + message.durationMs;
  windowEndMs = endMs;
  let planned = 0;
  let running = editors.length;
  const sentBefore = editors.map((editor) => editor.sent);
  loopDelay.enable();
  const finishOne = (): void => {
    running -= 1;
    if (running > 0) return;
    loopDelay.disable();
    const sentByDoc: Record<string, number> = {};
    let sent = 0;
    for (const [i, editor] of editors.entries()) {
      sentByDoc[editor.assignment.docName] = (sentByDoc[editor.assignment.docName] ?? 0) + editor.sent;
      sent += editor.sent - (sentBefore[i] ?? 0);
    }
    send({ type: 'edited', planned, sent, sentByDoc });
  };
  for (const editor of editors) {
    const firstMs = message.startAtMs + Math.random() * periodMs;
    const base = editor.sent;
    planned += Math.max(0, Math.ceil((endMs - firstMs) / periodMs));
    const tick = (): void => {
      const now = nowMs();
      if (now >= endMs) {
        editor.timer = undefined;
        finishOne();
        return;
      }
      const key = String(editor.assignment.clientIndex);
      editor.edits.set(key, nextStamps(editor.edits.get(key), editor.sent, nowMs()));
      editor.sent += 1;
      const nextMs = firstMs + (editor.sent - base) * periodMs;
      editor.timer = setTimeout(tick, Math.max(0, nextMs - nowMs()));
    };
    editor.timer = setTimeout(tick, Math.max(0, firstMs - nowMs()));
  }
  if (editors.length === 0) finishOne();
}

function report(): void {
  const states: ClientState[] = editors.map((editor) => ({
    docName: editor.assignment.docName,
    clientIndex: editor.assignment.clientIndex,
    stateVector: Buffer.from(Y.encodeStateVector(editor.client.doc)).toString('base64'),
    edits: [...editor.edits.values()].reduce((total, value) => total + editsHeld(value), 0),
  }));
  send({ type: 'states', states });
}

/** Stops editing, destroys every client, and closes the IPC channel so the process can exit. */
function teardown(): void {
  loopDelay.disable();
  clearTimeout(idleTimer);
  for (const editor of editors) {
    if (editor.timer !== undefined) clearTimeout(editor.timer);
    editor.client.destroy();
  }
  editors.length = 0;
  if (process.connected) process.disconnect();
}

/** The figures gathered since setup or the last collect; `then` runs once they are sent. */
function sendResults(then?: () => void): void {
  const disconnects = editors.reduce((sum, editor) => sum + editor.client.disconnects(), 0);
  send({
    type: 'results',
    latenciesMs: samples.toArray(),
    deliveredInWindow,
    deliveredTotal,
    droppedSamples: samples.dropped,
    unsampled,
    eventLoopDelayP99Ms: loopDelay.count > 0 ? excessMs(loopDelay.percentile(99)) : 0,
    eventLoopDelayMaxMs: loopDelay.count > 0 ? excessMs(loopDelay.max) : 0,
    disconnects,
  }, then);
}

/** A ramp step's figures, then a clean slate for the next step (clients stay connected). */
function collect(): void {
  sendResults();
  samples.clear();
  deliveredInWindow = 0;
  deliveredTotal = 0;
  unsampled = 0;
  loopDelay.reset();
}

function finish(): void {
  sendResults(teardown);
}

let idleTimer = setTimeout(teardown, idleExitMs);

// y-websocket adds one process 'exit' listener per provider in Node; hundreds
// of providers per worker are intended here, not a leak.
process.setMaxListeners(0);

// The orchestrator is gone (or closed the channel to stop us): nobody will read our figures.
process.on('disconnect', teardown);

process.on('message', (raw: unknown) => {
  clearTimeout(idleTimer);
  idleTimer = setTimeout(teardown, idleExitMs);
  const message = parseToWorker(raw);
  if (message === null) {
    send({ type: 'error', message: `worker got a malformed message` });
    return;
  }
  switch (message.type) {
    case 'setup':
      setup(message).catch((err: unknown) => send({ type: 'error', message: err instanceof Error ? err.message : String(err) }));
      break;
    case 'start':
      start(message);
      break;
    case 'report':
      report();
      break;
    case 'collect':
      collect();
      break;
    case 'finish':
      finish();
      break;
    default: {
      const never: never = message;
      send({ type: 'error', message: `unknown message ${JSON.stringify(never)}` });
    }
  }
});
