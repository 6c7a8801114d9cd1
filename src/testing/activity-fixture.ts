/**
 * The service-activity test cluster: a real nats-server and PostgreSQL, job
 * hosts (activity-host.ts) and service workers (activity-worker.ts) as
 * separate OS processes, and a client in the test process that drives jobs
 * through the job actor's commands. Workers print one JSON line per task
 * event; `events` reads them back for counting.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { parseActorId } from '../../protocol/ids.ts';
import { jobViewSchema, type JobView } from '../../protocol/job.ts';
import { decodeJson, encodeJson, replyError } from '../../protocol/reply.ts';
import { newJobId } from '../jobs/index.ts';
import { createRootLogger } from '../log.ts';
import { ActorClient } from '../placement/actor-client.ts';
import { openDatabase } from '../storage/index.ts';
import { removeOnExit, spawnChild, type Child } from './child-process.ts';
import { startNatsServer, type NatsServerHandle } from './nats-server.ts';
import { startPostgresServer, type PostgresServerHandle } from './postgres-server.ts';
import { SERVICE_TEST_KIND, SERVICE_TEST_QUEUE } from './service-test-pipeline.ts';
import { waitFor } from './wait-for.ts';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** One line a test worker printed. */
export interface WorkerEvent {
  readonly task: 'working' | 'claimed' | 'refused' | 'completed' | 'cancelled';
  readonly taskId: string;
  readonly workerId: string;
  readonly accepted?: boolean;
  readonly ok?: boolean;
  readonly attempt?: number;
}

export interface ActivityCluster {
  readonly nats: NatsServerHandle;
  readonly postgres: PostgresServerHandle;
  readonly nc: NatsConnection;
  readonly client: ActorClient;
  readonly hosts: Child[];
  /** Every worker started, killed ones included (their lines still count). */
  readonly workers: Child[];
  startHost(name: string): Promise<Child>;
  startWorker(name: string, queue?: string): Promise<Child>;
  /** Starts the plain nats.js worker of PROTOCOL.md §17 (plain-activity-worker.ts) on `queue`. */
  startPlainWorker(name: string, queue: string): Promise<Child>;
  /** Starts a job (default kind test.service); returns its id. */
  startJob(input: Record<string, unknown>, kind?: string): Promise<string>;
  view(id: string): Promise<JobView>;
  command(id: string, name: string, body: unknown): Promise<unknown>;
  waitForJob(id: string, until: (j: JobView) => boolean, what: string, timeoutMs?: number): Promise<JobView>;
  /** Task events of every worker about job `id`'s tasks. */
  events(id: string): WorkerEvent[];
  stop(): Promise<void>;
}

export async function startActivityCluster(opts: { hosts: number; workers: number }): Promise<ActivityCluster> {
  const [nats, postgres, dataDir] = await Promise.all([startNatsServer(), startPostgresServer(), mkdtemp(path.join(tmpdir(), 'loom-activities-'))]);
  removeOnExit(dataDir);
  const databaseUrl = await postgres.createDatabase();
  const log = createRootLogger({ level: 'silent', instanceId: 'activity-test' });
  const db = await openDatabase({ url: databaseUrl, logger: log });
  await db.migrate();
  await db.close();
  const nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  const client = new ActorClient(nc, { requestTimeoutMs: 3_000, deadlineMs: 20_000, log });
  const hosts: Child[] = [];
  const workers: Child[] = [];
  const spawnScript = (name: string, script: string, env: Record<string, string>) =>
    spawnChild({
      command: process.execPath,
      args: ['--import', 'tsx', script],
      cwd: REPO_ROOT,
      name,
      maxLines: 5_000,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: process.env.TMPDIR, NATS_URL: nats.url, ...env },
    });

  const cluster: ActivityCluster = {
    nats,
    postgres,
    nc,
    client,
    hosts,
    workers,
    async startHost(name) {
      const child = spawnScript(name, 'src/testing/activity-host.ts', { HOST_ID: name, DATABASE_URL: databaseUrl, DATA_DIR: dataDir, LEASE_TTL_MS: '1500' });
      await child.waitForLine(/activity host ready/, 60_000);
      hosts.push(child);
      return child;
    },
    async startWorker(name, queue = SERVICE_TEST_QUEUE) {
      const child = spawnScript(name, 'src/testing/activity-worker.ts', { WORKER_ID: name, QUEUE: queue });
      await child.waitForLine(/"worker":"ready"/, 60_000);
      workers.push(child);
      return child;
    },
    async startPlainWorker(name, queue) {
      const child = spawnScript(name, 'src/testing/plain-activity-worker.ts', { QUEUE: queue });
      await child.waitForLine(/"plain":"ready"/, 60_000);
      workers.push(child);
      return child;
    },
    async startJob(input, kind = SERVICE_TEST_KIND) {
      const id = newJobId();
      await cluster.command(id, 'start', { kind, input, owner: 'tester' });
      return id;
    },
    async command(id, name, body) {
      const reply = await client.request('job', parseActorId(id), name, encodeJson(body));
      const error = replyError(reply);
      if (error !== null) throw error;
      return reply.body.byteLength === 0 ? undefined : (JSON.parse(new TextDecoder().decode(reply.body)) as unknown);
    },
    async view(id) {
      const reply = await client.request('job', parseActorId(id), 'get', new Uint8Array(0));
      const error = replyError(reply);
      if (error !== null) throw error;
      return decodeJson(reply.body, jobViewSchema, 'job view');
    },
    async waitForJob(id, until, what, timeoutMs = 60_000) {
      let last: JobView | undefined;
      await waitFor(
        async () => {
          last = await cluster.view(id);
          return until(last);
        },
        { what: `job ${id} ${what} (last: ${JSON.stringify(last?.status)} ${JSON.stringify(last?.steps.map((s) => [s.id, s.status, s.attempt]))})`, timeoutMs, intervalMs: 100 },
      );
      return last!;
    },
    events(id) {
      const out: WorkerEvent[] = [];
      for (const w of workers) {
        for (const line of w.output()) {
          if (!line.startsWith('{"task"')) continue;
          const e = JSON.parse(line) as WorkerEvent;
          if (e.taskId.startsWith(`${id}.`)) out.push(e);
        }
      }
      return out;
    },
    async stop() {
      await Promise.all([...workers, ...hosts].map((c) => c.stop(5_000)));
      await nc.close();
      await Promise.all([nats.dispose(), postgres.dispose()]);
    },
  };
  for (let i = 0; i < opts.hosts; i++) await cluster.startHost(`host-${i}`);
  for (let i = 0; i < opts.workers; i++) await cluster.startWorker(`worker-${i}`);
  return cluster;
}
