/**
 * Webhook fan-out benchmark: N events to E endpoints through the real path
 * (JetStream stream -> dispatcher intake -> PostgreSQL deliveries ->
 * senders -> HTTP receivers). Each endpoint is its own HTTP server on
 * loopback answering after --receiver-ms; --fail-pct of events fail their
 * first attempt with 500 and succeed on the retry. Events are published at
 * --rate per second, each owned by one endpoint's user, in --keys order keys.
 * Prints one JSON summary: deliveries/s, event-to-delivery latency p50/p99
 * (publish to the receiver's first 2xx, for events that did not fail and for
 * all), retries, duplicates, lost events and the CPU seconds of each process.
 *
 * The dispatcher is a Loom process of its own (`dist/main.js` with the
 * `webhooks` role, as deployed); the publisher and the receivers run in this
 * process, so publish and receive times share one clock and the figures
 * measure Loom rather than the load generator sharing its event loop.
 *
 *   node --import tsx load-tests/webhooks/run.ts [--events 10000] [--endpoints 100]
 *     [--receiver-ms 5] [--fail-pct 2] [--rate 1500] [--keys 1000] [--concurrency 128] [--timeout-s 600]
 *     [--cpu-prof-dir DIR]
 *
 * Loopback only; NATS, PostgreSQL and the Loom process are children of this process, stopped at the end.
 */
import { randomUUID } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { setTimeout as delay } from 'node:timers/promises';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pino from 'pino';
import { encodeOutboundEvent, outboundEventSubject, type OutboundEvent } from '../../protocol/outbound-events.ts';
import { AuditLog, API_SCOPES } from '../../src/auth/index.ts';
import { openDatabase } from '../../src/storage/index.ts';
import { SecretBox, WebhookService } from '../../src/webhooks/index.ts';
import { startBenchCluster } from '../bench-cluster.ts';
import { intFlag, printLine as print, runBenchmark } from '../benchmark-main.ts';
import { profilingEnv } from '../cpu-profile-env.ts';
import { cpuBetween, ProcessTreeMonitor, readHostBusySeconds } from '../collab/proc-stats.ts';
import { percentile } from '../jobs/job-tracker.ts';
import { ReceiverFarm } from './receivers.ts';


function options() {
  const { values } = parseArgs({
    options: {
      events: { type: 'string', default: '10000' },
      endpoints: { type: 'string', default: '100' },
      'receiver-ms': { type: 'string', default: '5' },
      'fail-pct': { type: 'string', default: '2' },
      rate: { type: 'string', default: '1500' },
      keys: { type: 'string', default: '1000' },
      concurrency: { type: 'string', default: '128' },
      'timeout-s': { type: 'string', default: '600' },
      'cpu-prof-dir': { type: 'string' },
    },
    strict: true,
  });
  const int = (name: Exclude<keyof typeof values, 'cpu-prof-dir'>, min: number, max: number) => intFlag(values, name, min, max);
  return {
    events: int('events', 1, 1_000_000),
    endpoints: int('endpoints', 1, 1_000),
    receiverMs: int('receiver-ms', 0, 10_000),
    failPct: int('fail-pct', 0, 100),
    rate: int('rate', 1, 1_000_000),
    keys: int('keys', 1, 1_000_000),
    concurrency: int('concurrency', 1, 10_000),
    timeoutS: int('timeout-s', 10, 86_400),
    cpuProfDir: values['cpu-prof-dir'],
  };
}

const round1 = (n: number) => Math.round(n * 10) / 10;

