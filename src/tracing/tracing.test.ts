import assert from 'node:assert/strict';
import { test } from 'node:test';
import { trace } from '@opentelemetry/api';
import { createRootLogger } from '../log.ts';
import { fromNatsHeaders } from '../nats/headers.ts';
import { startOtlpReceiver, waitFor } from '../testing/index.ts';
import { inSpan, SpanKind, startTracing, traceContextOf, tracingEnabled, withTraceHeaders } from './index.ts';

const log = createRootLogger({ level: 'silent', instanceId: 'tracing-test' });

test('with no endpoint tracing stays off: no provider, headers untouched, work just runs', async () => {
  const tracing = await startTracing({ config: { otlpEndpoint: undefined, serviceName: 'loom', sampleRatio: 1 }, instanceId: 'off', roles: ['gateway'], log });
  assert.equal(tracing.enabled, false);
  assert.equal(tracingEnabled(), false);
  assert.equal(withTraceHeaders(undefined), undefined);
  assert.equal(inSpan('work', { kind: SpanKind.INTERNAL }, () => trace.getActiveSpan()), undefined);
});

test('a span crosses a NATS hop through traceparent headers and both arrive at the OTLP receiver in one trace', async () => {
  await using receiver = await startOtlpReceiver();
  const tracing = await startTracing({ config: { otlpEndpoint: receiver.url, serviceName: 'loom-test', sampleRatio: 1 }, instanceId: 'unit-1', roles: ['gateway'], log });
  assert.equal(tracingEnabled(), true);

  const { sent, outerSpanId } = inSpan('gateway side', { kind: SpanKind.SERVER }, () => {
    const span = trace.getActiveSpan();
    return { sent: withTraceHeaders(undefined), outerSpanId: span?.spanContext().spanId };
  });
  assert.ok(sent !== undefined && outerSpanId !== undefined);
  assert.match(sent.get('traceparent'), /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);

  // The receiving side sees canonicalised keys (`Traceparent`) in protocol/'s header maps.
  const received = fromNatsHeaders(sent);
  const innerTraceId = await inSpan('actor side', { kind: SpanKind.CONSUMER, parent: traceContextOf(received) }, async () => trace.getActiveSpan()?.spanContext().traceId);
  assert.equal(innerTraceId, sent.get('traceparent').split('-')[1]);

  // A failing unit of work is recorded as an error span and the error passes through.
  await assert.rejects(inSpan('failing', { kind: SpanKind.INTERNAL }, () => Promise.reject(new Error('boom'))), /boom/);

  await tracing.shutdown();
  await waitFor(() => receiver.spans.length >= 3, { what: 'three spans exported', timeoutMs: 10_000 });
  const outer = receiver.spans.find((s) => s.name === 'gateway side');
  const inner = receiver.spans.find((s) => s.name === 'actor side');
  assert.ok(outer && inner);
  assert.equal(inner.traceId, outer.traceId);
  assert.equal(inner.parentSpanId, outer.spanId);
  assert.equal(outer.parentSpanId, '');
  assert.equal(outer.service, 'loom-test');
  assert.equal(outer.instance, 'unit-1');
});

test('a malformed traceparent from a service is ignored: the work runs as a new root, nothing is refused', async () => {
  await using receiver = await startOtlpReceiver();
  const tracing = await startTracing({ config: { otlpEndpoint: receiver.url, serviceName: 'loom-test', sampleRatio: 1 }, instanceId: 'unit-2', roles: ['actors'], log });
  for (const bad of ['garbage', '00-zz-00-01', `00-${'0'.repeat(32)}-${'0'.repeat(16)}-01`, 'x'.repeat(5_000)]) {
    const parent = traceContextOf({ Traceparent: bad, Tracestate: '=,=' });
    assert.equal(trace.getSpanContext(parent), undefined, `ignored: ${bad.slice(0, 40)}`);
    assert.equal(await inSpan('handled', { kind: SpanKind.CONSUMER, parent }, async () => 'done'), 'done');
  }
  await tracing.shutdown();
  await waitFor(() => receiver.spans.filter((s) => s.name === 'handled').length === 4, { what: 'four spans exported', timeoutMs: 10_000 });
  assert.ok(receiver.spans.filter((s) => s.name === 'handled').every((s) => s.parentSpanId === ''), 'each is a root span');
});
