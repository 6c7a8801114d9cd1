import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseServiceToolMetadata, SERVICE_TOOL_METADATA as K } from './agent-tools.ts';

const schema = JSON.stringify({ type: 'object', properties: { q: { type: 'string' } } });

describe('parseServiceToolMetadata', () => {
  it('reads a full announcement', () => {
    assert.deepEqual(parseServiceToolMetadata({ [K.name]: 'lookup', [K.description]: 'Looks up', [K.schema]: schema, [K.timeoutMs]: '2500', [K.needsApproval]: 'true' }), {
      name: 'lookup',
      description: 'Looks up',
      parameters: { type: 'object', properties: { q: { type: 'string' } } },
      timeoutMs: 2_500,
      needsApproval: true,
    });
  });

  it('treats an endpoint without a tool name as no tool', () => {
    assert.equal(parseServiceToolMetadata(undefined), null);
    assert.equal(parseServiceToolMetadata({ other: 'x' }), null);
  });

  it('names the key at fault in a malformed announcement', () => {
    const base = { [K.name]: 'lookup', [K.description]: 'Looks up', [K.schema]: schema };
    assert.throws(() => parseServiceToolMetadata({ ...base, [K.name]: 'has space' }), /^Error: loom\.tool\.name: /);
    assert.throws(() => parseServiceToolMetadata({ ...base, [K.description]: '' }), /^Error: loom\.tool\.description: /);
    assert.throws(() => parseServiceToolMetadata({ ...base, [K.schema]: '{nope' }), /loom\.tool\.schema: is not JSON/);
    assert.throws(() => parseServiceToolMetadata({ ...base, [K.schema]: '{"type":"string"}' }), /loom\.tool\.schema: must be a JSON Schema of an object/);
    assert.throws(() => parseServiceToolMetadata({ ...base, [K.timeoutMs]: '5' }), /loom\.tool\.timeout_ms: /);
    assert.throws(() => parseServiceToolMetadata({ ...base, [K.timeoutMs]: 'soon' }), /loom\.tool\.timeout_ms: /);
    assert.throws(() => parseServiceToolMetadata({ ...base, [K.needsApproval]: 'yes' }), /loom\.tool\.needs_approval: /);
  });
});
