import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkContentType } from './object-request.ts';
import { InvalidObjectRequestError } from './object-store-error.ts';

test('content types: type/subtype with token or quoted parameters (RFC 9110), refused otherwise', () => {
  for (const ok of ['text/plain', 'text/plain; charset=utf-8', 'multipart/form-data; boundary="a b;c"', 'a/b; x="q\\"uote"; y=z', 'application/vnd.api+json']) assert.equal(checkContentType(ok), ok);
  for (const bad of ['', 'text', 'text/plain; x="open', 'a/b; x="bad"quote"', 'a/b;', `a/${'b'.repeat(300)}`]) assert.throws(() => checkContentType(bad), InvalidObjectRequestError, bad);
});

test('a content type built to make the former expression backtrack is refused at once', () => {
  // 158 characters of this took the former pattern 10 s, 230 would take hours: a quote could both end a value and sit inside one.
  assert.throws(() => checkContentType(`!/!${';!="";!="" '.repeat(20)}\u0001`), InvalidObjectRequestError);
});
