import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProtocolError } from './errors.ts';
import { parseActorId } from './ids.ts';
import {
  commandSubject,
  docLogSubject,
  eventSubject,
  gatewaySignalSubject,
  hostLivenessKey,
  leaseKey,
  parseCommandSubject,
  parseDocLogSubject,
  parseEventSubject,
  parseGatewaySignalSubject,
  parseLeaseKey,
} from './subjects.ts';

const ids = ['doc1', 'team/notes:2026.md', 'ünï code'].map(parseActorId);

test('every subject family round-trips through its builder and parser', () => {
  for (const id of ids) {
    assert.deepEqual(parseCommandSubject(commandSubject('doc', id, 'update')), { kind: 'doc', id, name: 'update' });
    assert.deepEqual(parseEventSubject(eventSubject('job', id, 'step-completed')), { kind: 'job', id, name: 'step-completed' });
    assert.equal(parseDocLogSubject(docLogSubject(id)), id);
    assert.deepEqual(parseLeaseKey(leaseKey('doc', id)), { kind: 'doc', id });
  }
  assert.deepEqual(parseGatewaySignalSubject(gatewaySignalSubject('gw-1', 'bye')), { gatewayId: 'gw-1', signal: 'bye' });
});

test('parsers reject malformed subjects with a clear error', () => {
  const bad = ['actor.doc.x', 'actor.nope.x.update', 'actor.doc.x.Update', 'event.doc.=!!.update', 'log.job.x', 'sys.gateway.g.explode', 'actor.doc.a.b.c'];
  for (const subject of bad) {
    const parse = subject.startsWith('actor') ? parseCommandSubject : subject.startsWith('event') ? parseEventSubject : subject.startsWith('log') ? parseDocLogSubject : parseGatewaySignalSubject;
    assert.throws(() => parse(subject), ProtocolError, subject);
  }
  assert.throws(() => commandSubject('doc', ids[0]!, 'has.dot'), ProtocolError);
  assert.equal(hostLivenessKey('pod-7_a'), 'host.pod-7_a');
  assert.throws(() => hostLivenessKey('has.dot'), ProtocolError);
});
