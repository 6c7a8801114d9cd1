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
import { isStorableText, MAX_STORABLE_JSON_DEPTH, STORABLE_TEXT, UNSTORABLE_TEXT_MESSAGE, unstorableJson, type UnstorableJson } from '../../protocol/storable-json.ts';

/** The message of a refused string; field errors read `<field>: <message>`. */
export const UNSAFE_TEXT_MESSAGE = UNSTORABLE_TEXT_MESSAGE;

/** Deepest nesting of arrays and objects {@link safeJson} accepts. */
export const MAX_JSON_DEPTH = MAX_STORABLE_JSON_DEPTH;

/** Largest value of a PostgreSQL `integer` column. */
export const PG_INT_MAX = 2_147_483_647;

/** Whether PostgreSQL can store this string as text (no NUL, no lone surrogate). */
export const isSafeText: (value: string) => boolean = isStorableText;

/**
 * A string schema that refuses text PostgreSQL cannot store (protocol/storable-json.ts's
 * rule, as an OpenAPI-aware ZodString, so `.trim()`, `.min()`, `.max()`, `.email()` chain on it).
 */
export function safeText(): z.ZodString {
  return z.string().regex(STORABLE_TEXT, UNSAFE_TEXT_MESSAGE);
}

/** The first place in a JSON value that PostgreSQL or JSON.stringify would reject or change, or null. */
export const findUnsafeJson: (value: unknown, maxDepth?: number) => UnstorableJson | null = unstorableJson;

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
