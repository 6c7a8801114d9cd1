/**
 * What the echo of the fast path's event publish costs, in isolation: a
 * document actor's write path (JetStream append, wait for the ack, publish
 * the event) with a room subscribed to the document's events in the same
 * process, `--edits` times at `--rate` edits/s over ten documents (each edit
 * its own timer, so each goes out in its own socket write, as in Loom), in
 * three ways:
 *
 * - `echo`: one connection does everything (before the event connection):
 *   nats-server sends every event back, and the room drops it by Loom-Source;
 * - `no-echo`: the event goes out on a second connection with noEcho, which
 *   the room subscribes with (src/host/local-actors.ts);
 * - `no-room`: one connection, no subscription at all (the floor);
 * - `republish`: the actor publishes nothing; the stream republishes each
 *   stored entry as the event (DOC_UPDATE_REPUBLISH), and the room gets that
 *   copy, as Loom's rooms beside their actor do;
 * - `republish-no-room`: the same with no room subscribed (a split actor host).
 *
 * Prints CPU-seconds of this process and of nats-server per 1,000 edits.
 * Run: node --import tsx load-tests/collab/echo-cost.ts [--edits N] [--rate R] [--rounds K]
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { HEADERS } from '../../protocol/headers.ts';
import { DOC_UPDATE_REPUBLISH } from '../../protocol/subjects.ts';
import { startNatsServer } from '../../src/testing/index.ts';
import { readProcess } from './proc-stats.ts';

type Mode = 'echo' | 'no-echo' | 'no-room' | 'republish' | 'republish-no-room';

const { values } = parseArgs({ options: { edits: { type: 'string', default: '5000' }, rate: { type: 'string', default: '500' }, rounds: { type: 'string', default: '2' } } });
const edits = Number(values.edits);
const rate = Number(values.rate);
const rounds = Number(values.rounds);
for (const [flag, v] of [['edits', edits], ['rate', rate], ['rounds', rounds]] as const) {
  if (!Number.isSafeInteger(v) || v <= 0) throw new Error(`--${flag} takes a positive integer`);
}
/** Ten documents: each edits every this many ms. */
const DOCS = 10;
const intervalMs = (DOCS * 1000) / rate;

/** CPU-seconds nats-server has used so far. */
function processCpuSeconds(pid: number): number {
  const figures = readProcess(pid);
  if (figures === null) throw new Error(`nats-server (pid ${pid}) is gone`);
  return figures.cpuSeconds;
}

async function runMode(url: string, serverPid: number, mode: Mode, round: number): Promise<{ node: number; server: number; dropped: number }> {
  const nc = await connect({ servers: url, noAsyncTraces: true });
  const events: NatsConnection = mode === 'no-echo' ? await connect({ servers: url, noEcho: true, noAsyncTraces: true }) : nc;
  const js = jetstream(nc);
  const republished = mode === 'republish' || mode === 'republish-no-room';
  const subject = `event.doc.d${round}${mode}.update`;
  const source = 'p-this-process';
  let dropped = 0;
  if (mode !== 'no-room' && mode !== 'republish-no-room') {
    events.subscribe(`event.doc.d${round}${mode}.*`, {
      callback: (_err, msg) => {
        if (msg.headers?.get(HEADERS.source) === source) dropped++;
      },
    });
    await events.flush();
  }
  const body = new Uint8Array(60).fill(7);
  const cpu0 = process.cpuUsage();
  const server0 = processCpuSeconds(serverPid);
  // Ten documents, as the small load's ten actors, each editing on its own timer.
  let next = 0;
  const actor = async () => {
    for (;;) {
      await sleep(intervalMs);
      if (next >= edits) return;
      next++;
      await js.publish(republished ? `log.doc.d${round}${mode}` : `log.bench.${round}`, body);
      if (republished) continue;
      const h = natsHeaders();
      h.set(HEADERS.seq, String(next));
      h.set(HEADERS.source, source);
      events.publish(subject, body, { headers: h });
    }
  };
  await Promise.all(Array.from({ length: DOCS }, actor));
  await events.flush();
  await nc.flush();
  const cpu = process.cpuUsage(cpu0);
  const server = processCpuSeconds(serverPid) - server0;
  if (events !== nc) await events.close();
  await nc.close();
  return { node: (cpu.user + cpu.system) / 1e6, server, dropped };
}

const nats = await startNatsServer();
try {
  const pid = nats.pid;
  if (pid === undefined) throw new Error('nats-server has no pid');
  const admin = await connect({ servers: nats.url });
  const jsm = await jetstreamManager(admin);
  await jsm.streams.add({ name: 'BENCH', subjects: ['log.bench.>'] });
  await jsm.streams.add({ name: 'BENCH_REPUBLISH', subjects: ['log.doc.*'], republish: { ...DOC_UPDATE_REPUBLISH } });
  for (let round = 0; round < rounds; round++) {
    for (const mode of ['echo', 'no-echo', 'no-room', 'republish', 'republish-no-room'] as const) {
      const r = await runMode(nats.url, pid, mode, round);
      const per = (s: number) => ((s * 1000) / edits).toFixed(4);
      console.log(JSON.stringify({ round, mode, edits, echoesDropped: r.dropped, nodeCpuSPer1000: per(r.node), natsServerCpuSPer1000: per(r.server) }));
    }
  }
  await admin.close();
} finally {
  await nats.dispose();
}
