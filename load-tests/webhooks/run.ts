/**
 * Webhook fan-out benchmark: N events to E endpoints through the real path
 * (JetStream stream -> dispatcher intake -> PostgreSQL deliveries ->
 * senders -> HTTP receivers). Each endpoint is its own HTTP server on
 * loopback answering after --receiver-ms; --fail-pct of events fail their
 * first attempt with 500 and succeed on the retry. Events are published at
 * --rate per second, each owned by one endpoint's user, in --keys order keys.
 * Prints one JSON summary: deliveries/s, event-to-delivery latency p50/p99
 * (publish to the receiver's first 2xx, for events that did not fail and for
 * all), retries, duplicates and lost events.
 *
 *   node --import tsx load-tests/webhooks/run.ts [--events 10000] [--endpoints 100]
 *     [--receiver-ms 5] [--fail-pct 2] [--rate 1500] [--keys 1000] [--concurrency 128] [--timeout-s 600]
 *
 * Loopback only; NATS and PostgreSQL are children of this process, stopped at the end.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { setTimeout as delay } from 'node:timers/promises';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pino from 'pino';
import { encodeOutboundEvent, outboundEventSubject, type OutboundEvent } from '../../protocol/outbound-events.ts';
import { AuditLog, API_SCOPES } from '../../src/auth/index.ts';
import { provisionNats } from '../../src/nats/provision.ts';
import { openDatabase } from '../../src/storage/index.ts';
import { startNatsServer, startPostgresServer } from '../../src/testing/index.ts';
import { SecretBox, startWebhookDispatcher, WebhookService } from '../../src/webhooks/index.ts';
import { intFlag, printLine as print, runBenchmark } from '../benchmark-main.ts';
import { percentile } from '../jobs/job-tracker.ts';

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
    },
    strict: true,
  });
  const int = (name: keyof typeof values, min: number, max: number) => intFlag(values, name, min, max);
  return {
    events: int('events', 1, 1_000_000),
    endpoints: int('endpoints', 1, 1_000),
    receiverMs: int('receiver-ms', 0, 10_000),
    failPct: int('fail-pct', 0, 100),
    rate: int('rate', 1, 1_000_000),
    keys: int('keys', 1, 1_000_000),
    concurrency: int('concurrency', 1, 10_000),
    timeoutS: int('timeout-s', 10, 86_400),
  };
}

runBenchmark('bench:webhooks', options, async (opts, stops) => {
  const logger = pino({ level: 'warn' });
  const [nats, pg] = await Promise.all([startNatsServer(), startPostgresServer()]);
  stops.push(() => nats.dispose(), () => pg.dispose());
  const nc = await connect({ servers: nats.url });
  stops.unshift(() => nc.close());
  const provisioned = await provisionNats(nc, { leaseTtlMs: 4_000, logger });
  const database = await openDatabase({ url: await pg.createDatabase(), logger, poolMax: 20 });
  stops.unshift(() => database.close());
  await database.migrate();

  // Receivers: one server per endpoint; an event chosen to fail answers 500 the first time only.
  const firstOk = new Map<string, number>();
  const failing = new Set<string>();
  const seen = new Set<string>();
  let requests = 0;
  let duplicates = 0;
  const servers: Server[] = [];
  for (let i = 0; i < opts.endpoints; i++) {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        requests++;
        const id = String(req.headers['webhook-id']);
        const failNow = failing.has(id) && !seen.has(id);
        seen.add(id);
        setTimeout(() => {
          if (failNow) {
            res.writeHead(500).end();
            return;
          }
          if (firstOk.has(id)) duplicates++;
          else firstOk.set(id, Date.now());
          res.writeHead(200).end();
        }, opts.receiverMs);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
  }
  stops.unshift(async () => {
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((resolve) => s.close(resolve));
    }
  });

  const service = new WebhookService({
    db: database.db,
    secrets: new SecretBox(undefined),
    audit: new AuditLog({ db: database.db, log: logger }),
    allowHttp: true,
    allowPrivate: true,
    rotationOverlapMs: 0,
  });
  const owners: string[] = [];
  for (const server of servers) {
    const userId = randomUUID();
    owners.push(userId);
    const port = (server.address() as AddressInfo).port;
    await service.create({ kind: 'user', userId, keyId: undefined, scopes: new Set(API_SCOPES) }, { url: `http://127.0.0.1:${port}/hook`, events: ['job.*'] });
  }

  const dispatcher = await startWebhookDispatcher({
    config: {
      allowHttp: true,
      allowPrivate: true,
      timeoutMs: 15_000,
      retryScheduleMs: [50, 200, 1_000, 5_000],
      rotationOverlapMs: 0,
      secretKey: undefined,
      concurrency: opts.concurrency,
      leaseTtlMs: 30_000,
      pollIntervalMs: 100,
      streamReplicas: 1,
    },
    nc,
    leases: provisioned.leases,
    leaseTtlMs: 4_000,
    db: database.db,
    instanceId: 'bench',
    log: logger,
  });
  stops.unshift(() => dispatcher.stop());

  // Publish at the chosen rate; remember each event's publish time.
  const js = jetstream(nc);
  const publishedAt = new Map<string, number>();
  const started = Date.now();
  const perTick = Math.max(1, Math.round(opts.rate / 100));
  const acks: Array<Promise<unknown>> = [];
  for (let i = 0; i < opts.events; i++) {
    const id = `evt_bench_${i}`;
    if (Math.random() * 100 < opts.failPct) failing.add(id);
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
  let last = -1;
  let quietSince = Date.now();
  while (firstOk.size < opts.events && Date.now() - quietSince < 30_000) {
    await delay(100);
    if (firstOk.size !== last) {
      last = firstOk.size;
      quietSince = Date.now();
    }
  }
  const lastDelivery = Math.max(...firstOk.values());
  const healthy: number[] = [];
  const all: number[] = [];
  for (const [id, at] of firstOk) {
    const latency = at - (publishedAt.get(id) ?? at);
    all.push(latency);
    if (!failing.has(id)) healthy.push(latency);
  }
  const elapsedS = (lastDelivery - started) / 1_000;
  const deliveriesPerS = Math.round(firstOk.size / elapsedS);
  const lost = opts.events - firstOk.size;
  print({
    benchmark: 'webhooks',
    events: opts.events,
    endpoints: opts.endpoints,
    receiverMs: opts.receiverMs,
    failPct: opts.failPct,
    publishRatePerS: Math.round(opts.events / (publishedMs / 1_000)),
    delivered: firstOk.size,
    lost,
    failedFirstAttempt: failing.size,
    requests,
    duplicates,
    elapsedS: Math.round(elapsedS * 10) / 10,
    deliveriesPerS,
    healthyLatencyMs: { p50: percentile(healthy, 50), p99: percentile(healthy, 99) },
    allLatencyMs: { p50: percentile(all, 50), p99: percentile(all, 99) },
    target: { deliveriesPerS: 1_000, healthyP99Ms: 250 },
    meetsTarget: deliveriesPerS >= 1_000 && (percentile(healthy, 99) ?? Infinity) < 250 && lost === 0,
  });
  return lost === 0 ? 0 : 1;
});
