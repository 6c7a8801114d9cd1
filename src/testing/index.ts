/**
 * testing/: harness that starts real servers and processes for tests.
 *
 * Servers start once per test file; tests isolate by name (random stream,
 * bucket and database names), never by mocking (STYLE.md §8).
 */
export { waitFor, WaitForTimeoutError } from './wait-for.ts';
export type { WaitForOptions } from './wait-for.ts';
export { startNatsServer } from './nats-server.ts';
export type { NatsServerHandle, StartNatsServerOptions } from './nats-server.ts';
export { startPostgresServer } from './postgres-server.ts';
export type { PostgresServerHandle, StartPostgresServerOptions } from './postgres-server.ts';
export { spawnChild, removeOnExit, ChildProcessError, describeExit, formatOutput } from './child-process.ts';
export type { Child, ChildExit, ChildProcessErrorCode, SpawnChildOptions } from './child-process.ts';
export { ensureBundle, loomEntry, startLoomProcess, testJwtKeys } from './loom-process.ts';
export type { LoomProcess, LoomProcessOptions } from './loom-process.ts';
export { connectCollabClient } from './collab-client.ts';
export type { CollabClient } from './collab-client.ts';
export { startS3rver } from './s3rver.ts';
export type { S3rverHandle } from './s3rver.ts';
export { startFakeModelServer } from './fake-model-server.ts';
export type { FakeAnswer, FakeChatMessage, FakeChatRequest, FakeFailure, FakeModelCall, FakeModelServer, FakeModelServerOptions, FakeReply, FakeToolCall } from './fake-model-server.ts';
export { FILE_SAMPLES, sampleFile } from './file-samples.ts';
export { startObjectGateway } from './object-gateway.ts';
export type { ObjectGatewayHandle } from './object-gateway.ts';
export { createAccountsApp, randomIp } from './accounts-app.ts';
export type { AccountsApp, ErrorBody, RequestOptions, TestResponse, TestUser } from './accounts-app.ts';
export { startOtlpReceiver } from './otlp-receiver.ts';
export type { OtlpReceiver, ReceivedSpan } from './otlp-receiver.ts';
export { parsePrometheusText } from './prometheus-text.ts';
export type { Sample, Scrape } from './prometheus-text.ts';
export { readOutboundEvents, waitForOutboundEvents } from './outbound-event-reader.ts';
export type { StoredOutboundEvent } from './outbound-event-reader.ts';
export { startWebhookReceiver, verifiesWith } from './webhook-receiver.ts';
export type { ReceivedWebhook, ReceiverAnswer, WebhookReceiver } from './webhook-receiver.ts';
