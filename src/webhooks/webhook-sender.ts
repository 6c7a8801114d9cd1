/**
 * One HTTP attempt of one delivery: POST the body with the signed headers,
 * success on any 2xx within the timeout. Redirects are not followed (a 3xx
 * is a failure), and at most MAX_RESPONSE_BYTES of the answer is read.
 * Connections are kept alive per origin: most endpoints receive many events.
 *
 * The client is undici's Agent driven through its low-level `dispatch`
 * (no stream per response, no AbortSignal per request): node:http's
 * ClientRequest was about half the dispatcher's CPU profile. The SSRF
 * guard rides in the connector's `lookup`, so every new connection goes to
 * the address that was checked (DNS rebinding gains nothing).
 */
import { Agent, type Dispatcher } from 'undici';
import { checkLiteralHost, guardedLookup } from './address-guard.ts';
import type { SignedHeaders } from './signature.ts';

/** The part of a response body read at most; the rest is cut off (the status is what counts). */
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
  /** Connections per target origin. */
  readonly maxSocketsPerOrigin?: number;
}

/** Raised into the attempt to end it: the whole attempt (queue, connect, send, answer) ran past the timeout. */
class AttemptTimeoutError extends Error {
  override readonly name = 'AttemptTimeoutError';
}

/** Ends the read of an answer past MAX_RESPONSE_BYTES; not a failure, its status stands. */
class AnswerCutError extends Error {
  override readonly name = 'AnswerCutError';
}

export class WebhookSender {
  readonly #opts: WebhookSenderOptions;
  readonly #agent: Agent;

  constructor(opts: WebhookSenderOptions) {
    this.#opts = opts;
    this.#agent = new Agent({
      connections: opts.maxSocketsPerOrigin ?? 8,
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
      connect: { timeout: opts.timeoutMs, ...(opts.allowPrivate ? {} : { lookup: guardedLookup }) },
    });
  }

  /** Never throws: every failure is an outcome. */
  send(url: string, headers: SignedHeaders, body: string): Promise<AttemptOutcome> {
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
      return Promise.resolve(done(null, 'invalid URL'));
    }
    if (!this.#opts.allowPrivate) {
      // Sockets skip `lookup` for IP literals, so those are judged here.
      const refused = checkLiteralHost(target.hostname);
      if (refused !== null) return Promise.resolve(done(null, refused.message));
    }
    const timeoutMs = this.#opts.timeoutMs;
    return new Promise<AttemptOutcome>((resolve) => {
      let status: number | null = null;
      let read = 0;
      let settled = false;
      let controller: Dispatcher.DispatchController | undefined;
      const statusOutcome = () => done(status, status !== null && status >= 200 && status < 300 ? null : `HTTP ${status ?? '?'}`);
      const settle = (outcome: AttemptOutcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(outcome);
      };
      // One timer for the whole attempt; before the request reaches a socket there is nothing to abort yet.
      const timer = setTimeout(() => {
        const err = new AttemptTimeoutError(`no answer within ${timeoutMs} ms`);
        settle(done(null, err.message));
        controller?.abort(err);
      }, timeoutMs);
      const handler: Dispatcher.DispatchHandler = {
        onRequestStart(c) {
          controller = c;
          // It timed out while queued for a connection: do not send it at all.
          if (settled) c.abort(new AttemptTimeoutError('timed out before sending'));
        },
        onResponseStart(_c, statusCode) {
          status = statusCode;
        },
        onResponseData(c, chunk) {
          read += chunk.length;
          // Enough for the log: stop reading a big (or endless) answer.
          if (read > MAX_RESPONSE_BYTES) c.abort(new AnswerCutError('answer over the read limit'));
        },
        onResponseEnd() {
          settle(statusOutcome());
        },
        onResponseError(_c, err) {
          settle(err instanceof AnswerCutError ? statusOutcome() : done(null, err.message.slice(0, 300)));
        },
      };
      try {
        this.#agent.dispatch(
          {
            origin: target.origin,
            path: `${target.pathname}${target.search}`,
            method: 'POST',
            headers: { ...headers, 'content-type': 'application/json', 'user-agent': 'Loom-Webhooks/1' },
            body,
          },
          handler,
        );
      } catch (err) {
        // A request undici refuses to build (a header it rejects) is a failed attempt, like any other.
        settle(done(null, err instanceof Error ? err.message.slice(0, 300) : String(err)));
      }
    });
  }

  /** Closes every connection; attempts still running end as failures. */
  async close(): Promise<void> {
    await this.#agent.destroy();
  }
}
