/**
 * Inference worker metrics by model (the models this worker serves, from
 * configuration): requests by outcome, model call latency, tokens in and
 * out, and cost at the configured prices (LOOM_MODEL_PRICES).
 */
import { Counter, Histogram } from 'prom-client';
import type { ModelPrice } from '../config.ts';
import { parseInferenceRequestSubject } from '../../protocol/inference.ts';
import { BoundedLabel } from './bounded-label.ts';
import { registry, SLOW_SECONDS } from './registry.ts';

const requests = new Counter({
  name: 'loom_inference_requests_total',
  help: 'Inference requests served by this worker, by model and outcome (succeeded, failed, retrying, dead-lettered, cancelled, malformed, undelivered)',
  labelNames: ['model', 'outcome'] as const,
  registers: [registry],
});
const callDuration = new Histogram({
  name: 'loom_inference_call_duration_seconds',
  help: 'Latency of one successful model call, first byte to last token, by model',
  labelNames: ['model'] as const,
  buckets: SLOW_SECONDS,
  registers: [registry],
});
const tokens = new Counter({
  name: 'loom_inference_tokens_total',
  help: 'Tokens of successful model calls, by model and direction (prompt, completion)',
  labelNames: ['model', 'direction'] as const,
  registers: [registry],
});
const cost = new Counter({
  name: 'loom_inference_cost_usd_total',
  help: 'Cost of successful model calls in US dollars at the configured prices (LOOM_MODEL_PRICES), by model',
  labelNames: ['model'] as const,
  registers: [registry],
});

/** Served models come from configuration; the cap only guards against a misconfigured queue. */
const models = new BoundedLabel(100);

let prices: Readonly<Record<string, ModelPrice>> = {};

/** The price table cost is computed with (the role's config.jobs.modelPrices). */
export function setInferencePrices(table: Readonly<Record<string, ModelPrice>>): void {
  prices = table;
}

/** One request served to its end; `subject` is the work queue subject it came on. */
export function observeInferenceOutcome(subject: string, outcome: string): void {
  let model = 'unknown';
  try {
    model = models.of(parseInferenceRequestSubject(subject).model);
  } catch {
    // A malformed subject is already logged and terminated by the worker; it counts as `unknown`.
  }
  requests.labels(model, outcome).inc();
}

/** A successful model call's usage. */
export function observeInferenceUsage(usage: { model: string; promptTokens: number; completionTokens: number; durationMs: number }): void {
  const model = models.of(usage.model);
  callDuration.labels(model).observe(usage.durationMs / 1_000);
  tokens.labels(model, 'prompt').inc(usage.promptTokens);
  tokens.labels(model, 'completion').inc(usage.completionTokens);
  const price = prices[usage.model];
  if (price !== undefined) cost.labels(model).inc((usage.promptTokens * price.promptPerMillionUsd + usage.completionTokens * price.completionPerMillionUsd) / 1_000_000);
}
