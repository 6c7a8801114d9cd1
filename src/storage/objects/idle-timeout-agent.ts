/**
 * An HTTP(S) agent whose sockets are destroyed after a stretch without any
 * traffic. The minio client accepts no timeout or abort signal, and Node's
 * own `timeout` option only emits an event, so this is what bounds every S3
 * call: a stalled server fails the call (ECONNRESET) instead of hanging it, while long transfers that keep moving are never cut.
 */
import http from 'node:http';
import https from 'node:https';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/** Builds a keep-alive agent for `http:` or `https:` endpoints with an idle limit per socket. */
export function idleTimeoutAgent(opts: { secure: boolean; idleTimeoutMs: number }): http.Agent {
  const arm = (socket: Duplex | null | undefined): void => {
    if (socket instanceof Socket) {
      // destroy() without an error: a request on the socket then fails with
      // "socket hang up" (ECONNRESET, retryable), and an idle pooled socket
      // just closes, with no 'error' event that nobody listens to.
      socket.setTimeout(opts.idleTimeoutMs, () => socket.destroy());
    }
  };
  const agentOpts = { keepAlive: true, maxSockets: 64 };
  if (opts.secure) {
    return new (class extends https.Agent {
      override createConnection(options: http.ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void) {
        const socket = super.createConnection(options, callback);
        arm(socket);
        return socket;
      }
    })(agentOpts);
  }
  return new (class extends http.Agent {
    override createConnection(options: http.ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void) {
      const socket = super.createConnection(options, callback);
      arm(socket);
      return socket;
    }
  })(agentOpts);
}
