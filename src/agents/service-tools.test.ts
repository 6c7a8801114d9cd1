/**
 * Service tools against a real nats-server: a separate process
 * (src/testing/tool-service.ts) announces tools with a plain NATS client and
 * @nats-io/services; the runner discovers them through $SRV.INFO, validates
 * arguments before calling, sends the call id in a header, and reports a
 * timeout, a service error and a service that went away as tool errors.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { createRootLogger } from '../log.ts';
import { spawnChild, startNatsServer, waitFor, type Child, type NatsServerHandle } from '../testing/index.ts';
import { ServiceToolDirectory } from './service-tools.ts';
import { SchemaValidator } from './schema-validator.ts';
import { AgentToolRunner } from './tool-runner.ts';

const log = createRootLogger({ level: 'silent', instanceId: 'service-tools-test' });

let nats: NatsServerHandle;
let nc: NatsConnection;
let service: Child;
let runner: AgentToolRunner;

function startToolService(prefix: string): Child {
  return spawnChild({ command: process.execPath, args: ['--import', 'tsx', 'src/testing/tool-service.ts', nats.url, prefix], name: `tool-service-${prefix}` });
}

const ctx = (callId: string, signal = new AbortController().signal) => ({ sessionId: 'sess-1', ownerId: 'owner-1', callId, signal });

before(async () => {
  nats = await startNatsServer();
  nc = await connect({ servers: nats.url });
  service = startToolService('svc_');
  await service.waitForLine(/tool service ready/, 30_000);
  const validator = new SchemaValidator();
  const services = new ServiceToolDirectory({
    nc,
    validator,
    reservedNames: new Set(['doc_read']),
    defaultTimeoutMs: 5_000,
    cacheTtlMs: 300,
    minRefreshMs: 100,
    discoveryWaitMs: 2_000,
    log,
  });
  runner = new AgentToolRunner({ builtins: [], services, validator, maxResultBytes: 4_096, log });
});

after(async () => {
  await service?.stop();
  await nc?.close();
  await nats?.dispose();
});

describe('service tools', () => {
  it('discovers the tools a separate process announces, and leaves out malformed and unknown ones', async () => {
    const tools = await runner.list(['svc_lookup', 'svc_slow', 'svc_broken', 'svc_malformed', 'svc_nothing'], new AbortController().signal);
    assert.deepEqual(
      tools.map((t) => t.name),
      ['svc_lookup', 'svc_slow', 'svc_broken'],
    );
    const lookup = tools[0];
    assert.equal(lookup?.source, 'service');
    assert.equal(lookup?.description, 'Looks up an answer');
    assert.deepEqual(lookup?.parameters, { type: 'object', properties: { query: { type: 'string', minLength: 1 } }, required: ['query'], additionalProperties: false });
    assert.equal(tools[1]?.timeoutMs, 300);
    assert.equal(lookup?.timeoutMs, 5_000);
  });

  it('calls a service tool by request/reply with the call id and owner in headers', async () => {
    const result = await runner.call('svc_lookup', { query: 'tides' }, ctx('call-lookup-1'));
    assert.equal(result.ok, true, JSON.stringify(result));
    assert.deepEqual(JSON.parse(result.ok ? result.content : '{}'), { answer: 'answer to tides', callId: 'call-lookup-1', owner: 'owner-1' });
    await service.waitForLine(/tool-call lookup call-lookup-1/);
  });

  it('refuses arguments that fail the announced schema without calling the service', async () => {
    const result = await runner.call('svc_lookup', { query: '' }, ctx('call-bad-args'));
    assert.deepEqual(result, { ok: false, code: 'invalid-arguments', error: 'arguments/query: must NOT have fewer than 1 characters' });
    const counts = JSON.parse((await nc.request('svc_tools.counts', '', { timeout: 5_000 })).string()) as Record<string, number>;
    assert.equal(counts['call-bad-args'], undefined);
  });

  it('reports a service that does not answer within its timeout as a timeout', async () => {
    const result = await runner.call('svc_slow', {}, ctx('call-slow'));
    assert.equal(result.ok, false);
    assert.equal(!result.ok && result.code, 'timeout');
    await service.waitForLine(/tool-call slow call-slow/);
  });

  it("reports a service's error reply as a failed call with its description", async () => {
    const result = await runner.call('svc_broken', {}, ctx('call-broken'));
    assert.deepEqual(result, { ok: false, code: 'failed', error: 'the service refused the call (500): the backend is down' });
  });

  it('reports a tool whose service went away as unavailable, then as unknown once discovery no longer finds it', async () => {
    const other = startToolService('gone_');
    await other.waitForLine(/tool service ready/, 30_000);
    await waitFor(async () => (await runner.list(['gone_lookup'], new AbortController().signal)).length === 1, { what: 'the second service to be discovered' });
    await other.stop();
    const first = await runner.call('gone_lookup', { query: 'x' }, ctx('call-gone-1'));
    assert.equal(first.ok, false);
    assert.ok(!first.ok && (first.code === 'unavailable' || first.code === 'unknown-tool'), JSON.stringify(first));
    await waitFor(async () => {
      const r = await runner.call('gone_lookup', { query: 'x' }, ctx('call-gone-2'));
      return !r.ok && r.code === 'unknown-tool';
    }, { what: 'the stopped service to drop out of discovery' });
  });
});
