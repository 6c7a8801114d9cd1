import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from './config.ts';

test('an empty environment gives the embedded single-process setup', () => {
  const config = loadConfig({});
  assert.deepEqual([...config.roles], ['gateway', 'actors']);
  assert.equal(config.nats.url, undefined);
  assert.equal(config.database.url, undefined);
  assert.equal(config.http.port, 1234);
  assert.ok(Object.isFrozen(config.documents));
});

test('every invalid variable is reported at once', () => {
  assert.throws(
    () => loadConfig({ PORT: 'x', LOOM_ROLES: 'gateway,bogus', DATABASE_URL: 'mysql://x' }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.problems.length, 3);
      assert.match(err.message, /unknown role\(s\) bogus/);
      assert.match(err.message, /DATABASE_URL/);
      return true;
    },
  );
});

test('roles are parsed from a comma list and deduplicated', () => {
  assert.deepEqual([...loadConfig({ LOOM_ROLES: ' actors, actors ' }).roles], ['actors']);
});
