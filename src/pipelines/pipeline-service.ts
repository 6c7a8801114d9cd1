/**
 * The pipeline registry: owners register immutable, numbered versions of
 * their own kinds (validated whole by protocol/pipeline-definition.ts), read
 * them back, and jobs resolve their kind here. Built-in kinds ship with Loom,
 * are visible to everyone and cannot be registered. A user's kinds are theirs
 * alone: anyone else is told they do not exist.
 */
import type { JobPipeline } from '../../protocol/job-events.ts';
import { JOB_KIND_PATTERN } from '../../protocol/job.ts';
import { validatePipelineDefinition, type PipelineDefinition } from '../../protocol/pipeline-definition.ts';
import { InputValidator } from './input-validation.ts';
import { PipelineError } from './pipeline-error.ts';
import type { PipelineStore, StoredPipeline } from './pipeline-store.ts';

/** A definition as the API shows it: a built-in one has no version number or registration time. */
export interface PipelineRecord {
  readonly kind: string;
  /** Null for built-ins, which change only with Loom itself. */
  readonly version: number | null;
  readonly builtin: boolean;
  readonly description: string | null;
  readonly createdAt: Date | null;
  readonly definition: PipelineDefinition;
}

export interface PipelinePage {
  readonly items: readonly PipelineRecord[];
  /** The last kind of this page when there are more, else null. */
  readonly nextAfter: string | null;
}


export interface PipelineServiceLimits {
  /** Kinds one owner may register. */
  readonly maxKindsPerOwner: number;
  /** Versions one kind may have. */
  readonly maxVersionsPerKind: number;
}

/** The name of the published schema, which looks like a kind. */
const RESERVED_KIND = 'schema.json';

export const DEFAULT_PIPELINE_LIMITS: PipelineServiceLimits = { maxKindsPerOwner: 200, maxVersionsPerKind: 1_000 };

export class PipelineService {
  private readonly inputs = new InputValidator();

  constructor(
    private readonly store: PipelineStore,
    /** The built-in kinds, each with its definition. */
    private readonly builtins: ReadonlyMap<string, PipelineDefinition>,
    private readonly limits: PipelineServiceLimits = DEFAULT_PIPELINE_LIMITS,
  ) {}

  /** Whether `kind` ships with Loom. */
  isBuiltin(kind: string): boolean {
    return this.builtins.has(kind);
  }

  /**
   * Registers `raw` as the owner's next version of `kind`. A body without
   * `kind` takes the path's.
   * @throws PipelineError `builtin-kind`, `kind-mismatch`, `invalid-definition` (every fault listed), `too-many-*`.
   */
  async register(ownerId: string, kind: string, raw: Record<string, unknown>): Promise<PipelineRecord> {
    requireKind(kind);
    if (this.builtins.has(kind)) throw new PipelineError('builtin-kind', `${kind} is a built-in pipeline; register yours under another kind`, { field: 'kind' });
    // GET /v1/pipelines/schema.json serves the definition schema, so a kind by that name could never be read back.
    if (kind === RESERVED_KIND) throw new PipelineError('builtin-kind', `${kind} is reserved (the definition JSON Schema); register yours under another kind`, { field: 'kind' });
    if (raw.kind !== undefined && raw.kind !== kind) {
      throw new PipelineError('kind-mismatch', `the body's kind ${JSON.stringify(raw.kind)} is not ${kind}, the kind in the path`, { field: 'kind' });
    }
    const result = validatePipelineDefinition({ ...raw, kind });
    if (!result.ok) {
      const [first] = result.errors;
      const summary = result.errors.length === 1 ? '1 fault' : `${result.errors.length} faults`;
      throw new PipelineError('invalid-definition', `the definition has ${summary}; first at ${first?.path || '/'}: ${first?.message ?? 'invalid'}`, {
        field: first?.path ?? '',
        problems: result.errors,
      });
    }
    const latest = await this.store.latest(ownerId, kind);
    if (latest === null && (await this.store.countKinds(ownerId)) >= this.limits.maxKindsPerOwner) {
      throw new PipelineError('too-many-pipelines', `you have registered ${this.limits.maxKindsPerOwner} pipeline kinds, the most one owner may`, { field: 'kind' });
    }
    if (latest !== null && latest.version >= this.limits.maxVersionsPerKind) {
      throw new PipelineError('too-many-versions', `${kind} has ${latest.version} versions, the most one kind may`, { field: 'kind' });
    }
    return record(await this.store.append(ownerId, kind, result.definition));
  }

