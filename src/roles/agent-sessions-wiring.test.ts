/**
 * The agent tool limits a host runs with: LOOM_AGENT_TOOL_MAX_RESULT_BYTES
 * is capped to what one NATS message holds, with a warning naming both values.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { loadConfig } from '../config.ts';
import { agentToolLimits } from './agent-sessions-wiring.ts';
import { PAYLOAD_HEADROOM_BYTES } from './payload-limits.ts';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  return { lines, log: pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) }) };
}

test('a tool result limit above max_payload is capped with a warning naming both values', () => {
  const { lines, log } = capture();
  const config = loadConfig({ LOOM_AGENT_TOOL_MAX_RESULT_BYTES: String(4 * 1024 * 1024) });
  const maxPayload = 1024 * 1024;
  const limits = agentToolLimits(config, maxPayload, log);
  assert.equal(limits.maxResultBytes, maxPayload - PAYLOAD_HEADROOM_BYTES);
  const warning = lines.find((l) => l['setting'] === 'LOOM_AGENT_TOOL_MAX_RESULT_BYTES');
  assert.ok(warning !== undefined, 'a warning names the setting');
  assert.equal(warning['configured'], 4 * 1024 * 1024);
  assert.equal(warning['maxPayload'], maxPayload);
  assert.equal(limits.jobMaxInputBytes, config.jobs.maxInputBytes);
});

test('a tool result limit that fits is kept, without a warning', () => {
  const { lines, log } = capture();
  const limits = agentToolLimits(loadConfig({ LOOM_AGENT_TOOL_MAX_RESULT_BYTES: String(64 * 1024) }), 1024 * 1024, log);
  assert.equal(limits.maxResultBytes, 64 * 1024);
  assert.deepEqual(lines, []);
});
