/**
 * CPU of the inference worker's model client alone, per streamed call:
 * the suite's fake model server in a child process (its CPU is not
 * counted), `--calls` streamed chat completions through OpenAiModelClient,
 * `--concurrency` at once, each with `--messages` chat messages in and
 * `--tokens` tokens out, over the HTTP transport named by `--transport`.
 * Prints one JSON line: CPU ms per call of this process (user + system).
 *
 *   node --import tsx load-tests/agents/model-client-cpu.ts [--transport global-fetch|undici-fetch|undici-request] [--calls 2000] [--concurrency 16]
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { ChatMessage } from '../../protocol/inference.ts';
import { fetch as undiciFetch } from 'undici';
import { OpenAiModelClient } from '../../src/inference/model-client.ts';
import { modelServerAgent, undiciRequestFetch, type SdkFetch } from '../../src/inference/model-http.ts';
import { startFakeModelServer } from '../../src/testing/index.ts';

const { values } = parseArgs({
  options: {
    serve: { type: 'boolean', default: false },
    tokens: { type: 'string', default: '8' },
    transport: { type: 'string', default: 'undici-request' },
    calls: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '16' },
    messages: { type: 'string', default: '12' },
  },
  strict: true,
});
const tokens = Number(values.tokens);

if (values.serve) {
  const answer = Array.from({ length: tokens }, (_, i) => `t${i} `).join('');
  const server = await startFakeModelServer({ respond: () => answer });
  process.send?.({ baseURL: server.baseURL });
  process.on('disconnect', () => void server.close());
} else {
  const transport = values.transport;
  const agent = modelServerAgent({ connections: Number(values.concurrency), keepAliveTimeoutMs: 30_000 });
  const transports: Record<string, SdkFetch> = {
    'global-fetch': globalThis.fetch,
    // undici's own fetch over the same Agent, for comparison.
    'undici-fetch': (input, init) => undiciFetch(input as string, { ...(init as object), dispatcher: agent }) as unknown as Promise<Response>,
    'undici-request': undiciRequestFetch(agent),
  };
  const fetch = transports[transport];
  if (fetch === undefined) throw new Error(`--transport is one of ${Object.keys(transports).join(', ')}`);
  const child = fork(fileURLToPath(import.meta.url), ['--serve', '--tokens', String(tokens)], { execArgv: ['--import', 'tsx'] });
  const baseURL = await new Promise<string>((resolve) => child.once('message', (m: { baseURL: string }) => resolve(m.baseURL)));
  const client = new OpenAiModelClient({ baseUrl: baseURL, apiKey: 'bench', timeoutMs: 10_000, fetch });
  const messages: ChatMessage[] = [{ role: 'system', content: 'You are a benchmark.' }];
  for (let i = 1; i < Number(values.messages); i++) messages.push({ role: i % 2 === 1 ? 'user' : 'assistant', content: `message ${i} `.repeat(20) });
  const call = { model: 'bench', messages };
  const one = async (): Promise<void> => {
    for await (const _ of client.stream(call, new AbortController().signal));
  };
  const run = async (n: number): Promise<void> => {
    let next = 0;
    await Promise.all(Array.from({ length: Number(values.concurrency) }, async () => {
      while (next++ < n) await one();
    }));
  };
  await run(200); // warm-up: JIT, connections
  const calls = Number(values.calls);
  const cpu = process.cpuUsage();
  const started = performance.now();
  await run(calls);
  const used = process.cpuUsage(cpu);
  const wallMs = performance.now() - started;
  process.stdout.write(`${JSON.stringify({ transport, calls, concurrency: Number(values.concurrency), cpuMsPerCall: Number(((used.user + used.system) / 1000 / calls).toFixed(3)), callsPerSecond: Math.round(calls / (wallMs / 1000)) })}\n`);
  await agent.close();
  child.disconnect();
  child.kill();
}
