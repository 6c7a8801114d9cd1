import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { idToToken, parseActorId } from '../../protocol/ids.ts';
import {
  artifactKey,
  documentObjectsPrefix,
  InvalidObjectKeyError,
  jobArtifactsPrefix,
  keySegment,
  MAX_OBJECT_KEY_BYTES,
  parseObjectKey,
  parseObjectKeyPrefix,
  segmentToString,
} from './object-key.ts';

describe('object keys', () => {
  it('accept safe segmented keys up to the length limit', () => {
    for (const key of ['a', 'jobs/j-1/compose/document.md', 'uploads/0b7c/notes.v2.md', '=YS9i/x_y-z', 'a'.repeat(MAX_OBJECT_KEY_BYTES)]) {
      assert.equal(parseObjectKey(key), key);
    }
  });

  it('refuse empty, traversal, dot-led, empty-segment, unsafe-character and over-long keys', () => {
    const bad = ['', '..', '../etc/passwd', 'a/../b', './a', 'a/.', '.env', 'a//b', '/a', 'a/', 'a b', 'a?b', 'a%2Fb', 'a~b', 'ü', 'a\u0000b', 'a'.repeat(MAX_OBJECT_KEY_BYTES + 1), Array(17).fill('s').join('/')];
    for (const key of bad) assert.throws(() => parseObjectKey(key), InvalidObjectKeyError, JSON.stringify(key));
  });

  it('accept prefixes ending in / or in a partial segment, and refuse the empty prefix', () => {
    for (const prefix of ['docs/', 'docs/ab', 'jobs/j1/']) assert.equal(parseObjectKeyPrefix(prefix), prefix);
    for (const prefix of ['', '/', '//', 'a//', '../', 'a/.x', 'a b']) assert.throws(() => parseObjectKeyPrefix(prefix), InvalidObjectKeyError, JSON.stringify(prefix));
  });

  it('encode any id as one segment, reversibly, keeping safe spellings as they are', () => {
    assert.equal(keySegment('outline.json'), 'outline.json');
    for (const raw of ['team/notes:2026.md', '..', '.hidden', 'a=b', 'ünïcødé 文档 🚀', 'a b']) {
      const segment = keySegment(raw);
      assert.match(segment, /^=[A-Za-z0-9_-]+$/);
      assert.equal(segmentToString(segment), raw);
      parseObjectKey(segment);
    }
    assert.throws(() => keySegment(''), InvalidObjectKeyError);
    assert.throws(() => keySegment('\ud800'), InvalidObjectKeyError);
    assert.throws(() => segmentToString('=!!'), InvalidObjectKeyError);
  });

  it('give each job step artifact one deterministic key under the job prefix', () => {
    const key = artifactKey('j-42', 'section/3', 'part.md');
    assert.equal(key, artifactKey('j-42', 'section/3', 'part.md'));
    assert.equal(key, `jobs/j-42/${keySegment('section/3')}/part.md`);
    assert.equal(artifactKey('job.1', 'a', 'b'), `jobs/${idToToken(parseActorId('job.1'))}/a/b`, 'job ids spelled as in NATS subjects');
    assert.ok(key.startsWith(jobArtifactsPrefix('j-42')));
    assert.notEqual(artifactKey('j-4', '2/x', 'a'), artifactKey('j-42', 'x', 'a'));
    assert.equal(documentObjectsPrefix('room/a:b'), `docs/${idToToken(parseActorId('room/a:b'))}/`);
    assert.throws(() => artifactKey('j', 's', 'x'.repeat(600)), InvalidObjectKeyError);
  });
});
