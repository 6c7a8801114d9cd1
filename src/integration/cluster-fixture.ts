/**
 * A Loom cluster for integration tests: a real nats-server and PostgreSQL
 * started by the harness, plus Loom actor hosts and gateways as separate OS
 * processes. One fixture per test file; tests isolate by document name.
 */
import { randomBytes } from 'node:crypto';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Role } from '../config.ts';
import {
  startLoomProcess,
  startNatsServer,
  startPostgresServer,
  type LoomProcess,
  type NatsServerHandle,
  type PostgresServerHandle,
} from '../testing/index.ts';

export interface ClusterFixture {
  readonly nats: NatsServerHandle;
  readonly postgres: PostgresServerHandle;
  readonly databaseUrl: string;
  readonly hosts: LoomProcess[];
  readonly gateways: LoomProcess[];
  /** A plain NATS client of the test itself, like an internal service. */
  readonly nc: NatsConnection;
  stop(): Promise<void>;
}

/** A fresh document name so tests never share state. */
export function uniqueDocName(prefix = 'doc'): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}

export async function startCluster(opts: {
  hosts: number;
  gateways: number;
  env?: Record<string, string>;
}): Promise<ClusterFixture> {
  const nats = await startNatsServer();
  const postgres = await startPostgresServer();
  const databaseUrl = await postgres.createDatabase();
  const spawn = (name: string, roles: Role[]) =>
    startLoomProcess({ name, roles, natsUrl: nats.url, databaseUrl, env: opts.env ?? {} });
  // Hosts first, one at a time, so migrations run once and the others find them applied.
  const hosts: LoomProcess[] = [];
  for (let i = 0; i < opts.hosts; i++) hosts.push(await spawn(`host-${i}`, ['actors']));
  const gateways = await Promise.all(Array.from({ length: opts.gateways }, (_, i) => spawn(`gw-${i}`, ['gateway'])));
  const nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  return {
    nats,
    postgres,
    databaseUrl,
    hosts,
    gateways,
    nc,
    async stop() {
      await nc.close();
      await Promise.allSettled([...gateways, ...hosts].map((p) => p.stop()));
      await nats.dispose();
      await postgres.dispose();
    },
  };
}