runBenchmark('bench:webhooks', options, async (opts, stops) => {
  const logger = pino({ level: 'warn' });
  const receivers = await ReceiverFarm.start(opts.endpoints, opts.receiverMs);
  stops.push(() => receivers.close());
  const { nats, postgres, databaseUrl, spawn } = await startBenchCluster(
    {
      name: 'webhooks',
      model: {},
      workerConcurrency: 1,
      env: {
        LOOM_WEBHOOK_ALLOW_HTTP: 'true',
        LOOM_WEBHOOK_ALLOW_PRIVATE: 'true',
        LOOM_WEBHOOK_RETRY_SCHEDULE_MS: '50,200,1000,5000',
        LOOM_WEBHOOK_ROTATION_OVERLAP_MS: '0',
        LOOM_WEBHOOK_CONCURRENCY: String(opts.concurrency),
        LOOM_WEBHOOK_POLL_MS: '100',
        ...profilingEnv(opts.cpuProfDir),
      },
    },
    stops,
  );
  // The dispatcher process applies the migrations before it says it is ready.
  const loom = await spawn('bench-webhooks', ['webhooks']);
  const database = await openDatabase({ url: databaseUrl, logger, poolMax: 4 });
  stops.unshift(() => database.close());
  const nc = await connect({ servers: nats.url });
  stops.unshift(() => nc.close());

  const service = new WebhookService({
    db: database.db,
    secrets: new SecretBox(undefined),
    audit: new AuditLog({ db: database.db, log: logger }),
    allowHttp: true,
    allowPrivate: true,
    rotationOverlapMs: 0,
  });
  const owners: string[] = [];
  for (const url of receivers.urls()) {
    const userId = randomUUID();
    owners.push(userId);
    await service.create({ kind: 'user', userId, keyId: undefined, scopes: new Set(API_SCOPES) }, { url, events: ['job.*'] });
  }

  // One monitor per process tree, so PostgreSQL's backends count as postgres.
  const monitors = new Map<string, ProcessTreeMonitor>();
  for (const [name, pid] of [['loom webhooks', loom.pid], ['nats-server', nats.pid], ['postgres', postgres.pid]] as const) {
    if (pid !== undefined) monitors.set(name, new ProcessTreeMonitor([pid]));
  }
  for (const m of monitors.values()) m.start(1_000);
  stops.unshift(async () => monitors.forEach((m) => m.stop()));
  const sampleTrees = () => new Map([...monitors].map(([name, m]) => [name, m.sample()]));
  const cpuBefore = { trees: sampleTrees(), self: process.cpuUsage(), hostBusyS: readHostBusySeconds() };
  const loadavg1AtStart = round1(loadavg()[0] ?? 0);

  // Publish at the chosen rate; remember each event's publish time.
  const js = jetstream(nc);
  const publishedAt = new Map<string, number>();
  const started = Date.now();
  const perTick = Math.max(1, Math.round(opts.rate / 100));
  const acks: Array<Promise<unknown>> = [];
  for (let i = 0; i < opts.events; i++) {
    const id = `evt_bench_${i}`;
    if (Math.random() * 100 < opts.failPct) receivers.failing.add(id);
    const event: OutboundEvent = {
      id,
      type: 'job.succeeded',
      timestamp: new Date().toISOString(),
      ownerIds: [owners[i % owners.length]!],
      orderKey: `job:${i % opts.keys}`,
      data: { jobId: `j${i}` },
    };
    publishedAt.set(id, Date.now());
    // One connection keeps the send order; acks are awaited per tick, not per event.
    acks.push(js.publish(outboundEventSubject(event.type), encodeOutboundEvent(event), { msgID: id }));
    if ((i + 1) % perTick === 0) {
      await Promise.all(acks.splice(0));
      const due = started + ((i + 1) / opts.rate) * 1_000;
      if (due > Date.now()) await delay(due - Date.now());
    }
  }
  await Promise.all(acks);
  const publishedMs = Date.now() - started;

  // Wait until every event has had a 2xx, or nothing moved for 30 s.
  const { firstOk } = receivers;
  let last = -1;
  let quietSince = Date.now();
  while (firstOk.size < opts.events && Date.now() - quietSince < 30_000) {
    await delay(100);
    if (firstOk.size !== last) {
      last = firstOk.size;
      quietSince = Date.now();
    }
  }
  const cpuAfter = { trees: sampleTrees(), self: process.cpuUsage(cpuBefore.self), hostBusyS: readHostBusySeconds() };
  const lastDelivery = Math.max(...firstOk.values());
  const healthy: number[] = [];
  const all: number[] = [];
  for (const [id, at] of firstOk) {
    const latency = at - (publishedAt.get(id) ?? at);
    all.push(latency);
    if (!receivers.failing.has(id)) healthy.push(latency);
  }
  const elapsedS = (lastDelivery - started) / 1_000;
  const deliveriesPerS = Math.round(firstOk.size / elapsedS);
  const lost = opts.events - firstOk.size;
  // CPU seconds of each process tree over the run.
  const cpuS: Record<string, number> = {};
  for (const [name, after] of cpuAfter.trees) {
    const spent = cpuBetween(cpuBefore.trees.get(name) ?? new Map(), after);
    cpuS[name] = round1([...spent.values()].reduce((a, b) => a + b, 0));
  }
  cpuS['bench (publisher, receivers)'] = round1((cpuAfter.self.user + cpuAfter.self.system) / 1e6);
  const ours = Object.values(cpuS).reduce((a, b) => a + b, 0);
  print({
    benchmark: 'webhooks',
    events: opts.events,
    endpoints: opts.endpoints,
    receiverMs: opts.receiverMs,
    failPct: opts.failPct,
    publishRatePerS: Math.round(opts.events / (publishedMs / 1_000)),
    delivered: firstOk.size,
    lost,
    failedFirstAttempt: receivers.failing.size,
    requests: receivers.requests,
    duplicates: receivers.duplicates,
    elapsedS: round1(elapsedS),
    deliveriesPerS,
    healthyLatencyMs: { p50: percentile(healthy, 50), p99: percentile(healthy, 99) },
    allLatencyMs: { p50: percentile(all, 50), p99: percentile(all, 99) },
    cpuS,
    loomCpuMsPer1kDeliveries: Math.round(((cpuS['loom webhooks'] ?? 0) * 1e6) / Math.max(1, firstOk.size)),
    host: { cpus: cpus().length, loadavg1AtStart, loadavg1AtEnd: round1(loadavg()[0] ?? 0), othersCpuS: round1(cpuAfter.hostBusyS - cpuBefore.hostBusyS - ours) },
    target: { deliveriesPerS: 1_000, healthyP99Ms: 250 },
    meetsTarget: deliveriesPerS >= 1_000 && (percentile(healthy, 99) ?? Infinity) < 250 && lost === 0,
  });
  return lost === 0 ? 0 : 1;
});
