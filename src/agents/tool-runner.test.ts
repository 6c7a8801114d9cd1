/**
 * The runner's own rules, with small in-process tools: unknown names,
 * schema failures naming the path, arguments as JSON text, the tool's
 * timeout and the caller's cancel (even for a tool that ignores its signal),
 * result caps, and failures that never reach the caller as exceptions.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { ToolCallContext, ToolDescriptor } from '../../actors/agent/tool.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import { createRootLogger } from '../log.ts';
import { capResult } from './result-cap.ts';
import type { RunnableTool } from './runnable-tool.ts';
import { SchemaValidator } from './schema-validator.ts';
import { ToolFailure } from './tool-failure.ts';
import { AgentToolRunner } from './tool-runner.ts';

const log = createRootLogger({ level: 'silent', instanceId: 'tool-runner-test' });

function tool(name: string, run: RunnableTool['run'], extra: Partial<ToolDescriptor> = {}): RunnableTool {
  return {
    descriptor: {
      name,
      description: name,
      parameters: { type: 'object', properties: { n: { type: 'integer', minimum: 0 }, s: { type: 'string' } }, additionalProperties: false },
      timeoutMs: 5_000,
      needsApproval: false,
      source: 'builtin',
      ...extra,
    },
    run,
  };
}

/** Never settles: a tool that ignores its signal. */
const hang = () => new Promise<string>(() => undefined);

const runner = new AgentToolRunner({
  builtins: [
    tool('echo', (args) => Promise.resolve(JSON.stringify(args))),
    tool('big', () => Promise.resolve('é'.repeat(1_000))),
    tool('hang', hang, { timeoutMs: 100 }),
    tool('refuse', () => Promise.reject(new ToolFailure('not-found', 'nothing there'))),
    tool('protocol', () => Promise.reject(new ProtocolError('mailbox-full', 'busy'))),
    tool('crash', () => Promise.reject(new TypeError('secret internal detail'))),
    tool('throws-sync', () => {
      throw new Error('thrown before any promise');
    }),
  ],
  validator: new SchemaValidator(),
  maxResultBytes: 200,
  log,
});

const ctx = (signal: AbortSignal = new AbortController().signal): ToolCallContext => ({ sessionId: 's', ownerId: 'o', callId: 'c', signal });

describe('AgentToolRunner', () => {
  it('lists every built-in without names, and only the known ones it was asked for', async () => {
    const signal = new AbortController().signal;
    assert.equal((await runner.list(undefined, signal)).length, 7);
    assert.deepEqual(
      (await runner.list(['echo', 'nope', 'echo', 'hang'], signal)).map((t) => t.name),
      ['echo', 'hang'],
    );
  });

  it('runs a tool with parsed arguments, and accepts them as JSON text too', async () => {
    assert.deepEqual(await runner.call('echo', { n: 1 }, ctx()), { ok: true, content: '{"n":1}' });
    assert.deepEqual(await runner.call('echo', '{"s":"x"}', ctx()), { ok: true, content: '{"s":"x"}' });
  });

  it('answers unknown tools and arguments failing the schema as tool errors naming the path', async () => {
    assert.deepEqual(await runner.call('nope', {}, ctx()), { ok: false, code: 'unknown-tool', error: 'no tool named "nope"' });
    assert.deepEqual(await runner.call('echo', { n: -1 }, ctx()), { ok: false, code: 'invalid-arguments', error: 'arguments/n: must be >= 0' });
    assert.deepEqual(await runner.call('echo', { extra: true }, ctx()), { ok: false, code: 'invalid-arguments', error: "arguments: must NOT have additional properties 'extra'" });
    assert.deepEqual(await runner.call('echo', '{oops', ctx()), { ok: false, code: 'invalid-arguments', error: 'arguments: not a JSON object' });
    assert.deepEqual(await runner.call('echo', [1], ctx()), { ok: false, code: 'invalid-arguments', error: 'arguments: must be object' });
  });

  it("ends a call at the tool's timeout even when the tool ignores its signal", async () => {
    const result = await runner.call('hang', {}, ctx());
    assert.deepEqual(result, { ok: false, code: 'timeout', error: 'the tool did not finish within 100 ms' });
  });

  it('ends a call when the caller cancels, and refuses to start one already cancelled', async () => {
    const controller = new AbortController();
    const running = runner.call('hang', {}, { ...ctx(controller.signal) });
    controller.abort();
    assert.equal((await running).ok ? 'ok' : (await running as { code: string }).code, 'cancelled');
    assert.equal(((await runner.call('echo', {}, ctx(controller.signal))) as { code: string }).code, 'cancelled');
  });

  it('caps a long result with a note', async () => {
    const result = await runner.call('big', {}, ctx());
    assert.equal(result.ok, true);
    const text = result.ok ? result.content : '';
    assert.ok(Buffer.byteLength(text) <= 200, `${Buffer.byteLength(text)} bytes`);
    assert.match(text, /^é+\n\[truncated: the result has 2000 bytes; only the first part is shown\]$/);
  });

  it('maps failures to codes and hides what is not public, without ever throwing', async () => {
    assert.deepEqual(await runner.call('refuse', {}, ctx()), { ok: false, code: 'not-found', error: 'nothing there' });
    assert.deepEqual(await runner.call('protocol', {}, ctx()), { ok: false, code: 'unavailable', error: 'busy' });
    assert.deepEqual(await runner.call('crash', {}, ctx()), { ok: false, code: 'failed', error: 'the tool failed unexpectedly' });
    assert.deepEqual(await runner.call('throws-sync', {}, ctx()), { ok: false, code: 'failed', error: 'the tool failed unexpectedly' });
  });
});

describe('AgentToolRunner logging', () => {
  it('logs a call that worked at debug only, and one that failed at info', async () => {
    const lines: Array<{ level: number; msg: string; ok?: boolean }> = [];
    const sink = { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string; ok?: boolean }) };
    const logged = new AgentToolRunner({
      builtins: [tool('echo', (args) => Promise.resolve(JSON.stringify(args))), tool('refuse', () => Promise.reject(new ToolFailure('not-found', 'nothing there')))],
      validator: new SchemaValidator(),
      maxResultBytes: 200,
      log: pino({ level: 'info' }, sink),
    });
    await logged.call('echo', { n: 1 }, ctx());
    await logged.call('refuse', {}, ctx());
    assert.deepEqual(
      lines.filter((l) => l.msg === 'tool call').map((l) => l.ok),
      [false],
    );
  });
});

describe('capResult', () => {
  it('keeps what fits and never splits a character', () => {
    assert.equal(capResult('short', 10), 'short');
    const capped = capResult('😀'.repeat(50), 90);
    assert.ok(Buffer.byteLength(capped) <= 90);
    assert.doesNotMatch(capped, /\uFFFD/);
  });

  it('measures what the session log stores: the JSON text, escapes included', () => {
    // 200 KiB of control characters: 200 KiB of UTF-8, but 1.2 MB once written in JSON.
    const controls = '\u0001'.repeat(200 * 1024);
    const capped = capResult(controls, 32 * 1024);
    assert.ok(Buffer.byteLength(JSON.stringify(capped)) - 2 <= 32 * 1024, `JSON text of ${Buffer.byteLength(JSON.stringify(capped))} bytes`);
    assert.match(capped, /\[truncated: the result has 204800 bytes/);
    const lines = capResult('\n'.repeat(20_000), 10_000);
    assert.ok(Buffer.byteLength(JSON.stringify(lines)) - 2 <= 10_000);
    assert.equal(capResult('"quoted"', 10), '"quoted"', 'ten bytes of JSON text fit ten');
  });
});
