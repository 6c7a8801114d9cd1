/**
 * What a job records from internal services over NATS (a start's input and
 * pipeline definition, names and comments, a worker's output and error) must
 * survive the job log and its PostgreSQL projection unchanged. The HTTP edge
 * checks the same for clients (src/http/safe-text.ts); NATS messages reach
 * the job actor without it, and then:
 *
 * - `1e400` parses to Infinity, which the log records as null;
 * - U+0000 or a lone UTF-16 surrogate cannot be stored in jsonb or text, so
 *   the job's projection row is refused and the job is missing from lists
 *   and from the supervisor that resumes it;
 * - nesting deeper than the stack of JSON.stringify, ajv and the definition
 *   rules threw RangeError, answered as an internal error.
 */
import { z } from 'zod';

/** Deepest nesting of arrays and objects a job records (the HTTP edge allows the same). */
export const MAX_JOB_JSON_DEPTH = 64;

// With the `u` flag a surrogate pair is one code point (kept); a lone surrogate falls in D800-DFFF (refused).
// eslint-disable-next-line no-control-regex
const STORABLE_TEXT = /^[^\u0000\uD800-\uDFFF]*$/u;
const UNSTORABLE_TEXT = 'must not contain NUL characters or unpaired UTF-16 surrogates';

/** A string schema for text a job records. */
export function storableText(): z.ZodString {
  return z.string().regex(STORABLE_TEXT, UNSTORABLE_TEXT);
}

/**
 * The first place where `value` (as JSON.parse returns it) would not be
 * recorded as it is, or null. Walks with an explicit stack, so depth cannot
 * overflow the call stack here.
 */
export function unstorableJson(value: unknown): { path: Array<string | number>; message: string } | null {
  const pending: Array<[unknown, Array<string | number>]> = [[value, []]];
  while (pending.length > 0) {
    const [v, at] = pending.pop() as [unknown, Array<string | number>];
    if (typeof v === 'number' && !Number.isFinite(v)) return { path: at, message: 'must be a finite number' };
    if (typeof v === 'string' && !STORABLE_TEXT.test(v)) return { path: at, message: UNSTORABLE_TEXT };
    if (typeof v !== 'object' || v === null) continue;
    if (at.length >= MAX_JOB_JSON_DEPTH) return { path: at, message: `is nested deeper than ${MAX_JOB_JSON_DEPTH} levels` };
    const children: Array<[string | number, unknown]> = Array.isArray(v) ? v.map((x, i) => [i, x]) : Object.entries(v);
    const badKey = children.find(([key]) => typeof key === 'string' && !STORABLE_TEXT.test(key));
    if (badKey !== undefined) return { path: [...at, badKey[0]], message: `has a key that ${UNSTORABLE_TEXT}` };
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
