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

/**
 * What one render may cost: a template, or every string of one mapping
 * together. Sections nest over arrays, so a few bytes of template can ask
 * for billions of passes (three nested sections over a 1,000-element input
 * array) or for gigabytes of text; past these bounds the render stops with
 * TemplateBudgetError, which fails the step instead of holding the host.
 * 2 MiB is above what anything rendered can carry on (an inference request
 * is at most 768 KiB, a document update 1 MiB).
 */
export const TEMPLATE_LIMITS = { maxChars: 2 * 1024 * 1024, maxSectionPasses: 100_000 } as const;

/** A render that went past TEMPLATE_LIMITS. */
export class TemplateBudgetError extends Error {
  override readonly name = 'TemplateBudgetError';
}

interface Budget {
  chars: number;
  passes: number;
}

const MAX_CACHED_TEMPLATES = 1_024;

/** Mustache's writer, counting what it produces against the budget of the render in progress. */
class BudgetedWriter extends mustache.Writer {
  budget: Budget | undefined;

  constructor() {
    super();
    // Parsed templates kept by text, bounded (the default cache keeps every template it ever saw).
    const cache = new Map<string, unknown>();
    Object.assign(this, {
      templateCache: {
        get: (key: string) => cache.get(key),
        set: (key: string, tokens: unknown) => {
          if (cache.size >= MAX_CACHED_TEMPLATES) cache.delete(cache.keys().next().value ?? '');
          cache.set(key, tokens);
        },
        clear: () => cache.clear(),
      },
    });
  }

  // Called once per render and once per pass of a section.
  override renderTokens(...args: Parameters<mustache.Writer['renderTokens']>): string {
    const b = this.budget;
    if (b !== undefined && ++b.passes > TEMPLATE_LIMITS.maxSectionPasses) {
      throw new TemplateBudgetError(`template rendering passed ${TEMPLATE_LIMITS.maxSectionPasses} section passes (sections nested over large arrays)`);
    }
    return super.renderTokens(...args);
  }

  override rawValue(token: string[]): string {
    return this.#counted(super.rawValue(token));
  }

  override escapedValue(...args: Parameters<mustache.Writer['escapedValue']>): string {
    return this.#counted(super.escapedValue(...args));
  }

  override unescapedValue(...args: Parameters<mustache.Writer['unescapedValue']>): string {
    return this.#counted(super.unescapedValue(...args));
  }

  // Mustache returns undefined for a missing value (typed as string): nothing is produced then.
  #counted(value: string | undefined): string {
    const b = this.budget;
    if (b !== undefined && value !== undefined && value !== null) {
      b.chars += String(value).length;
      if (b.chars > TEMPLATE_LIMITS.maxChars) throw new TemplateBudgetError(`template rendering produced more than ${TEMPLATE_LIMITS.maxChars} characters`);
    }
    return value as string;
  }
}

const writer = new BudgetedWriter();
const SINGLE_TAG = /^\{\{\{?\s*([A-Za-z0-9_.*-]+)\s*\}?\}\}$/;

function asText(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value) ?? '';
}

function newBudget(): Budget {
  return { chars: 0, passes: 0 };
}

function render(template: string, context: TemplateContext, budget: Budget): string {
  writer.budget = budget;
  try {
    return writer.render(template, context, {}, { escape: asText });
  } finally {
    writer.budget = undefined;
  }
}

/**
 * Renders one template.
 * @throws Error when it does not parse (validation makes that unreachable for registered definitions);
 *   TemplateBudgetError past TEMPLATE_LIMITS.
 */
export function renderTemplate(template: string, context: TemplateContext): string {
  return render(template, context, newBudget());
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

/**
 * Renders every string of a mapping under one budget; a lone tag keeps the
 * referenced value's type (missing: null).
 * @throws TemplateBudgetError past TEMPLATE_LIMITS, all strings together.
 */
export function renderMapping(value: unknown, context: TemplateContext): unknown {
  return renderWithin(value, context, newBudget());
}

function renderWithin(value: unknown, context: TemplateContext, budget: Budget): unknown {
  if (typeof value === 'string') {
    const single = SINGLE_TAG.exec(value);
    if (single?.[1] !== undefined) return lookupPath(context, single[1]) ?? null;
    return render(value, context, budget);
  }
  if (Array.isArray(value)) return value.map((v) => renderWithin(v, context, budget));
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, renderWithin(v, context, budget)]));
  return value;
}
