/**
 * The comparison server: @hocuspocus/server 3.x, in memory (no persistence
 * extension), on 127.0.0.1 and the port given as the first argument. With a
 * second argument, the port of a redis-server on 127.0.0.1, it joins the
 * other Hocuspocus processes on that Redis through
 * @hocuspocus/extension-redis (updates and awareness fan out over Redis
 * pub/sub; how Hocuspocus scales out).
 * SIGTERM makes Hocuspocus close its connections and exit (stopOnSignals).
 */
import { Redis } from '@hocuspocus/extension-redis';
import { Server } from '@hocuspocus/server';

const port = Number(process.argv[2]);
const redisPort = process.argv[3] === undefined ? undefined : Number(process.argv[3]);
if (!Number.isInteger(port) || port <= 0 || (redisPort !== undefined && (!Number.isInteger(redisPort) || redisPort <= 0))) {
  process.stderr.write('usage: hocuspocus-server.ts PORT [REDIS_PORT]\n');
  process.exit(2);
}

const extensions = redisPort === undefined ? [] : [new Redis({ host: '127.0.0.1', port: redisPort, identifier: `hocuspocus-${port}` })];
const server = new Server({ port, address: '127.0.0.1', quiet: true, stopOnSignals: true, extensions });
await server.listen();
