/**
 * One HTTP attempt of one delivery: POST the body with the signed headers,
 * success on any 2xx within the timeout. Redirects are not followed (a 3xx
 * is a failure), and at most MAX_RESPONSE_BYTES of the answer is read, kept
 * for the delivery log. Connections are kept alive per process: most
 * endpoints receive many events.
 */
import http from 'node:http';
import https from 'node:https';
import { checkLiteralHost, guardedLookup } from './address-guard.ts';
import type { SignedHeaders } from './signature.ts';

/** The part of a response body kept for the delivery log. */
export const MAX_RESPONSE_BYTES = 4_096;

export interface AttemptOutcome {
  /** The HTTP status, or null when none came (refused address, DNS, connect, timeout). */
  readonly status: number | null;
  readonly ok: boolean;
  readonly latencyMs: number;
  /** Why it failed, short; null on success. */
  readonly error: string | null;
}

export interface WebhookSenderOptions {
  readonly timeoutMs: number;
  readonly allowPrivate: boolean;
  /** Sockets per target origin. */
  readonly maxSocketsPerOrigin?: number;
}

export class WebhookSender {
  readonly #opts: WebhookSenderOptions;
  readonly #http: http.Agent;
  readonly #https: https.Agent;

  constructor(opts: WebhookSenderOptions) {
    this.#opts = opts;
    const agentOpts = { keepAlive: true, maxSockets: opts.maxSocketsPerOrigin ?? 8, ...(opts.allowPrivate ? {} : { lookup: guardedLookup }) };
    this.#http = new http.Agent(agentOpts);
    this.#https = new https.Agent(agentOpts);
  }

  /** Never throws: every failure is an outcome. */
  async send(url: string, headers: SignedHeaders, body: string): Promise<AttemptOutcome> {
    const started = performance.now();
    const done = (status: number | null, error: string | null): AttemptOutcome => ({
      status,
      ok: error === null && status !== null && status >= 200 && status < 300,
      latencyMs: Math.round(performance.now() - started),
      error,
    });
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      // Stored URLs were validated at creation; one that no longer parses is a failed attempt, not a crash.
      return done(null, 'invalid URL');
    }
    if (!this.#opts.allowPrivate) {
      const refused = checkLiteralHost(target.hostname);
      if (refused !== null) return done(null, refused.message);
    }
    return new Promise<AttemptOutcome>((resolve) => {
      // One timer for the whole attempt (connect, send, answer): cheaper per request than an AbortSignal.
      let timer: NodeJS.Timeout | undefined;
      const settle = (outcome: AttemptOutcome) => {
        clearTimeout(timer);
        resolve(outcome);
      };
      const client = target.protocol === 'https:' ? https : http;
      const req = client.request(
        target,
        {
          method: 'POST',
          agent: target.protocol === 'https:' ? this.#https : this.#http,
          headers: { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'user-agent': 'Loom-Webhooks/1' },
        },
        (res) => {
          let read = 0;
          res.on('data', (chunk: Buffer) => {
            read += chunk.length;
            // Enough for the log: stop reading a big (or endless) answer.
            if (read > MAX_RESPONSE_BYTES) res.destroy();
          });
          const status = res.statusCode ?? null;
          const finish = () => settle(done(status, status !== null && status >= 200 && status < 300 ? null : `HTTP ${status ?? '?'}`));
          res.on('end', finish);
          res.on('close', finish);
          res.on('error', finish);
        },
      );
      timer = setTimeout(() => req.destroy(new Error(`no answer within ${this.#opts.timeoutMs} ms`)), this.#opts.timeoutMs);
      req.on('error', (err: Error) => settle(done(null, err.message.slice(0, 300))));
      req.end(body);
    });
  }

  close(): void {
    this.#http.destroy();
    this.#https.destroy();
  }
}
