/**
 * A webhook receiver for tests: a small HTTP server on 127.0.0.1 that stands
 * for a platform's own system. It records every request and checks its
 * signature with the published `standardwebhooks` library (never Loom's own
 * code) against the secrets the test gives it; a `respond` function picks
 * each answer (a status, a delay, or no answer at all).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface ReceivedWebhook {
  readonly id: string;
  readonly timestamp: string;
  readonly signature: string;
  readonly body: string;
  readonly receivedAt: number;
  /** For each secret the receiver holds: whether the library verified the request with it. */
  readonly verifiedWith: readonly boolean[];
}

/** What to answer: a status (after `delayMs`), or `hang` to keep the request open until the server closes. */
export type ReceiverAnswer = { status: number; delayMs?: number } | 'hang';

export interface WebhookReceiver {
  readonly url: string;
  readonly port: number;
  readonly received: ReceivedWebhook[];
  /** Replaces the secrets verification uses (after a rotation). */
  setSecrets(secrets: readonly string[]): void;
  setResponder(respond: (req: ReceivedWebhook, n: number) => ReceiverAnswer): void;
  close(): Promise<void>;
}

/** True when the library accepts the request with `secret` (false on any verification error). */
export function verifiesWith(secret: string, req: Pick<ReceivedWebhook, 'id' | 'timestamp' | 'signature' | 'body'>): boolean {
  try {
    new Webhook(secret).verify(req.body, { 'webhook-id': req.id, 'webhook-timestamp': req.timestamp, 'webhook-signature': req.signature });
    return true;
  } catch {
    // The library throws WebhookVerificationError for every refusal; a refusal is the answer here.
    return false;
  }
}

export async function startWebhookReceiver(opts: { secrets?: readonly string[]; port?: number } = {}): Promise<WebhookReceiver> {
  let secrets = [...(opts.secrets ?? [])];
  let respond: (req: ReceivedWebhook, n: number) => ReceiverAnswer = () => ({ status: 200 });
  const received: ReceivedWebhook[] = [];
  const hanging = new Set<ServerResponse>();
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const header = (name: string) => String(req.headers[name] ?? '');
      const base = { id: header('webhook-id'), timestamp: header('webhook-timestamp'), signature: header('webhook-signature'), body: Buffer.concat(chunks).toString('utf8') };
      const got: ReceivedWebhook = { ...base, receivedAt: Date.now(), verifiedWith: secrets.map((s) => verifiesWith(s, base)) };
      received.push(got);
      const answer = respond(got, received.length);
      if (answer === 'hang') {
        hanging.add(res);
        return;
      }
      setTimeout(() => res.writeHead(answer.status, { 'content-type': 'text/plain' }).end('ok'), answer.delayMs ?? 0);
    });
  };
  const server: Server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    port,
    received,
    setSecrets: (s) => void (secrets = [...s]),
    setResponder: (r) => void (respond = r),
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
