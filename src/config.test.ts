import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig, redactedConfig } from './config.ts';

test('an empty environment gives the embedded single-process setup', () => {
  const config = loadConfig({});
  assert.deepEqual([...config.roles], ['gateway', 'actors', 'inference', 'webhooks']);
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

test('the inference role serves its models, else the default model; the API key is optional and redacted', () => {
  assert.deepEqual([...loadConfig({ LOOM_ROLES: 'inference' }).inference.models], ['loom-default']);
  assert.deepEqual([...loadConfig({ LOOM_DEFAULT_MODEL: 'llama3' }).inference.models], ['llama3']);
  const config = loadConfig({ LOOM_ROLES: 'inference', LOOM_INFERENCE_MODELS: 'Qwen/Qwen2.5-7B-Instruct, llama3,llama3', OPENAI_BASE_URL: 'http://gpu:8000/v1' });
  assert.deepEqual([...config.inference.models], ['Qwen/Qwen2.5-7B-Instruct', 'llama3']);
  assert.equal(config.inference.baseUrl, 'http://gpu:8000/v1');
  assert.equal(config.inference.apiKey, 'loom-local-no-key');
  assert.equal(config.inference.concurrency, 8);
  assert.equal(redactedConfig(loadConfig({ OPENAI_API_KEY: 'sk-secret' })).inference.apiKey, '[redacted]');
  assert.throws(() => loadConfig({ LOOM_INFERENCE_MODELS: 'a b' }), ConfigError);
});

test('auth settings default to a generated key, 15 min access and 7 day refresh tokens', () => {
  const config = loadConfig({});
  assert.equal(config.auth.jwtKeys, undefined);
  assert.equal(config.auth.accessTokenTtlS, 900);
  assert.equal(config.auth.refreshTokenTtlS, 604_800);
  assert.deepEqual([...config.auth.allowedOrigins], []);
  assert.equal(config.http.trustProxy, false);
  assert.equal(config.rateLimits.login.refillPerSec, 10 / 60);
});

test('LOOM_JWT_KEYS parses kid:secret pairs, current first, and problems never echo a secret', () => {
  const secret = 'x'.repeat(40);
  const config = loadConfig({ LOOM_JWT_KEYS: `new:${secret}, old:${'y'.repeat(32)}`, LOOM_ALLOWED_ORIGINS: 'https://a.example, https://b.example' });
  assert.deepEqual(config.auth.jwtKeys?.map((k) => k.kid), ['new', 'old']);
  assert.deepEqual([...config.auth.allowedOrigins], ['https://a.example', 'https://b.example']);
  assert.throws(
    () => loadConfig({ LOOM_JWT_KEYS: 'k:tooshortsecret-1234,bad kid:whatever,k:tooshortsecret-1234' }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.problems.length, 3);
      assert.doesNotMatch(err.message, /tooshortsecret/);
      return true;
    },
  );
});

test('redactedConfig hides JWT secrets', () => {
  const config = loadConfig({ LOOM_JWT_KEYS: `k:${'s'.repeat(32)}` });
  assert.doesNotMatch(JSON.stringify(redactedConfig(config)), /s{32}/);
});

test('object storage defaults to the filesystem, and S3 needs both keys', () => {
  const embedded = loadConfig({});
  assert.equal(embedded.objects.s3, undefined);
  assert.equal(embedded.objects.uploadMaxBytes, 100 * 1024 * 1024);
  assert.equal(embedded.objects.publicUrl, undefined);
  const s3 = loadConfig({ LOOM_S3_ENDPOINT: 'http://127.0.0.1:9000', LOOM_S3_ACCESS_KEY: 'ak', LOOM_S3_SECRET_KEY: 'sk', LOOM_PUBLIC_URL: 'https://loom.example/' });
  assert.deepEqual(s3.objects.s3, { endpoint: 'http://127.0.0.1:9000', accessKey: 'ak', secretKey: 'sk', bucket: 'loom', region: 'us-east-1' });
  assert.equal(s3.objects.publicUrl, 'https://loom.example');
  assert.throws(() => loadConfig({ LOOM_S3_ENDPOINT: 'http://127.0.0.1:9000', LOOM_S3_ACCESS_KEY: 'ak' }), /LOOM_S3_SECRET_KEY/);
  assert.throws(() => loadConfig({ LOOM_S3_ENDPOINT: 'http://127.0.0.1:9000/bucket', LOOM_S3_ACCESS_KEY: 'a', LOOM_S3_SECRET_KEY: 's' }), ConfigError);
  assert.throws(() => loadConfig({ LOOM_URL_SIGNING_KEY: 'short' }), /LOOM_URL_SIGNING_KEY/);
});

test('redactedConfig hides the S3 secret and the URL signing key', () => {
  const config = loadConfig({ LOOM_S3_ENDPOINT: 'http://s3:9000', LOOM_S3_ACCESS_KEY: 'ak', LOOM_S3_SECRET_KEY: 'the-s3-secret', LOOM_URL_SIGNING_KEY: 'u'.repeat(40) });
  const text = JSON.stringify(redactedConfig(config));
  assert.doesNotMatch(text, /the-s3-secret|u{40}/);
});

test('webhook settings: https and public targets only by default, a day of retries, and bad values named', () => {
  const config = loadConfig({});
  assert.equal(config.webhooks.allowHttp, false);
  assert.equal(config.webhooks.allowPrivate, false);
  assert.equal(config.webhooks.timeoutMs, 15_000);
  const totalMs = config.webhooks.retryScheduleMs.reduce((a, b) => a + b, 0);
  assert.ok(totalMs > 20 * 3_600_000 && totalMs < 28 * 3_600_000);
  const set = loadConfig({ LOOM_WEBHOOK_RETRY_SCHEDULE_MS: '10, 20,40', LOOM_WEBHOOK_SECRET_KEY: Buffer.alloc(32, 7).toString('base64') });
  assert.deepEqual([...set.webhooks.retryScheduleMs], [10, 20, 40]);
  assert.equal(Buffer.from(set.webhooks.secretKey ?? '', 'base64').length, 32);
  assert.equal(redactedConfig(set).webhooks.secretKey, '[redacted]');
  assert.throws(() => loadConfig({ LOOM_WEBHOOK_RETRY_SCHEDULE_MS: '10,soon' }), (err) => err instanceof ConfigError && /LOOM_WEBHOOK_RETRY_SCHEDULE_MS/.test(err.message));
  assert.throws(() => loadConfig({ LOOM_WEBHOOK_SECRET_KEY: 'c2hvcnQ=' }), (err) => err instanceof ConfigError && /LOOM_WEBHOOK_SECRET_KEY/.test(err.message));
});

test('NATS_URL takes a cluster as comma-separated seeds, refuses other schemes, and redacts every password', () => {
  const seeds = 'nats://gw:pw1@nats-0:4222,nats://gw:pw1@nats-1:4222';
  assert.equal(loadConfig({ NATS_URL: seeds }).nats.url, seeds);
  assert.equal(redactedConfig(loadConfig({ NATS_URL: seeds })).nats.url, 'nats://***@nats-0:4222,nats://***@nats-1:4222');
  assert.throws(() => loadConfig({ NATS_URL: 'nats://a:4222,http://b:4222' }), /NATS_URL/);
});

test('LOOM_NATS_REPLICAS: 1 by default, 1-5 on a cluster, the outbound stream follows it unless set, and the embedded server refuses more than 1', () => {
  assert.equal(loadConfig({}).nats.replicas, 1);
  const r3 = loadConfig({ NATS_URL: 'nats://a:4222,nats://b:4222,nats://c:4222', LOOM_NATS_REPLICAS: '3' });
  assert.equal(r3.nats.replicas, 3);
  assert.equal(r3.webhooks.streamReplicas, 3);
  assert.equal(loadConfig({ NATS_URL: 'nats://a:4222', LOOM_NATS_REPLICAS: '3', LOOM_OUTBOUND_EVENTS_REPLICAS: '1' }).webhooks.streamReplicas, 1);
  assert.throws(() => loadConfig({ NATS_URL: 'nats://a:4222', LOOM_NATS_REPLICAS: '6' }), /LOOM_NATS_REPLICAS/);
  assert.throws(() => loadConfig({ LOOM_NATS_REPLICAS: '3' }), (err) => err instanceof ConfigError && /LOOM_NATS_REPLICAS/.test(err.message));
});

test('activity bounds: claims take half the in-flight bound unless set, and never more than all of it', () => {
  assert.deepEqual(pickBounds(loadConfig({})), [256, 128]);
  assert.deepEqual(pickBounds(loadConfig({ LOOM_ACTIVITY_MAX_IN_FLIGHT: '5' })), [5, 3]);
  assert.deepEqual(pickBounds(loadConfig({ LOOM_ACTIVITY_MAX_IN_FLIGHT: '64', LOOM_ACTIVITY_MAX_CLAIMS_IN_FLIGHT: '60' })), [64, 60]);
  assert.throws(() => loadConfig({ LOOM_ACTIVITY_MAX_CLAIMS_IN_FLIGHT: '300' }), (err) => err instanceof ConfigError && /LOOM_ACTIVITY_MAX_CLAIMS_IN_FLIGHT/.test(err.message));
});

function pickBounds(config: ReturnType<typeof loadConfig>): [number, number] {
  return [config.jobs.activityMaxInFlight, config.jobs.activityMaxClaimsInFlight];
}
