/**
 * The benchmark's webhook receivers: one loopback HTTP server per endpoint,
 * each answering after `receiverMs`. An event id marked failing answers 500
 * on its first request only. Records the first 2xx time of every event id
 * (on the benchmark's clock, like the publish times), requests and
 * duplicates (a second 2xx for an id).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export class ReceiverFarm {
  /** Event id -> time of its first 2xx (Date.now()). */
  readonly firstOk = new Map<string, number>();
  /** Event ids whose first attempt answers 500. */
  readonly failing = new Set<string>();
  requests = 0;
  duplicates = 0;
  readonly #seen = new Set<string>();
  readonly #servers: Server[] = [];

  private constructor(private readonly receiverMs: number) {}

  static async start(count: number, receiverMs: number): Promise<ReceiverFarm> {
    const farm = new ReceiverFarm(receiverMs);
    for (let i = 0; i < count; i++) {
      const server = createServer((req, res) => {
        // The body is not needed; reading it to the end lets the connection be reused.
        req.resume();
        req.on('end', () => farm.#answer(String(req.headers['webhook-id']), (status) => res.writeHead(status).end()));
      });
      server.keepAliveTimeout = 60_000;
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      farm.#servers.push(server);
    }
    return farm;
  }

  /** `http://127.0.0.1:<port>/hook` of each receiver. */
  urls(): string[] {
    return this.#servers.map((s) => `http://127.0.0.1:${(s.address() as AddressInfo).port}/hook`);
  }

  #answer(id: string, reply: (status: number) => void): void {
    this.requests++;
    const failNow = this.failing.has(id) && !this.#seen.has(id);
    this.#seen.add(id);
    setTimeout(() => {
      if (failNow) return reply(500);
      if (this.firstOk.has(id)) this.duplicates++;
      else this.firstOk.set(id, Date.now());
      reply(200);
    }, this.receiverMs);
  }

  async close(): Promise<void> {
    for (const s of this.#servers) {
      s.closeAllConnections();
      await new Promise((resolve) => s.close(resolve));
    }
  }
}
