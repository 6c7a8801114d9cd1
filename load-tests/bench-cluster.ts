/**
 * The servers a Loom benchmark runs against, all children of the benchmark
 * on loopback: a nats-server and a PostgreSQL from the test harness, the
 * suite's fake OpenAI-compatible model server in the benchmark's own
 * process (so its stamps share the generator's clock), a data directory,
 * and Loom processes with the roles asked for (`node dist/main.js`,
 * the bundle `npm start` runs). Everything started is registered on the stop list.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Role } from '../src/config.ts';
import {
  startFakeModelServer,
  startLoomProcess,
  startNatsServer,
  startPostgresServer,
  type FakeModelServer,
  type FakeModelServerOptions,
  type LoomProcess,
  type NatsServerHandle,
  type PostgresServerHandle,
} from '../src/testing/index.ts';
import { benchLoomEntry, type StopList } from './benchmark-main.ts';

/** The one model every benchmark's inference role serves. */
export const BENCH_MODEL = 'bench-model';

export interface BenchCluster {
  readonly nats: NatsServerHandle;
  readonly postgres: PostgresServerHandle;
  readonly model: FakeModelServer;
  /** The run's own database (Loom's DATABASE_URL). */
  readonly databaseUrl: string;
  /** Loom processes started so far, in start order. */
  readonly loom: readonly LoomProcess[];
  /** Starts a Loom process with these roles; the first one applies the migrations. */
  spawn(name: string, roles: Role[]): Promise<LoomProcess>;
}

export async function startBenchCluster(
  opts: { readonly name: string; readonly model: FakeModelServerOptions; readonly workerConcurrency: number; readonly env?: Readonly<Record<string, string>> },
  stops: StopList,
): Promise<BenchCluster> {
  const [nats, postgres, model, dataDir] = await Promise.all([
    startNatsServer(),
    startPostgresServer(),
    startFakeModelServer(opts.model),
    mkdtemp(path.join(tmpdir(), `loom-bench-${opts.name}-`)),
  ]);
  stops.push(() => nats.dispose(), () => postgres.dispose(), () => model.close(), () => rm(dataDir, { recursive: true, force: true }));
  const databaseUrl = await postgres.createDatabase();
  const env = {
    OPENAI_BASE_URL: model.baseURL,
    LOOM_DEFAULT_MODEL: BENCH_MODEL,
    LOOM_INFERENCE_MODELS: BENCH_MODEL,
    LOOM_INFERENCE_CONCURRENCY: String(opts.workerConcurrency),
    LOOM_MAILBOX_MAX_MESSAGES: '100000',
    ...opts.env,
  };
  const loom: LoomProcess[] = [];
  return {
    nats,
    postgres,
    model,
    databaseUrl,
    loom,
    async spawn(name, roles) {
            const p = await startLoomProcess({ name, roles, natsUrl: nats.url, databaseUrl, dataDir, env, entry: benchLoomEntry() });
      // Loom stops before the servers it uses.
      stops.unshift(() => p.stop());
      loom.push(p);
      return p;
    },
  };
}
