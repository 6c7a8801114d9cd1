import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkLiteralHost, isForbiddenAddress } from './address-guard.ts';

test('loopback, private, link-local, metadata, CGNAT and mapped addresses are forbidden; public ones are not', () => {
  for (const a of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', 'fd00:ec2::254', 'fe80::1', '::ffff:127.0.0.1', '::ffff:169.254.169.254']) {
    assert.equal(isForbiddenAddress(a), true, a);
  }
  for (const a of ['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111', '::ffff:8.8.8.8']) {
    assert.equal(isForbiddenAddress(a), false, a);
  }
});

test('IP-literal hosts are judged without DNS; names are left to the resolver', () => {
  assert.match(checkLiteralHost('169.254.169.254')?.message ?? '', /metadata/);
  assert.notEqual(checkLiteralHost('[::1]'), null);
  assert.equal(checkLiteralHost('hooks.example.com'), null);
  assert.equal(checkLiteralHost('8.8.8.8'), null);
});
