import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProtocolError } from './errors.ts';
import { MAX_ID_BYTES, idToToken, parseActorId, tokenToId } from './ids.ts';

test('plain ids are their own token and every other id round-trips through an encoded token', () => {
  for (const raw of ['abc', 'A-b_9', 'team/notes:2026.md', 'ünïcode ✓', 'a.b', '=x', '>', '*', ' spaced ', 'x'.repeat(MAX_ID_BYTES)]) {
    const id = parseActorId(raw);
    const token = idToToken(id);
    assert.match(token, /^[A-Za-z0-9_=-]+$/, `token of ${raw} is subject- and KV-safe`);
    assert.equal(tokenToId(token), raw);
  }
  assert.equal(idToToken(parseActorId('plain-id_1')), 'plain-id_1');
  assert.ok(idToToken(parseActorId('a/b')).startsWith('='));
});

test('ids are refused only for emptiness, length or control characters', () => {
  for (const bad of ['', 'x'.repeat(MAX_ID_BYTES + 1), 'a\u0000b', 'tab\there', 'del\u007f', 'ü'.repeat(101)]) {
    assert.throws(() => parseActorId(bad), (e: unknown) => e instanceof ProtocolError && e.code === 'invalid-id');
  }
});

test('tokens that idToToken never produces are rejected, so each id has exactly one token', () => {
  for (const bad of ['=', '=@@', `=${Buffer.from('plain').toString('base64url')}`, 'a.b', '']) {
    assert.throws(() => tokenToId(bad), ProtocolError);
  }
});
