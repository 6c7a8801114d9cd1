/**
 * A stream's republish rule, on streams that may predate it. nats-server
 * creates a stream with its rule; on an existing stream 2.10+ adds one on
 * update, while 2.9 refuses to change RePublish at all ("stream
 * configuration update can not change RePublish"). Whoever relies on a rule
 * asks whether the stream has it and keeps the way that works without it.
 */
import type { JetStreamManager, Republish } from '@nats-io/jetstream';
import type { Logger } from '../log.ts';

/** Whether `have` is exactly `rule` (headers-only or not included). */
export function sameRepublish(have: Republish | undefined, rule: Republish): boolean {
  return have !== undefined && have.src === rule.src && have.dest === rule.dest && (have.headers_only ?? false) === (rule.headers_only ?? false);
}

/** Whether `stream` carries `rule` now (a worker reads this once at start). */
export async function streamRepublishes(jsm: JetStreamManager, stream: string, rule: Republish): Promise<boolean> {
  const info = await jsm.streams.info(stream);
  return sameRepublish(info.config.republish, rule);
}

/**
 * Whether a work queue's `stream` rings after each store (a worker asks once
 * at start). When the stream cannot be read (a user without stream info),
 * false: the worker then hears the queue's own subjects, as before the rule.
 */
export async function queueRingsAfterStore(jsm: JetStreamManager, stream: string, rule: Republish, log: Logger): Promise<boolean> {
  try {
    return await streamRepublishes(jsm, stream, rule);
  } catch (err) {
    log.warn({ err, stream }, 'cannot read the work queue stream; listening on its subjects for new work');
    return false;
  }
}

/**
 * Gives an existing `stream` its `rule` where the server allows it.
 * @returns whether the stream carries the rule afterwards; `without` says in the log what happens when it does not.
 */
export async function ensureRepublish(jsm: JetStreamManager, stream: string, rule: Republish, log: Logger, without: string): Promise<boolean> {
  const have = (await jsm.streams.info(stream)).config.republish;
  if (sameRepublish(have, rule)) return true;
  if (have !== undefined) {
    log.warn({ stream, republish: have, wanted: rule }, `stream republishes with another rule; ${without}`);
    return false;
  }
  try {
    await jsm.streams.update(stream, { republish: { ...rule } });
    log.info({ stream, republish: rule }, 'stream republish rule added');
    return true;
  } catch (err) {
    log.info({ stream, reason: err instanceof Error ? err.message : String(err) }, `stream predates its republish rule and the server cannot add it; ${without}`);
    return false;
  }
}
