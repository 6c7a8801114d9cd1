/**
 * nats-cluster.ts: three (or N) real nats-servers as one JetStream cluster
 * on loopback, for tests of replicated streams and of node loss.
 *
 * Route ports are chosen up front (every node must name the others); client
 * ports are picked by each server and kept across restarts, as in
 * nats-server.ts. Each node has its own store dir, kept across kill/start,
 * so a restarted node catches up from its peers like a real one.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { freePort } from './free-port.ts';
import { startNatsServer, type NatsServerHandle } from './nats-server.ts';
import { waitFor } from './wait-for.ts';

/** One node of the cluster: a nats-server with a known server name. */
export interface NatsClusterNode extends NatsServerHandle {
  /** The server name (`--server_name`), as JetStream reports it in stream leaders and replicas. */
  readonly name: string;
}

export interface NatsClusterHandle {
  readonly nodes: readonly NatsClusterNode[];
  /** Every node's client URL, comma-separated: a NATS_URL of cluster seeds. */
  readonly urls: string;
  /** The node named `name` (a stream's `cluster.leader`). @throws when no node has that name. */
  node(name: string): NatsClusterNode;
  /** Resolves once JetStream answers with a meta leader elected (after start, or after a node loss). */
  waitForJetStream(timeoutMs?: number): Promise<void>;
  /** The node leading `stream` now. */
  streamLeader(stream: string): Promise<NatsClusterNode>;
  dispose(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Starts `size` nats-servers routed to each other as the JetStream cluster
 * `loom-test` and waits until JetStream has a meta leader.
 *
 * @example
 *   await using cluster = await startNatsCluster();
 *   const nc = await connect({ servers: cluster.urls.split(',') });
 */
export async function startNatsCluster(opts: { size?: number } = {}): Promise<NatsClusterHandle> {
  const size = opts.size ?? 3;
  const routePorts: number[] = [];
  for (let i = 0; i < size; i += 1) routePorts.push(await freePort());
  const routes = routePorts.map((p) => `nats://127.0.0.1:${p}`).join(',');
  const nodes: NatsClusterNode[] = [];
  try {
    // In parallel: a JetStream cluster node waits for its peers before it is of use.
    const started = await Promise.all(
      routePorts.map(async (port, i) => {
        const name = `n${i + 1}`;
        const server = await startNatsServer({
          args: ['--server_name', name, '--cluster_name', 'loom-test', '--cluster', `nats://127.0.0.1:${port}`, '--routes', routes],
        });
        return Object.assign(server, { name }) as NatsClusterNode;
      }),
    );
    nodes.push(...started);
    const cluster = new NatsCluster(nodes);
    await cluster.waitForJetStream(30_000);
    return cluster;
  } catch (err) {
    await Promise.all(nodes.map((n) => n.dispose()));
    throw err;
  }
}

class NatsCluster implements NatsClusterHandle {
  readonly nodes: readonly NatsClusterNode[];

  constructor(nodes: NatsClusterNode[]) {
    this.nodes = nodes;
  }

  get urls(): string {
    return this.nodes.map((n) => n.url).join(',');
  }

  node(name: string): NatsClusterNode {
    const found = this.nodes.find((n) => n.name === name);
    if (found === undefined) throw new Error(`no cluster node named ${name} (have ${this.nodes.map((n) => n.name).join(', ')})`);
    return found;
  }

  async waitForJetStream(timeoutMs = 30_000): Promise<void> {
    const running = this.nodes.filter((n) => n.pid !== undefined).map((n) => n.url);
    const nc = await connect({ servers: running, maxReconnectAttempts: -1 });
    try {
      const jsm = await jetstreamManager(nc, { timeout: 2_000, checkAPI: false });
      await waitFor(() => jsm.getAccountInfo(), { timeoutMs, intervalMs: 200, what: 'a JetStream meta leader in the cluster' });
    } finally {
      await nc.close();
    }
  }

  async streamLeader(stream: string): Promise<NatsClusterNode> {
    const running = this.nodes.filter((n) => n.pid !== undefined).map((n) => n.url);
    const nc = await connect({ servers: running });
    try {
      const jsm = await jetstreamManager(nc, { timeout: 5_000 });
      const info = await jsm.streams.info(stream);
      const leader = info.cluster?.leader;
      if (leader === undefined) throw new Error(`stream ${stream} reports no leader`);
      return this.node(leader);
    } finally {
      await nc.close();
    }
  }

  async dispose(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.dispose()));
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}
