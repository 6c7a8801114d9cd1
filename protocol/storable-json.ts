/**
 * Values PostgreSQL and the logs can record as they are. Every edge checks
 * them: the HTTP edge for clients (src/http/safe-text.ts), the NATS
 * commands of jobs, activities and agent sessions for internal services.
 * What goes wrong otherwise:
 *
 * - `1e400` parses to Infinity, which JSON.stringify (and so the log) records as null;
 * - U+0000 or a lone UTF-16 surrogate cannot be stored in jsonb or text, so
 *   a projection row is refused (a job missing from lists and from the
 *   supervisor that resumes it; a 500 at the HTTP edge);
 * - nesting deeper than the stack of JSON.stringify, ajv and the definition
 *   rules throws RangeError.
 */
import { z } from 'zod';

/** Deepest nesting of arrays and objects accepted. */
export const MAX_STORABLE_JSON_DEPTH = 64;

// With the `u` flag a surrogate pair is one code point (kept); a lone surrogate falls in D800-DFFF (refused).
// eslint-disable-next-line no-control-regex
export const STORABLE_TEXT = /^[^\u0000\uD800-\uDFFF]*$/u;
export const UNSTORABLE_TEXT_MESSAGE = 'must not contain NUL characters or unpaired UTF-16 surrogates';

/** Whether PostgreSQL can store this string as text (no NUL, no lone surrogate). */
export function isStorableText(value: string): boolean {
  return STORABLE_TEXT.test(value);
}

/**
 * `value` as PostgreSQL can store it: every NUL and unpaired surrogate
 * replaced by U+FFFD (the same string when there is none). For text already
 * recorded before the edges refused such characters (old log entries), which
 * must still reach a projection row rather than freeze it.
 */
export function toStorableText(value: string): string {
  return isStorableText(value) ? value : value.toWellFormed().replaceAll('\u0000', '\uFFFD');
}

/**
 * `value` with every string and key made storable (toStorableText), for
 * free JSON (a job's input, output, errors) going to jsonb; the same value,
 * uncopied, when nothing needs it. The check allocates nothing: a
 * projection writes the same large outputs again and again.
 */
export function toStorableJson<T>(value: T): T {
  return hasUnstorableText(value) ? (replaceUnstorableTexts(value) as T) : value;
}

function hasUnstorableText(value: unknown): boolean {
  if (typeof value === 'string') return !isStorableText(value);
  if (typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value)) return value.some(hasUnstorableText);
  for (const key in value) if (!isStorableText(key) || hasUnstorableText((value as Record<string, unknown>)[key])) return true;
  return false;
}

function replaceUnstorableTexts(value: unknown): unknown {
  if (typeof value === 'string') return toStorableText(value);
  if (Array.isArray(value)) return value.map(replaceUnstorableTexts);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(Object.entries(value).map(([key, child]) => [toStorableText(key), replaceUnstorableTexts(child)]));
}

/** A string schema for recorded text; it stays a ZodString, so `.min()`, `.max()` chain on it. */
export function storableText(): z.ZodString {
  return z.string().regex(STORABLE_TEXT, UNSTORABLE_TEXT_MESSAGE);
}

/** Where a JSON value cannot be recorded as it is, and why. */
export interface UnstorableJson {
  readonly path: Array<string | number>;
  readonly message: string;
}

/**
 * The first place in document order where `value` (as JSON.parse returns
 * it) would not be recorded as it is, or null. Walks with an explicit
 * stack, so depth cannot overflow the call stack here.
 */
export function unstorableJson(value: unknown, maxDepth = MAX_STORABLE_JSON_DEPTH): UnstorableJson | null {
  const pending: Array<[unknown, Array<string | number>]> = [[value, []]];
  while (pending.length > 0) {
    const [v, at] = pending.pop() as [unknown, Array<string | number>];
    if (typeof v === 'number' && !Number.isFinite(v)) return { path: at, message: 'must be a finite number' };
    if (typeof v === 'string' && !isStorableText(v)) return { path: at, message: UNSTORABLE_TEXT_MESSAGE };
    if (typeof v !== 'object' || v === null) continue;
    if (at.length >= maxDepth) return { path: at, message: `is nested deeper than ${maxDepth} levels` };
    const children: Array<[string | number, unknown]> = Array.isArray(v) ? v.map((x, i) => [i, x]) : Object.entries(v);
    const badKey = children.find(([key]) => typeof key === 'string' && !isStorableText(key));
    if (badKey !== undefined) return { path: [...at, badKey[0]], message: `has a key that ${UNSTORABLE_TEXT_MESSAGE}` };
    // Reversed, so the first fault in document order is the one reported.
    for (const [key, child] of children.reverse()) pending.push([child, [...at, key]]);
  }
  return null;
}

/** A zod refinement that reports unstorableJson's fault at `path` + the fault's own path. */
export function refineStorable(value: unknown, path: Array<string | number>, ctx: z.RefinementCtx): void {
  const fault = unstorableJson(value);
  if (fault !== null) ctx.addIssue({ code: z.ZodIssueCode.custom, path: [...path, ...fault.path], message: fault.message });
}
