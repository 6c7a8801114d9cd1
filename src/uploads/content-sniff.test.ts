import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FILE_SAMPLES as SAMPLES } from '../testing/index.ts';
import { contentMismatch } from './content-sniff.ts';

test('binary types pass when their magic bytes say so, aliases included', async () => {
  const ok: Array<[string, Buffer]> = [
    ['image/png', SAMPLES.png],
    ['image/jpeg', SAMPLES.jpeg],
    ['image/jpg', SAMPLES.jpeg],
    ['image/gif', SAMPLES.gif],
    ['image/webp', SAMPLES.webp],
    ['application/pdf', SAMPLES.pdf],
    ['audio/wav', SAMPLES.wav],
    ['audio/x-wav', SAMPLES.wav],
    ['audio/mpeg', SAMPLES.mp3],
    ['audio/ogg', SAMPLES.ogg],
    ['video/mp4', SAMPLES.mp4],
    ['audio/mp4', SAMPLES.mp4],
    ['video/webm', SAMPLES.webm],
    ['audio/webm', SAMPLES.webm],
  ];
  for (const [type, bytes] of ok) assert.equal(await contentMismatch(type, bytes, true), null, type);
});

test('an SVG or HTML page declared as an image, or one format declared as another, is refused', async () => {
  assert.match((await contentMismatch('image/png', SAMPLES.svg, true)) ?? '', /not recognisable as image\/png/);
  assert.match((await contentMismatch('image/png', SAMPLES.html, true)) ?? '', /not recognisable/);
  assert.match((await contentMismatch('image/png', SAMPLES.jpeg, true)) ?? '', /image\/jpeg.*not image\/png/);
  assert.match((await contentMismatch('audio/mpeg', SAMPLES.pdf, true)) ?? '', /application\/pdf/);
  assert.notEqual(await contentMismatch('application/pdf', Buffer.from('not a pdf at all'), true), null);
  assert.notEqual(await contentMismatch('video/mp4', SAMPLES.webm, true), null);
});

test('text types need UTF-8 without NUL, and JSON or VTT need their start', async () => {
  assert.equal(await contentMismatch('text/plain', Buffer.from('hello, 世界 🌍\n'), true), null);
  assert.equal(await contentMismatch('text/markdown; charset=utf-8', Buffer.from('# Title\n\n<b>inline html is markdown</b>'), true), null);
  assert.equal(await contentMismatch('text/csv', Buffer.from('\uFEFFa,b\n1,2\n'), true), null);
  assert.equal(await contentMismatch('application/json', Buffer.from('  {"a": [1, 2]}'), true), null);
  assert.equal(await contentMismatch('text/vtt', Buffer.from('WEBVTT\n\n00:00.000 --> 00:01.000\nhi\n'), true), null);

  assert.match((await contentMismatch('text/plain', SAMPLES.png, true)) ?? '', /image\/png/);
  assert.match((await contentMismatch('text/plain', Buffer.from('a\u0000b'), true)) ?? '', /NUL/);
  assert.match((await contentMismatch('text/csv', Buffer.from('caf\xe9,1\n', 'latin1'), true)) ?? '', /UTF-8/);
  assert.match((await contentMismatch('application/json', Buffer.from('<html></html>'), true)) ?? '', /not JSON/);
  assert.match((await contentMismatch('text/vtt', Buffer.from('1\n00:00:00,000 --> 00:00:01,000\n'), true)) ?? '', /WEBVTT/);
});

test('a multi-byte character cut off by the head read is not taken for bad UTF-8', async () => {
  const text = Buffer.from('ab🌍');
  const cut = text.subarray(0, text.length - 1);
  assert.equal(await contentMismatch('text/plain', cut, false), null);
  assert.notEqual(await contentMismatch('text/plain', cut, true), null, 'but at the real end of the file it is');
});
