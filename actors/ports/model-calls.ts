/**
 * What every actor that calls models shares: stable inference request ids
 * and pricing a call's usage with the configured table.
 */
import { createHash } from 'node:crypto';
import type { Usage } from '../../protocol/job-events.ts';

/** Prices per million tokens, by model. Unlisted models cost 0. */
export type PriceTable = Readonly<Record<string, { readonly promptPerMillionUsd: number; readonly completionPerMillionUsd: number }>>;

/** Request ids allow 1-128 of [A-Za-z0-9_:.-] (protocol/inference.ts). */
const PLAIN_ACTOR_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The inference request id of one call: `<actor>.<step>.<attempt>`, stable,
 * so a resubmission after a crash is deduplicated by the queue. Actor ids
 * that are not short plain tokens are replaced by a digest of themselves.
 */
export function requestIdFor(actorId: string, step: string, attempt: number): string {
  const digest = (text: string) => `h${createHash('sha256').update(text).digest('base64url').slice(0, 32)}`;
  const id = `${PLAIN_ACTOR_ID.test(actorId) ? actorId : digest(actorId)}.${step}.${attempt}`;
  return id.length <= 128 ? id : `${digest(`${actorId}\n${step}`)}.${attempt}`;
}

/** Prices a model call with the configured table. */
export function priceUsage(usage: Omit<Usage, 'costUsd'>, prices: PriceTable): Usage {
  const price = prices[usage.model];
  const costUsd = price === undefined ? 0 : (usage.promptTokens * price.promptPerMillionUsd + usage.completionTokens * price.completionPerMillionUsd) / 1_000_000;
  return { ...usage, costUsd: Math.round(costUsd * 1e9) / 1e9 };
}
