/**
 * The regular-expression engine for JSON Schemas that come from users
 * (pipeline input and output schemas, tool parameters).
 *
 * ajv runs `pattern` and `patternProperties` with JavaScript's backtracking
 * RegExp, so a pattern such as `^(a+)+$` takes exponential time on a string
 * like "aaaa…!": one request could hold a gateway's or an actor host's
 * event loop for hours, stalling every document and job there. Every
 * pattern is therefore analysed once when a schema compiles (recheck, an
 * automaton-based ReDoS checker) and only patterns that match in linear
 * time are allowed. A pattern that is exponential or polynomial, or that
 * the analysis cannot settle within its time, makes the schema fail to
 * compile, which callers already report as an invalid schema at its path.
 *
 * The analysis itself costs CPU (milliseconds for ordinary patterns, a
 * second or more for long case-insensitive ones), so each pattern gets at
 * most CHECK_TIMEOUT_MS and a process spends at most ANALYSIS_BUDGET_MS per
 * minute on new ones; past that, new patterns are refused until the minute
 * turns, and nothing is remembered about them.
 */
import { createRequire } from 'node:module';
import type { Diagnostics } from 'recheck';

/** A pattern refused by the analysis; ajv's compile error carries the message. */
export class UnsafePatternError extends Error {
  override readonly name = 'UnsafePatternError';
}

/** Analysis time of one pattern; a pattern not settled within it is refused. */
export const CHECK_TIMEOUT_MS = 500;
/** Analysis time a process spends on new patterns per ANALYSIS_WINDOW_MS. */
export const ANALYSIS_BUDGET_MS = 5_000;
export const ANALYSIS_WINDOW_MS = 60_000;
/** Longer patterns are refused unanalysed (the analysis grows with the pattern). */
export const MAX_PATTERN_LENGTH = 1_000;
/** Verdicts kept, by flags and source; oldest dropped first. */
const MAX_VERDICTS = 1_024;

type Recheck = typeof import('recheck');
let recheck: Recheck | undefined;

/**
 * The analyser, loaded on first use: it costs a process about 70 MB of RSS,
 * which Loom's own schemas (below) and a process that never sees a user's
 * pattern do not pay. Its first run compiles its code (a few hundred ms),
 * done here so that no user's pattern runs out of time for it.
 */
function analyser(): Recheck {
  if (recheck === undefined) {
    recheck = createRequire(import.meta.url)('recheck') as Recheck;
    recheck.checkSync('^a+$', '', { timeout: 10_000 });
  }
  return recheck;
}

/**
 * The patterns of Loom's own schemas (the built-in pipelines, the built-in
 * tools) and of ajv's meta-schemas, each shown linear by recheck in
 * src/agents/schema-validator.test.ts, which also fails when Loom's schemas
 * need a pattern missing here.
 */
export const LOOM_LINEAR_PATTERNS: ReadonlySet<string> = new Set([
  '^\\S+$',
  '^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$',
  '^[a-z][a-z0-9-]*(\\.[a-z][a-z0-9-]*)+$',
  // ajv's JSON Schema meta-schemas ($id, $anchor), compiled whenever a schema is checked.
  '^[^#]*#?$',
  '^[A-Za-z_][-A-Za-z0-9._]*$',
]);

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

/**
 * Why `source` may not run on untrusted input (null: it matches in linear
 * time), by recheck's automaton analysis alone (deterministic; no fuzzing).
 */
export function analysePattern(source: string, flags: string, timeoutMs: number): string | null {
  return describe(analyser().checkSync(source, flags, { timeout: timeoutMs, checker: 'automaton' }));
}

function describe(d: Diagnostics): string | null {
  if (d.status === 'safe') return null;
  if (d.status === 'unknown') return 'could not be shown to match in linear time (no lookaround or backreferences; rewrite it without nested or overlapping repetition)';
  const growth = d.complexity.type === 'exponential' ? 'exponentially' : `as the input length to the power ${d.complexity.degree}`;
  return `can take time growing ${growth} on some inputs (nested or overlapping repetition); rewrite it so each character can match only one way`;
}

/** Verdicts on users' patterns, and the analysis time this process spent in the current window. */
export class PatternAnalyser {
  readonly #verdicts = new Map<string, string | null>();
  #windowStart = Number.NEGATIVE_INFINITY;
  #spentMs = 0;
  #analysed = 0;

  constructor(
    private readonly opts: { readonly budgetMs: number; readonly windowMs: number; readonly timeoutMs: number; readonly now: () => number } = {
      budgetMs: ANALYSIS_BUDGET_MS,
      windowMs: ANALYSIS_WINDOW_MS,
      timeoutMs: CHECK_TIMEOUT_MS,
      now: () => performance.now(),
    },
  ) {}

  /** Patterns handed to the analysis so far (Loom's own schemas need none). */
  get analysed(): number {
    return this.#analysed;
  }

  /** Why `source` may not be used (null: it matches in linear time). */
  reason(source: string, flags: string): string | null {
    if (source.length > MAX_PATTERN_LENGTH) return `is ${source.length} characters long; at most ${MAX_PATTERN_LENGTH} are allowed`;
    if (singlePath(source) || LOOM_LINEAR_PATTERNS.has(source)) return null;
    const key = `${flags}/${source}`;
    const known = this.#verdicts.get(key);
    if (known !== undefined) return known;
    const now = this.opts.now();
    if (now - this.#windowStart >= this.opts.windowMs) {
      this.#windowStart = now;
      this.#spentMs = 0;
    }
    // Not remembered: the same pattern is analysed once the window turns.
    if (this.#spentMs >= this.opts.budgetMs) return `could not be analysed now (this process spent its ${this.opts.budgetMs} ms a minute on new patterns); try again in a minute`;
    this.#analysed += 1;
    const reason = analysePattern(source, flags, this.opts.timeoutMs);
    this.#spentMs += this.opts.now() - now;
    if (this.#verdicts.size >= MAX_VERDICTS) this.#verdicts.delete(this.#verdicts.keys().next().value ?? '');
    this.#verdicts.set(key, reason);
    return reason;
  }
}

const shared = new PatternAnalyser();

/** Why `source` may not be used, by this process's analyser (null: linear). */
export function unsafePatternReason(source: string, flags: string): string | null {
  return shared.reason(source, flags);
}

/** Patterns this process has analysed (tests: Loom's own schemas need none). */
export function patternsAnalysed(): number {
  return shared.analysed;
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