  /** @throws PipelineError `pipeline-not-found` unless it is built in or the owner's. */
  async latest(ownerId: string, kind: string): Promise<PipelineRecord> {
    const builtin = this.builtinRecord(kind);
    if (builtin !== null) return builtin;
    const found = await this.store.latest(ownerId, kind);
    if (found === null) throw notFound(kind);
    return record(found);
  }

  /** @throws PipelineError `pipeline-not-found` unless the owner registered that version (built-ins have no numbered versions). */
  async version(ownerId: string, kind: string, version: number): Promise<PipelineRecord> {
    const found = this.builtins.has(kind) ? null : await this.store.version(ownerId, kind, version);
    if (found === null) throw new PipelineError('pipeline-not-found', `pipeline ${kind} has no version ${version}`, { field: 'version' });
    return record(found);
  }

  /** The built-ins and the owner's kinds (newest versions), ordered by kind, after `after`. */
  async list(ownerId: string, opts: { limit: number; after?: string | undefined }): Promise<PipelinePage> {
    const after = opts.after;
    const own = await this.store.listLatest(ownerId, { limit: opts.limit + 1, afterKind: after });
    const builtins = [...this.builtins.keys()].filter((k) => after === undefined || k > after).flatMap((k) => this.builtinRecord(k) ?? []);
    const merged = [...builtins, ...own.map(record)].sort((a, b) => (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0));
    const items = merged.slice(0, opts.limit);
    return { items, nextAfter: merged.length > opts.limit ? (items.at(-1)?.kind ?? null) : null };
  }

  /**
   * The definition a new job of `kind` runs and checks its input against:
   * the caller's newest version, or null for a built-in (the engine's own).
   * @throws PipelineError `unknown-kind` (field `kind`), `invalid-input` (field `input.<path>`).
   */
  async resolveForJob(ownerId: string, kind: string, input: unknown): Promise<JobPipeline | null> {
    if (this.builtins.has(kind)) {
      const builtin = this.builtins.get(kind);
      if (builtin !== undefined) this.inputs.check(`builtin\0${kind}`, builtin.input, input);
      return null;
    }
    const found = await this.store.latest(ownerId, kind);
    if (found === null) {
      throw new PipelineError('unknown-kind', `kind: ${kind} is neither a built-in pipeline nor one you registered (PUT /v1/pipelines/${kind})`, { field: 'kind' });
    }
    this.inputs.check(`${ownerId}\0${kind}\0${found.version}`, found.definition.input, input);
    return { kind, version: found.version, definition: found.definition as unknown as JobPipeline['definition'] };
  }

  private builtinRecord(kind: string): PipelineRecord | null {
    const definition = this.builtins.get(kind);
    if (definition === undefined) return null;
    return { kind, version: null, builtin: true, description: definition.description ?? null, createdAt: null, definition };
  }
}

function record(p: StoredPipeline): PipelineRecord {
  return { kind: p.kind, version: p.version, builtin: false, description: p.definition.description ?? null, createdAt: p.createdAt, definition: p.definition };
}

function notFound(kind: string): PipelineError {
  return new PipelineError('pipeline-not-found', `pipeline ${kind} does not exist`, { field: 'kind' });
}

function requireKind(kind: string): void {
  if (kind.length > 64 || !JOB_KIND_PATTERN.test(kind)) {
    throw new PipelineError('invalid-definition', `kind: ${JSON.stringify(kind.slice(0, 80))} must be a dotted lowercase kind such as acme.discovery (at most 64 characters)`, {
      field: 'kind',
    });
  }
}
