/**
 * Loom on a 3-node NATS JetStream cluster with every stream and bucket at
 * R3 (LOOM_NATS_REPLICAS=3), shared by the cluster test (one round, part of
 * npm test) and the chaos run (CHAOS_ROUNDS rounds, npm run chaos): two
 * actor hosts, two gateways, an inference worker with the test model
 * server, PostgreSQL; two collab clients editing without pause through
 * different gateways, and jobs running.
 *
 * One round: SIGKILL the NATS node leading the document log, measure until
 * an edit flows end to end again; SIGKILL the actor host owning the
 * document, measure again; restart both. A job is started before each kill.
 * The caller asserts on the figures: what any client saw is durable, the
 * clients converge, every job step seen succeeded is still succeeded.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { parseActorId } from '../../protocol/ids.ts';
import { DOC_LOG_STREAM, OWNER_BUCKET, leaseKey } from '../../protocol/subjects.ts';
import type { Role } from '../config.ts';
import {
  connectCollabClient,
  startFakeModelServer,
  startLoomProcess,
  startPostgresServer,
  waitFor,
  type CollabClient,
  type FakeModelServer,
  type LoomProcess,
  type PostgresServerHandle,
} from '../testing/index.ts';
import { startNatsCluster, type NatsClusterHandle } from '../testing/nats-cluster.ts';
import { parsePrometheusText } from '../testing/prometheus-text.ts';
import { uniqueDocName } from './cluster-fixture.ts';
import { scriptedAnswer, TEST_MODEL, type JobBody } from './jobs-fixture.ts';

export interface LoomOnCluster {
  readonly nats: NatsClusterHandle;
  readonly postgres: PostgresServerHandle;
  readonly model: FakeModelServer;
  readonly hosts: readonly LoomProcess[];
  readonly gateways: readonly LoomProcess[];
  readonly worker: LoomProcess;
  /** The test's own NATS client, on every node's URL. */
  readonly nc: NatsConnection;
  /** Bearer token of a registered user (for jobs). */
  readonly token: string;
  stop(): Promise<void>;
}

