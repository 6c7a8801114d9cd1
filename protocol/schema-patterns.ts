/**
 * The regular-expression engine for JSON Schemas that come from users
 * (pipeline input and output schemas, tool parameters).
 *
 * ajv runs `pattern` and `patternProperties` with JavaScript's backtracking
 * RegExp, so a pattern such as `^(a+)+$` takes exponential time on a string
 * like "aaaa…!": one request could hold a gateway's or an actor host's
 * event loop for minutes, stalling every document and job there. Every
 * pattern is therefore analysed once when a schema compiles (recheck, an
 * automaton-based ReDoS checker) and only patterns that match in linear
 * time are allowed. A pattern that is exponential or polynomial, or that
 * the checker cannot settle within its budget, makes the schema fail to
 * compile, which callers already report as an invalid schema at its path.
 */
import { createRequire } from 'node:module';
import type { Diagnostics } from 'recheck';

type Recheck = typeof import('recheck');
let recheck: Recheck | undefined;

/**
 * The analyser, loaded on first use: it costs a process about 70 MB of RSS,
 * which Loom's own schemas (below) and a process that never sees a user's
 * pattern do not pay.
 */
function analyser(): Recheck {
  recheck ??= createRequire(import.meta.url)('recheck') as Recheck;
  return recheck;
}

/**
 * The patterns of Loom's own schemas (the built-in pipelines, the built-in
 * tools), each shown linear by recheck in src/agents/schema-validator.test.ts, which
 * also fails when a built-in carries a pattern missing here.
 */
export const LOOM_LINEAR_PATTERNS: ReadonlySet<string> = new Set([
  '^\\S+$',
  '^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$',
  '^[a-z][a-z0-9-]*(\\.[a-z][a-z0-9-]*)+$',
  // ajv's JSON Schema meta-schemas ($id, $anchor), compiled whenever a schema is checked.
  '^[^#]*#?$',
  '^[A-Za-z_][-A-Za-z0-9._]*$',
]);

let analysed = 0;

/** How many patterns this process has handed to the analyser (tests: Loom's own schemas need none). */
export function patternsAnalysed(): number {
  return analysed;
}

/**
 * Neither repetition nor alternation (no `*`, `+`, `?`, `{` or `|` outside
 * an escape): one way to try each position, in at most the pattern's length.
 */
function singlePath(source: string): boolean {
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') i++;
    else if (c === '*' || c === '+' || c === '?' || c === '{' || c === '|') return false;
  }
  return true;
}

/** A pattern refused by the analysis; ajv's compile error carries the message. */
export class UnsafePatternError extends Error {
  override readonly name = 'UnsafePatternError';
}

/** Budget of one analysis; a pattern not settled within it is refused. */
const CHECK_TIMEOUT_MS = 1_000;
/** Longer patterns are refused unanalysed (the analysis grows with the pattern). */
export const MAX_PATTERN_LENGTH = 1_000;
/** Verdicts kept, by flags and source; oldest dropped first. */
const MAX_VERDICTS = 1_024;

const verdicts = new Map<string, string | null>();

/** Why `source` may not be used (null: it matches in linear time). */
export function unsafePatternReason(source: string, flags: string): string | null {
  if (source.length > MAX_PATTERN_LENGTH) return `is ${source.length} characters long; at most ${MAX_PATTERN_LENGTH} are allowed`;
  if (singlePath(source) || LOOM_LINEAR_PATTERNS.has(source)) return null;
  const key = `${flags}/${source}`;
  const known = verdicts.get(key);
  if (known !== undefined) return known;
  analysed += 1;
  const reason = describe(analyser().checkSync(source, flags, { timeout: CHECK_TIMEOUT_MS }));
  if (verdicts.size >= MAX_VERDICTS) verdicts.delete(verdicts.keys().next().value ?? '');
  verdicts.set(key, reason);
  return reason;
}

function describe(d: Diagnostics): string | null {
  if (d.status === 'safe') return null;
  if (d.status === 'unknown') return 'could not be shown to match in linear time (rewrite it without nested or overlapping repetition)';
  const growth = d.complexity.type === 'exponential' ? 'exponentially' : `as the input length to the power ${d.complexity.degree}`;
  return `can take time growing ${growth} on some inputs (nested or overlapping repetition); rewrite it so each character can match only one way`;
}

/**
 * ajv's `code.regExp`: a native RegExp, built only for patterns that match
 * in linear time.
 * @throws UnsafePatternError naming the pattern and why.
 */
export function linearRegExp(source: string, flags: string): RegExp {
  const reason = unsafePatternReason(source, flags);
  if (reason !== null) throw new UnsafePatternError(`pattern ${JSON.stringify(source.length > 80 ? `${source.slice(0, 80)}…` : source)} ${reason}`);
  return new RegExp(source, flags);
}
// ajv's standalone code generation names the engine; Loom never generates standalone code.
linearRegExp.code = 'new RegExp';
