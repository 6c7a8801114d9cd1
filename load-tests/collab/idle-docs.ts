/**
 * Memory at idle (issue 10): what Loom holds when nothing happens, and what
 * each open, idle document costs an actor host.
 *
 *   node --import tsx load-tests/collab/idle-docs.ts [--docs 10000] [--concurrency 64] [--settle-s 10]
 *     [--skip-embedded] [--skip-docs]
 *
 * 1. `embedded`: `node dist/main.js` as `npm start` runs it (its
 *    default roles, its own nats-server child and PGlite in a fresh data folder),
 *    ready on /readyz, then idle for --settle-s; resident set of node and of
 *    its nats-server, and node's heap from its own /metrics.
 * 2. `external`: the same process with DATABASE_URL and NATS_URL (the test
 *    harness's PostgreSQL and nats-server): a deployment's Loom, no PGlite.
 * 3. `docs`: one actor host (role `actors`, documents never passivate within
 *    the run) on the harness's nats-server and PostgreSQL. The script opens
 *    --docs documents as an internal service would, over NATS: one small
 *    `update` and one `sync` each (the first command activates the actor),
 *    --concurrency at a time, then waits --settle-s and prints the resident
 *    set, heap and nats-server deltas per document, and the CPU the host and
 *    the nats-server spend per second while the documents sit idle (the host's
 *    liveness refresh, idle checks), before and after opening them.
 *
 * Prints one JSON line per part. Loopback only; everything started is
 * stopped at the end (or by the watchdog after --timeout-s).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { connect } from '@nats-io/transport-node';
import { pino } from 'pino';
import * as Y from 'yjs';
import { parseActorId } from '../../protocol/ids.ts';
import { ActorClient } from '../../src/placement/actor-client.ts';
import { startNatsServer, startPostgresServer } from '../../src/testing/index.ts';
import { startBenchCluster } from '../bench-cluster.ts';
import { intFlag, printLine, runBenchmark, type StopList } from '../benchmark-main.ts';
import { readProcess } from './proc-stats.ts';
import { startServer } from './server-process.ts';

interface Options {
  readonly docs: number;
  readonly concurrency: number;
  readonly settleS: number;
  readonly embedded: boolean;
  readonly external: boolean;
  readonly openDocs: boolean;
  readonly timeoutS: number;
}

function parse(): Options {
  const { values } = parseArgs({
    options: {
      docs: { type: 'string', default: '10000' },
      concurrency: { type: 'string', default: '64' },
      'settle-s': { type: 'string', default: '10' },
      'skip-embedded': { type: 'boolean', default: false },
      'skip-external': { type: 'boolean', default: false },
      'skip-docs': { type: 'boolean', default: false },
      'timeout-s': { type: 'string', default: '1800' },
    },
    strict: true,
  });
  return {
    docs: intFlag(values, 'docs', 1, 200_000),
    concurrency: intFlag(values, 'concurrency', 1, 1_000),
    settleS: intFlag(values, 'settle-s', 0, 600),
    embedded: values['skip-embedded'] !== true,
    external: values['skip-external'] !== true,
    openDocs: values['skip-docs'] !== true,
    timeoutS: intFlag(values, 'timeout-s', 10, 7_200),
  };
}

const mb = (kb: number): number => Math.round(kb / 102.4) / 10;
const sleep = (ms: number): Promise<void> => new Promise((wake) => setTimeout(wake, ms));

/** Resident set (kB) of a process now; 0 when it is gone. */
const rssKb = (pid: number | undefined): number => (pid === undefined ? 0 : (readProcess(pid)?.rssKb ?? 0));

/** CPU-seconds a process spends per wall second over `ms` of waiting (NaN when it is gone). */
async function idleCpuPerS(pids: readonly (number | undefined)[], ms: number): Promise<number[]> {
  const cpu = (): number[] => pids.map((pid) => (pid === undefined ? Number.NaN : (readProcess(pid)?.cpuSeconds ?? Number.NaN)));
  const start = cpu();
  const startedAt = performance.now();
  await sleep(ms);
  const wallS = (performance.now() - startedAt) / 1000;
  return cpu().map((end, i) => Math.round(((end - (start[i] ?? Number.NaN)) / wallS) * 1000) / 1000);
}

