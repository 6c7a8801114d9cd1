import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProtocolError } from './errors.ts';
import { parseActorId } from './ids.ts';
import {
  commandSubject,
  docChangeMarkSubject,
  DOC_CHANGE_MARKS,
  docLogSubject,
  DOC_UPDATE_REPUBLISH,
  eventSubject,
  gatewaySignalSubject,
  hostLivenessKey,
  leaseKey,
  parseCommandSubject,
  parseDocChangeMarkSubject,
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
    assert.equal(parseDocChangeMarkSubject(docChangeMarkSubject(id)), id);
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
  // A mark and an update never read as each other, and marks stay outside a document's own log subject.
  assert.throws(() => parseDocLogSubject(docChangeMarkSubject(ids[0]!)), ProtocolError);
  assert.throws(() => parseDocChangeMarkSubject(docLogSubject(ids[0]!)), ProtocolError);
  assert.throws(() => parseDocChangeMarkSubject('log.doc.x.other'), ProtocolError);
  assert.ok(docChangeMarkSubject(ids[0]!).startsWith(`${docLogSubject(ids[0]!)}.`));
  assert.equal(DOC_CHANGE_MARKS.split('.').length, 4);
  assert.equal(hostLivenessKey('pod-7_a'), 'host.pod-7_a');
  assert.throws(() => hostLivenessKey('has.dot'), ProtocolError);
});

test('the log stream republishes a document\'s entries on its update event subject, and never its change marks', () => {
  const matches = (pattern: string, subject: string) => {
    const p = pattern.split('.');
    const s = subject.split('.');
    return p.length === s.length && p.every((t, i) => t === '*' || t === s[i]);
  };
  for (const id of ids) {
    const log = docLogSubject(id);
    assert.ok(matches(DOC_UPDATE_REPUBLISH.src, log));
    assert.ok(!matches(DOC_UPDATE_REPUBLISH.src, docChangeMarkSubject(id)));
    // What nats-server makes of {{wildcard(1)}}: the token the first `*` matched.
    const token = log.split('.')[2]!;
    assert.equal(DOC_UPDATE_REPUBLISH.dest.replace('{{wildcard(1)}}', token), eventSubject('doc', id, 'update'));
  }
});
