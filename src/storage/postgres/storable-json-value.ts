/**
 * JSON values as PostgreSQL can store them in jsonb: jsonb refuses U+0000
 * and unpaired surrogates anywhere in a string or a key, and refuses the
 * whole statement with them. A job's output, error or input comes from a
 * model, a service worker or an old log entry, and its log keeps the text:
 * refused once, every later save of that job would be refused too (its row
 * frozen). Such characters become U+FFFD instead (toStorableText).
 */
import { toStorableText, unstorableJson } from '../../../protocol/storable-json.ts';

/** `value` with every string and key made storable; the same value, uncopied, when nothing needs it. */
export function toStorableJson<T>(value: T): T {
  // Depth is not ours to judge here (the log already holds the value): only text is replaced.
  if (unstorableJson(value, Number.POSITIVE_INFINITY) === null) return value;
  return replaceTexts(value) as T;
}

function replaceTexts(value: unknown): unknown {
  if (typeof value === 'string') return toStorableText(value);
  if (Array.isArray(value)) return value.map(replaceTexts);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(Object.entries(value).map(([key, child]) => [toStorableText(key), replaceTexts(child)]));
}