/** Direct children of a process (the embedded nats-server; tsx's esbuild service when run from sources). */
function childrenOf(pid: number): { pid: number; name: string; rssKb: number }[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter((t) => t !== '').map(Number),
    ).flatMap((child) => {
      const figures = readProcess(child);
      return figures === null ? [] : [{ pid: child, name: figures.name, rssKb: figures.rssKb }];
    });
  } catch (err) {
    process.stderr.write(`idle-docs: cannot list children of ${pid}: ${(err as Error).message}\n`);
    return [];
  }
}

/** Node's own view of its memory, from the process's Prometheus endpoint (no forced GC). */
async function heapFigures(httpUrl: string): Promise<{ heapUsedMb: number; heapTotalMb: number; externalMb: number } | null> {
  try {
    const response = await fetch(`${httpUrl}/metrics`, { signal: AbortSignal.timeout(10_000) });
    const text = await response.text();
    const read = (name: string): number => {
      const match = new RegExp(`^loom_${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
      return match?.[1] === undefined ? Number.NaN : Math.round(Number(match[1]) / 104857.6) / 10;
    };
    return { heapUsedMb: read('nodejs_heap_size_used_bytes'), heapTotalMb: read('nodejs_heap_size_total_bytes'), externalMb: read('nodejs_external_memory_bytes') };
  } catch (err) {
    process.stderr.write(`idle-docs: ${httpUrl}/metrics unreadable: ${(err as Error).message}\n`);
    return null;
  }
}

/** Loom as `npm start` runs it (every role), idle: its RSS, its children's, and its heap. */
async function idleProcess(
  part: 'embedded' | 'external',
  opts: Options,
  servers: { natsUrl: string; databaseUrl: string } | undefined,
): Promise<void> {
  const started = Date.now();
  // A fresh data folder (PGlite's initdb included) takes a while on a busy machine: 5 min to get ready.
  const loom = await startServer('loom', 300_000, 3, servers === undefined ? {} : { NATS_URL: servers.natsUrl, DATABASE_URL: servers.databaseUrl });
  try {
    const readyS = (Date.now() - started) / 1000;
    await sleep(opts.settleS * 1000);
    const children = childrenOf(loom.pid).filter((c) => c.name !== 'esbuild');
    const nodeKb = rssKb(loom.pid);
    const childKb = children.reduce((sum, c) => sum + c.rssKb, 0);
    printLine({
      part,
      readyS: Math.round(readyS * 10) / 10,
      settleS: opts.settleS,
      nodeRssMb: mb(nodeKb),
      childrenRssMb: Object.fromEntries(children.map((c) => [`${c.name}(${c.pid})`, mb(c.rssKb)])),
      totalRssMb: mb(nodeKb + childKb),
      heap: await heapFigures(`http://127.0.0.1:${loom.port}`),
      loadavg1: Math.round((loadavg()[0] ?? 0) * 100) / 100,
    });
  } finally {
    await loom.stop(10_000);
  }
}