export async function startLoomOnNatsCluster(): Promise<LoomOnCluster> {
  const [nats, postgres, model, dataDir] = await Promise.all([
    startNatsCluster(),
    startPostgresServer(),
    // Slow enough that a job spans a kill, fast enough that it ends soon after.
    startFakeModelServer({ respond: scriptedAnswer, firstTokenDelayMs: 150 }),
    mkdtemp(path.join(tmpdir(), 'loom-cluster-')),
  ]);
  const databaseUrl = await postgres.createDatabase();
  const env: Record<string, string> = {
    LOOM_NATS_REPLICAS: '3',
    LOOM_LEASE_TTL_MS: '3000',
    OPENAI_BASE_URL: model.baseURL,
    OPENAI_API_KEY: 'test',
    LOOM_DEFAULT_MODEL: TEST_MODEL,
    LOOM_INFERENCE_MODELS: TEST_MODEL,
    LOOM_JOB_RETRY_BASE_MS: '200',
    LOOM_JOB_RETRY_MAX_MS: '1000',
    LOOM_JOB_STEP_TIMEOUT_MS: '20000',
    LOOM_JOB_SUPERVISOR_INTERVAL_MS: '1000',
    LOOM_RATE_API_BURST: '100000',
    LOOM_RATE_API_PER_S: '100000',
  };
  const spawn = (name: string, roles: Role[]) => startLoomProcess({ name, roles, natsUrl: nats.urls, databaseUrl, dataDir, env, readyTimeoutMs: 180_000 });
  const hosts: LoomProcess[] = [];
  const gateways: LoomProcess[] = [];
  let worker: LoomProcess | undefined;
  let nc: NatsConnection | undefined;
  const stop = async () => {
    await nc?.close();
    await Promise.allSettled([...gateways, ...hosts, ...(worker ? [worker] : [])].map((p) => p.stop()));
    await Promise.allSettled([nats.dispose(), postgres.dispose(), model.close()]);
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    // One at a time: migrations run once, and five processes starting together on a
    // small loaded machine can each take longer than the harness waits for one.
    for (let i = 0; i < 2; i++) hosts.push(await spawn(`host-${i}`, ['actors']));
    for (let i = 0; i < 2; i++) gateways.push(await spawn(`gw-${i}`, ['gateway']));
    worker = await spawn('inference-0', ['inference']);
    nc = await connect({ servers: nats.urls.split(','), maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    const res = await fetch(`${gateways[0]!.httpUrl}/v1/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: `cluster-${randomUUID()}@test.example`, password: 'correct horse battery staple' }),
    });
    const body = (await res.json()) as { tokens?: { accessToken: string } };
    if (res.status !== 201 || body.tokens === undefined) throw new Error(`register: ${res.status} ${JSON.stringify(body)}`);
    return { nats, postgres, model, hosts, gateways, worker, nc, token: body.tokens.accessToken, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

export interface ChaosFigures {
  /** ms from each NATS node loss until an edit flowed end to end again. */
  readonly afterNatsLossMs: number[];
  /** ms from each actor host loss until an edit flowed end to end again. */
  readonly afterHostLossMs: number[];
  /** Updates either client saw from the other. */
  readonly updatesSeen: number;
  /** Of those, missing from what a fresh client reads afterwards. */
  readonly updatesLost: string[];
  readonly converged: boolean;
  readonly jobs: readonly JobBody[];
  /** `job/step` seen succeeded at any time during the run. */
  readonly stepsSeenSucceeded: number;
  /** Of those, not succeeded in the job's final state. */
  readonly stepsLost: string[];
  /** Rooms the gateways resent whole (loom_gateway_room_resyncs_total, both gateways), by reason. */
  readonly roomResyncs: { readonly missedEvent: number; readonly reconnect: number };
}

/** Writes progress lines (TAP comments) for whoever reads the run. */
function note(line: string): void {
  process.stdout.write(`# cluster: ${line}\n`);
}

/**
 * What the processes logged around a loss (warnings, reconnects, lease and
 * activation lines), as offsets from it: where the time went.
 */
function timeline(processes: readonly LoomProcess[], from: number, to: number, everything = false): void {
  const out: Array<[number, string]> = [];
  for (const p of processes) {
    for (const line of p.output()) {
      if (!line.startsWith('{')) continue;
      let rec: { time?: string; level?: number; msg?: string; reason?: string; problem?: string; err?: { message?: string } };
      try {
        rec = JSON.parse(line) as typeof rec;
      } catch (err) {
        // A log line cut at the output limit: not part of the timeline.
        if (!(err instanceof SyntaxError)) throw err;
        continue;
      }
      const t = Date.parse(rec.time ?? '');
      if (!(t >= from - 500 && t <= to + 500)) continue;
      const msg = rec.msg ?? '';
      if ((rec.level ?? 0) < 40 && !/reconnect|activat|passivat|lease|stepping|append/.test(msg)) continue;
      // Singleton tasks (event relays), presence and shared limits retry on their own; they crowd out the path of an edit.
      if (!everything && (/relay|presence|rate limit|ack not confirmed/.test(msg) || /task\./.test(line))) continue;
      out.push([t - from, `${p.name} ${msg} ${rec.reason ?? rec.problem ?? ''} ${(rec.err?.message ?? '').slice(0, 120)}`]);
    }
  }
  out.sort((a, b) => a[0] - b[0]);
  // Requests that joined one activation all fail with it: one line, counted.
  const lines: Array<{ ms: number; text: string; times: number }> = [];
  for (const [ms, text] of out) {
    const last = lines.at(-1);
    if (last !== undefined && last.text === text) last.times++;
    else lines.push({ ms, text, times: 1 });
  }
  for (const l of everything ? lines.slice(-120) : lines.slice(0, 40)) note(`  +${l.ms} ms ${l.text}${l.times > 1 ? ` (x${l.times})` : ''}`);
}

/**
 * Runs `rounds` kill cycles with editing and jobs under way, then reads
 * everything back. Waits (never asserts) on its way; `resumeWaitMs` bounds
 * each wait for edits to flow again.
 */
export async function runChaos(cluster: LoomOnCluster, opts: { rounds: number; resumeWaitMs: number }): Promise<ChaosFigures> {
  const { nats, hosts, gateways } = cluster;
  const processes = [...hosts, ...gateways, cluster.worker];
  const room = uniqueDocName('chaos');
  const a = connectCollabClient(gateways[0]!.wsUrl, room);
  const b = connectCollabClient(gateways[1]!.wsUrl, room);
  const clients: CollabClient[] = [a, b];
  const api = async <T>(method: string, p: string, body?: unknown): Promise<{ status: number; body: T }> => {
    const res = await fetch(`${gateways[1]!.httpUrl}${p}`, {
      method,
      headers: { authorization: `Bearer ${cluster.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(30_000),
    });
    return { status: res.status, body: (await res.json()) as T };
  };
  const jobIds: string[] = [];
  const stepsSeen = new Set<string>();
  const startJob = async (label: string) => {
    const r = await api<{ job: JobBody }>('POST', '/v1/jobs', { kind: 'document.generate', input: { topic: `Chaos ${label}`, sections: 4 } });
    if (r.status !== 201) throw new Error(`job start: ${r.status} ${JSON.stringify(r.body)}`);
    jobIds.push(r.body.job.id);
  };
  // Watches the jobs through the gateway that is never killed: every step seen succeeded is "acknowledged".
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      for (const id of jobIds) {
        // A failed poll (a gateway busy through a loss) is just a missed look; the next one reads the same job.
        const r = await api<JobBody>('GET', `/v1/jobs/${id}`).catch(() => null);
        for (const s of r?.status === 200 ? r.body.steps : []) if (s.status === 'succeeded') stepsSeen.add(`${id}/${s.id}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  })();

  const seen = new Set<string>();
  const recordSeen = () => {
    for (const x of b.doc.getArray<string>('log').toArray()) if (x.startsWith('a')) seen.add(x);
    for (const x of a.doc.getArray<string>('log').toArray()) if (x.startsWith('b')) seen.add(x);
  };
  const writesResume = async (from: CollabClient, to: CollabClient, lostAt: number, what: string): Promise<number> => {
    const marker = `${what}-${Date.now()}`;
    from.doc.getMap('m').set('marker', marker);
    try {
      await waitFor(() => to.doc.getMap('m').get('marker') === marker, { what: `an edit after ${what} reaches the other client`, timeoutMs: opts.resumeWaitMs, intervalMs: 50 });
    } catch (err) {
      note(`no edit flowed after ${what}; what the processes logged since:`);
      timeline(processes, lostAt, Date.now(), true);
      throw err;
    }
    const ms = Date.now() - lostAt;
    note(`writes resumed ${ms} ms after ${what}`);
    timeline(processes, lostAt, Date.now());
    return ms;
  };
  const ownerOf = async (): Promise<LoomProcess> => {
    const kv = await new Kvm(cluster.nc).open(OWNER_BUCKET);
    const entry = await waitFor(() => kv.get(leaseKey('doc', parseActorId(room))), { what: `lease of ${room}`, timeoutMs: 20_000 });
    const owner = entry.operation === 'PUT' ? (entry.json() as { host: string }).host : '';
    const host = hosts.find((h) => h.name === owner);
    if (host === undefined) throw new Error(`the lease of ${room} names no host of ours: ${owner}`);
    return host;
  };

  const afterNatsLossMs: number[] = [];
  const afterHostLossMs: number[] = [];
  let n = 0;
  const typing = setInterval(() => {
    n++;
    a.doc.getArray<string>('log').push([`a${n}`]);
    b.doc.getArray<string>('log').push([`b${n}`]);
  }, 20);
  try {
    return await killCycles();
  } finally {
    clearInterval(typing);
    watching = false;
    await watcher;
    for (const c of clients) c.destroy();
  }

  async function killCycles(): Promise<ChaosFigures> {
    await Promise.all([a.synced(), b.synced()]);
    await waitFor(() => b.doc.getArray<string>('log').toArray().filter((x) => x.startsWith('a')).length >= 30, { what: 'b saw 30 edits of a', timeoutMs: 30_000 });
    for (let round = 1; round <= opts.rounds; round++) {
      await startJob(`${round}-nats`);
      const leader = await nats.streamLeader(DOC_LOG_STREAM);
      await leader.kill();
      const natsLostAt = Date.now();
      recordSeen();
      afterNatsLossMs.push(await writesResume(a, b, natsLostAt, `SIGKILL of NATS node ${leader.name} (round ${round})`));

      await startJob(`${round}-host`);
      const host = await ownerOf();
      await host.kill();
      const hostLostAt = Date.now();
      recordSeen();
      afterHostLossMs.push(await writesResume(b, a, hostLostAt, `SIGKILL of actor host ${host.name} (round ${round})`));

      await leader.start();
      await host.start();
      await nats.waitForJetStream();
      recordSeen();
      await writesResume(a, b, Date.now(), `restart of ${leader.name} and ${host.name} (round ${round})`);
    }
    clearInterval(typing);
    recordSeen();

    const same = () => JSON.stringify(a.doc.getArray('log').toArray()) === JSON.stringify(b.doc.getArray('log').toArray());
    const converged = await waitFor(same, { what: 'clients converge', timeoutMs: 30_000 }).then(
      () => true,
      () => false,
    );
    // A fresh client reads the durable document.
    const fresh = connectCollabClient(gateways[1]!.wsUrl, room);
    clients.push(fresh);
    await fresh.synced();
    const durable = new Set(fresh.doc.getArray<string>('log').toArray());
    const updatesLost = [...seen].filter((x) => !durable.has(x));
    note(`${seen.size} updates seen across clients, ${durable.size} durable, ${updatesLost.length} lost`);

    const ended = (j: JobBody) => ['succeeded', 'failed', 'cancelled', 'rejected'].includes(j.status);
    const jobs: JobBody[] = [];
    for (const id of jobIds) {
      jobs.push(await waitFor(async () => {
        const r = await api<JobBody>('GET', `/v1/jobs/${id}`);
        return r.status === 200 && ended(r.body) ? r.body : null;
      }, { what: `job ${id} to end`, timeoutMs: 90_000, intervalMs: 200 }));
    }
    const finalSucceeded = new Set(jobs.flatMap((j) => j.steps.filter((s) => s.status === 'succeeded').map((s) => `${j.id}/${s.id}`)));
    const stepsLost = [...stepsSeen].filter((s) => !finalSucceeded.has(s));
    note(`${jobs.length} jobs (${jobs.map((j) => j.status).join(', ')}), ${stepsSeen.size} steps seen succeeded, ${stepsLost.length} lost`);
    const scrapes = await Promise.all(gateways.map(async (g) => parsePrometheusText(await (await fetch(`${g.httpUrl}/metrics`, { signal: AbortSignal.timeout(10_000) })).text())));
    const resyncs = (reason: string) => scrapes.reduce((n, s) => n + s.sum('loom_gateway_room_resyncs_total', { reason }), 0);
    const roomResyncs = { missedEvent: resyncs('missed-event'), reconnect: resyncs('reconnect') };
    note(`rooms resent whole by the gateways: ${roomResyncs.missedEvent} after a missed event, ${roomResyncs.reconnect} after their own NATS reconnect`);
    return { afterNatsLossMs, afterHostLossMs, updatesSeen: seen.size, updatesLost, converged, jobs, stepsSeenSucceeded: stepsSeen.size, stepsLost, roomResyncs };
  }
}
