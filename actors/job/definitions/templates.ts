/**
 * Template rendering for pipeline definitions, with Mustache (logic-less: no
 * eval, no code, only lookups, sections and inverted sections). HTML
 * escaping is off because these are prompts and payloads, not HTML; a value
 * that is not a string renders as its JSON. A mapping is any JSON value
 * whose strings are templates; a string that is exactly one tag
 * (`"{{steps.plan.output.items}}"`) yields the value itself, so arrays and
 * objects pass through with their types; in such a lone tag, `*` projects an
 * array (`"{{steps.outline.output.sections.*.heading}}"`).
 */
import mustache from 'mustache';

/** What templates and conditions see: input, steps.<id>.output, item/index/count in a map, revision, failure, job. */
export type TemplateContext = Readonly<Record<string, unknown>>;

const SINGLE_TAG = /^\{\{\{?\s*([A-Za-z0-9_.*-]+)\s*\}?\}\}$/;

function asText(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value) ?? '';
}

/** Renders one template. @throws Error when it does not parse (validation makes that unreachable for registered definitions). */
export function renderTemplate(template: string, context: TemplateContext): string {
  return mustache.render(template, context, {}, { escape: asText });
}

/**
 * The value at a dotted path (`steps.plan.output.items.0`), or undefined. A
 * `*` segment on an array takes the rest of the path in each element
 * (`steps.outline.output.sections.*.heading`: every heading).
 */
export function lookupPath(context: unknown, path: string): unknown {
  return lookupSegments(context, path.split('.'));
}

function lookupSegments(context: unknown, segments: readonly string[]): unknown {
  let value: unknown = context;
  for (const [i, segment] of segments.entries()) {
    if (value === null || typeof value !== 'object') return undefined;
    if (segment === '*' && Array.isArray(value)) {
      const rest = segments.slice(i + 1);
      return value.map((v: unknown) => lookupSegments(v, rest) ?? null);
    }
    value = (value as Record<string, unknown>)[segment];
  }
  return value;
}

/** Renders every string of a mapping; a lone tag keeps the referenced value's type (missing: null). */
export function renderMapping(value: unknown, context: TemplateContext): unknown {
  if (typeof value === 'string') {
    const single = SINGLE_TAG.exec(value);
    if (single?.[1] !== undefined) return lookupPath(context, single[1]) ?? null;
    return renderTemplate(value, context);
  }
  if (Array.isArray(value)) return value.map((v) => renderMapping(v, context));
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, renderMapping(v, context)]));
  return value;
}
