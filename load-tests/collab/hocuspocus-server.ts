/**
 * The comparison server: @hocuspocus/server 3.x, in memory (no persistence
 * extension), on 127.0.0.1 and the port given as the only argument.
 * SIGTERM makes Hocuspocus close its connections and exit (stopOnSignals).
 */
import { Server } from '@hocuspocus/server';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  process.stderr.write('usage: hocuspocus-server.ts PORT\n');
  process.exit(2);
}

const server = new Server({ port, address: '127.0.0.1', quiet: true, stopOnSignals: true });
await server.listen();
