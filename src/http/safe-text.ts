/**
 * Input PostgreSQL can store, checked at the HTTP edge so that bad content
 * gets a 400 naming the field instead of failing in the database (a 500):
 *
 * - {@link safeText}: every string field of every request schema. PostgreSQL
 *   text cannot hold NUL (U+0000), and a lone UTF-16 surrogate cannot be
 *   encoded as UTF-8 at all. Surrogate pairs (emoji) are fine.
 * - {@link safeJson}: free-form JSON (job inputs, metadata): every string
 *   and key as above, every number finite (`1e400` parses to Infinity, which
 *   JSON.stringify turns into null), nesting bounded (deep values overflow
 *   the stack of JSON.stringify and jsonb).
 * - {@link queryInt}: integers from query strings and paths, bounded by the
 *   column they are compared with (`before=1e20` is an integer too).
 *
 * @example
 *   const body = z.object({ title: safeText().trim().min(1).max(200), input: safeJson(z.record(z.unknown())) });
 *   const query = z.object({ limit: queryInt({ min: 1, max: 100 }).default(20) });
 */
import { z } from '@hono/zod-openapi';

// With the `u` flag a surrogate pair is one code point outside D800-DFFF (kept);
// a lone surrogate is a code point inside it (refused).
// eslint-disable-next-line no-control-regex
const SAFE_TEXT = /^[^\u0000\uD800-\uDFFF]*$/u;

/** The message of a refused string; field errors read `<field>: <message>`. */
export const UNSAFE_TEXT_MESSAGE = 'must not contain NUL characters or unpaired UTF-16 surrogates';

/** Deepest nesting of arrays and objects {@link safeJson} accepts. */
export const MAX_JSON_DEPTH = 64;

/** Largest value of a PostgreSQL `integer` column. */
export const PG_INT_MAX = 2_147_483_647;

/** Whether PostgreSQL can store this string as text (no NUL, no lone surrogate). */
export function isSafeText(value: string): boolean {
  return SAFE_TEXT.test(value);
}

/**
 * A string schema that refuses text PostgreSQL cannot store. It stays a
 * ZodString, so `.trim()`, `.min()`, `.max()`, `.email()`, `.uuid()` chain on it.
 */
export function safeText(): z.ZodString {
  return z.string().regex(SAFE_TEXT, UNSAFE_TEXT_MESSAGE);
}

/** Where a JSON value is unusable and why. */
export interface UnsafeJson {
  readonly path: ReadonlyArray<string | number>;
  readonly message: string;
}

/**
 * The first place in a JSON value (as JSON.parse returns it) that PostgreSQL
 * or JSON.stringify would reject or change, or null when there is none.
 * Walks iteratively, so a deep value cannot overflow the stack here.
 */
export function findUnsafeJson(value: unknown, maxDepth = MAX_JSON_DEPTH): UnsafeJson | null {
  const stack: Array<{ value: unknown; path: Array<string | number> }> = [{ value, path: [] }];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const { value: v, path } = item;
    if (typeof v === 'string') {
      if (!isSafeText(v)) return { path, message: UNSAFE_TEXT_MESSAGE };
    } else if (typeof v === 'number') {
      if (!Number.isFinite(v)) return { path, message: 'must be a finite number' };
    } else if (v !== null && typeof v === 'object') {
      if (path.length >= maxDepth) return { path, message: `nested deeper than ${maxDepth} levels` };
      const entries: Array<[string | number, unknown]> = Array.isArray(v) ? v.map((x, i) => [i, x]) : Object.entries(v);
      // Pushed in reverse so the first offending entry in document order is reported.
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, child] = entries[i] as [string | number, unknown];
        if (typeof key === 'string' && !isSafeText(key)) return { path: [...path, key], message: `key ${UNSAFE_TEXT_MESSAGE}` };
        stack.push({ value: child, path: [...path, key] });
      }
    }
  }
  return null;
}

/**
 * Adds the {@link findUnsafeJson} check to a schema of free-form JSON; the
 * issue's path points at the offending entry (e.g. `input.sections.2.title`).
 */
export function safeJson<T extends z.ZodTypeAny>(schema: T): z.ZodEffects<T> {
  return schema.superRefine((value, ctx) => {
    const unsafe = findUnsafeJson(value);
    if (unsafe !== null) ctx.addIssue({ code: z.ZodIssueCode.custom, path: [...unsafe.path], message: unsafe.message });
  });
}

/**
 * An integer read from a query string or path segment, within `[min, max]`.
 * Non-numbers, fractions, `1e400` (Infinity) and values past the bounds fail
 * validation (400 naming the field) instead of reaching a query.
 */
export function queryInt(bounds: { min: number; max: number }): z.ZodNumber {
  return z.coerce.number().int().min(bounds.min).max(bounds.max);
}
