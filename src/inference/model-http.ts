/**
 * The HTTP under the `openai` SDK (its `fetch` option). Node's global fetch
 * runs every call through the WHATWG fetch machinery (Request, fetch
 * controller, body mixins) of the undici bundled with Node; in the agent
 * benchmark that was most of the SDK's quarter of the inference worker.
 * `undiciRequestFetch` answers the SDK's fetch calls with undici's plain
 * `request` over one keep-alive Agent and hands back a standard Response
 * whose body streams the socket, so the SDK parses, streams and classifies
 * errors exactly as before (an abort still rejects with name `AbortError`).
 */
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { Agent, request, type Dispatcher } from 'undici';

/** The fetch signature the SDK calls (openai `Fetch`). */
export type SdkFetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

export interface ModelHttpOptions {
  /** Connections kept open to the model server (the worker's concurrency is a good value). */
  readonly connections: number;
  /** How long an idle connection is kept. */
  readonly keepAliveTimeoutMs: number;
}

/** A keep-alive Agent for one model server; `close()` it when the worker stops. */
export function modelServerAgent(opts: ModelHttpOptions): Agent {
  return new Agent({ connections: opts.connections, keepAliveTimeout: opts.keepAliveTimeoutMs, keepAliveMaxTimeout: opts.keepAliveTimeoutMs });
}

const NO_BODY_STATUS = new Set([101, 204, 205, 304]);

/**
 * A fetch for the SDK over `dispatcher`. Only what the SDK sends is
 * supported: a string URL or URL, a string (or absent) body, headers,
 * method and signal.
 * @throws TypeError for a Request object or a non-string body (the SDK sends neither for chat completions).
 */
export function undiciRequestFetch(dispatcher: Dispatcher): SdkFetch {
  return async (input, init) => {
    if (typeof input !== 'string' && !(input instanceof URL)) throw new TypeError('model HTTP: a Request object as input is not supported');
    const body = init?.body;
    if (body !== undefined && body !== null && typeof body !== 'string') throw new TypeError('model HTTP: only string bodies are supported');
    const headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((value, name) => {
      headers[name] = value;
    });
    const res = await request(input, {
      dispatcher,
      method: (init?.method ?? 'GET') as Dispatcher.HttpMethod,
      headers,
      body: body ?? null,
      signal: init?.signal ?? null,
    });
    const out = new Headers();
    for (const [name, value] of Object.entries(res.headers)) {
      if (value === undefined) continue;
      for (const v of Array.isArray(value) ? value : [value]) out.append(name, v);
    }
    if (NO_BODY_STATUS.has(res.statusCode)) {
      res.body.resume();
      return new Response(null, { status: res.statusCode, headers: out });
    }
    // Node's web stream type and the DOM lib's describe the same object.
    const stream = Readable.toWeb(res.body) as NodeReadableStream<Uint8Array> as unknown as ReadableStream<Uint8Array>;
    return new Response(stream, { status: res.statusCode, headers: out });
  };
}