/** Opens `docs` documents on one actor host and prints what each costs at idle. */
async function idleDocuments(opts: Options, stops: StopList): Promise<void> {
  const cluster = await startBenchCluster({
    name: 'idle-docs',
    model: {},
    workerConcurrency: 1,
    // Nothing passivates within the run; one process's mailbox limits are not what this measures.
    env: { LOOM_ACTOR_IDLE_MS: '86400000' },
  }, stops);
  const host = await cluster.spawn('actors-1', ['actors']);
  const nc = await connect({ servers: cluster.nats.url });
  stops.unshift(() => nc.close());
  const client = new ActorClient(nc, { requestTimeoutMs: 10_000, deadlineMs: 60_000, log: pino({ level: 'silent' }) });
  const runId = Math.random().toString(36).slice(2, 8);
  // One small edit per document: a realistic, non-empty document of a few Yjs items.
  const updateFor = (i: number): Uint8Array => {
    const doc = new Y.Doc();
    doc.getText('body').insert(0, `idle document ${i}`);
    const update = Y.encodeStateAsUpdate(doc);
    doc.destroy();
    return update;
  };
  const pids = [host.pid, cluster.nats.pid];
  const [hostIdleBefore = Number.NaN, natsIdleBefore = Number.NaN] = await idleCpuPerS(pids, opts.settleS * 1000);
  const before = { rssKb: rssKb(host.pid), natsKb: rssKb(cluster.nats.pid), heap: await heapFigures(host.httpUrl) };
  const started = Date.now();
  let next = 0;
  let failed = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next;
      next += 1;
      if (i >= opts.docs) return;
      const id = parseActorId(`idle-${runId}-${i}`);
      try {
        await client.request('doc', id, 'update', updateFor(i));
        await client.request('doc', id, 'sync', new Uint8Array(0));
      } catch (err) {
        failed += 1;
        if (failed <= 5) process.stderr.write(`idle-docs: document ${i} failed: ${(err as Error).message}\n`);
      }
      if ((i + 1) % 1000 === 0) process.stderr.write(`idle-docs: ${i + 1} documents opened, host RSS ${mb(rssKb(host.pid))} MB\n`);
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, () => worker()));
  const openS = (Date.now() - started) / 1000;
  const [hostIdleAfter = Number.NaN, natsIdleAfter = Number.NaN] = await idleCpuPerS(pids, opts.settleS * 1000);
  const after = { rssKb: rssKb(host.pid), natsKb: rssKb(cluster.nats.pid), heap: await heapFigures(host.httpUrl) };
  const opened = opts.docs - failed;
  const perDocKb = (a: number, b: number): number | null => (opened === 0 ? null : Math.round(((a - b) / opened) * 100) / 100);
  const mbToKb = 1024;
  printLine({
    part: 'docs',
    docs: opts.docs,
    failed,
    openS: Math.round(openS * 10) / 10,
    docsPerS: Math.round(opened / openS),
    actorHost: { rssBeforeMb: mb(before.rssKb), rssAfterMb: mb(after.rssKb), rssPerDocKb: perDocKb(after.rssKb, before.rssKb) },
    heap: before.heap !== null && after.heap !== null ? {
      usedBeforeMb: before.heap.heapUsedMb,
      usedAfterMb: after.heap.heapUsedMb,
      usedPerDocKb: perDocKb(after.heap.heapUsedMb * mbToKb, before.heap.heapUsedMb * mbToKb),
      externalPerDocKb: perDocKb(after.heap.externalMb * mbToKb, before.heap.externalMb * mbToKb),
    } : null,
    natsServer: { rssBeforeMb: mb(before.natsKb), rssAfterMb: mb(after.natsKb), rssPerDocKb: perDocKb(after.natsKb, before.natsKb) },
    // CPU-seconds per second at idle, and what 1,000 open documents add to it.
    idleCpu: {
      hostBefore: hostIdleBefore,
      hostAfter: hostIdleAfter,
      hostPer1000Docs: opened === 0 ? null : Math.round(((hostIdleAfter - hostIdleBefore) / opened) * 1_000_000) / 1000,
      natsBefore: natsIdleBefore,
      natsAfter: natsIdleAfter,
      natsPer1000Docs: opened === 0 ? null : Math.round(((natsIdleAfter - natsIdleBefore) / opened) * 1_000_000) / 1000,
    },
    loadavg1: Math.round((loadavg()[0] ?? 0) * 100) / 100,
  });
}

runBenchmark('idle-docs', parse, async (opts, stops) => {
  if (opts.embedded) await idleProcess('embedded', opts, undefined);
  if (opts.external) {
    const [nats, postgres] = await Promise.all([startNatsServer(), startPostgresServer()]);
    stops.push(() => nats.dispose(), () => postgres.dispose());
    await idleProcess('external', opts, { natsUrl: nats.url, databaseUrl: await postgres.createDatabase() });
  }
  if (opts.openDocs) await idleDocuments(opts, stops);
  return 0;
});
