import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProtocolError } from './errors.ts';
import { parseActorId } from './ids.ts';
import { agentChannel, jobChannel, parseSocketChannel } from './socket.ts';

const isCode = (code: string) => (err: unknown) => err instanceof ProtocolError && err.code === code;

test('/ws channels name a job or an agent session, and their builders invert the parser', () => {
  const id = parseActorId('agent_abc');
  assert.deepEqual(parseSocketChannel(agentChannel(id)), { kind: 'agent', id });
  assert.deepEqual(parseSocketChannel(jobChannel(parseActorId('job_1'))), { kind: 'job', id: 'job_1' });
  // Ids may contain ':' themselves; only the first one separates the kind.
  assert.deepEqual(parseSocketChannel('agent:a:b'), { kind: 'agent', id: 'a:b' });
  for (const bad of ['doc:x', 'agents:x', 'agent', 'x']) assert.throws(() => parseSocketChannel(bad), isCode('invalid-subject'), bad);
  assert.throws(() => parseSocketChannel('agent:'), isCode('invalid-id'));
});
