/**
 * A minimal Server-Sent Events client for the benchmark: hands each event to
 * a callback the moment its block is parsed (with the receive time), instead
 * of collecting them, so the figures see when the client had each event.
 */

export interface SseMessage {
  readonly id: string | undefined;
  readonly event: string;
  readonly data: string;
}

export interface SseStream {
  /** Resolves when the stream ends (server closed, error, or close()). */
  readonly done: Promise<void>;
  close(): void;
}

export class SseOpenError extends Error {
  override readonly name = 'SseOpenError';
  readonly code = 'sse-open';
  constructor(readonly status: number, body: string) {
    super(`event stream answered ${status}: ${body.slice(0, 300)}`);
  }
}

function parseBlock(block: string): SseMessage | null {
  let id: string | undefined;
  let event = 'message';
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'id') id = value;
    else if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  return data.length === 0 && id === undefined ? null : { id, event, data: data.join('\n') };
}

/**
 * Opens `url` as an event stream; resolves once the server answered 200.
 * @throws SseOpenError for any other status.
 */
export async function followSse(url: string, headers: Record<string, string>, onMessage: (message: SseMessage, receivedAt: number) => void): Promise<SseStream> {
  const abort = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
  if (res.status !== 200 || res.body === null) throw new SseOpenError(res.status, await res.text());
  const body = res.body;
  const pump = async () => {
    const decoder = new TextDecoder();
    let buffered = '';
    for await (const chunk of body) {
      const receivedAt = performance.now();
      buffered += decoder.decode(chunk, { stream: true });
      let cut: number;
      while ((cut = buffered.indexOf('\n\n')) >= 0) {
        const message = parseBlock(buffered.slice(0, cut));
        buffered = buffered.slice(cut + 2);
        if (message !== null) onMessage(message, receivedAt);
      }
    }
  };
  const done = pump().catch((err: unknown) => {
    // Closing aborts the read: that end is ours, not a failure.
    if (!abort.signal.aborted) throw err;
  });
  return { done, close: () => abort.abort() };
}
