/**
 * What to measure: the load shapes and the command line that picks them.
 *
 * A load is N documents x M clients per document x R edits/s per client for
 * S seconds. The two named loads are the ones the issue asks for; any of the
 * four figures can be overridden from the command line.
 */

export const Targets = ['loom', 'hocuspocus'] as const;
/** `loom-cluster`: Loom on an N-node NATS cluster with every stream at RN (--nats-cluster N). */
export type Target = (typeof Targets)[number] | 'loom-cluster';

export interface LoadSpec {
  readonly name: string;
  readonly docs: number;
  readonly clients: number;
  readonly rate: number;
  readonly durationS: number;
}

export const namedLoads: Readonly<Record<'small' | 'large', LoadSpec>> = {
  small: { name: 'small', docs: 10, clients: 5, rate: 10, durationS: 20 },
  large: { name: 'large', docs: 100, clients: 10, rate: 1, durationS: 30 },
};

export interface RunOptions {
  readonly targets: readonly Target[];
  readonly loads: readonly LoadSpec[];
  readonly workers: number;
  /** How long to wait for every client of every document to agree, after the last edit. */
  readonly convergeTimeoutMs: number;
  /** --nats-cluster N: nodes of the NATS cluster (and replicas) of the `loom-cluster` target. */
  readonly natsCluster?: number;
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly code = 'usage';
}

const usage = `usage: node --import tsx load-tests/collab/run.ts [options]
  --target loom|hocuspocus|both   (default both)
  --load small|large|all          (default all)
  --docs N --clients M --rate R --duration S   override the load's figures
  --workers K                     client worker processes (default 2)
  --converge-timeout S            seconds to wait for convergence (default 10)
  --nats-cluster N                Loom on an N-node NATS cluster, streams at RN (3 or 5),
                                  beside Loom on its single embedded server (R1); --target is then ignored`;

function positive(flag: string, raw: string | undefined, integer: boolean): number {
  const value = Number(raw);
  if (raw === undefined || !Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new UsageError(`${flag} wants a positive ${integer ? 'integer' : 'number'}, got ${String(raw)}\n${usage}`);
  }
  return value;
}

/**
 * Parses argv (without the node and script entries).
 * @throws UsageError on an unknown flag or a bad value.
 */
export function parseArgs(argv: readonly string[]): RunOptions {
  let target = 'both';
  let load = 'all';
  let workers = 2;
  let convergeTimeoutMs = 10_000;
  let natsCluster: number | undefined;
  const overrides: { docs?: number; clients?: number; rate?: number; durationS?: number } = {};
  for (let i = 0; i < argv.length; i += 1) {
    const flag = argv[i];
    const value = argv[i + 1];
    i += 1;
    switch (flag) {
      case '--target': target = value ?? ''; break;
      case '--load': load = value ?? ''; break;
      case '--workers': workers = positive(flag, value, true); break;
      case '--docs': overrides.docs = positive(flag, value, true); break;
      case '--clients': overrides.clients = positive(flag, value, true); break;
      case '--rate': overrides.rate = positive(flag, value, false); break;
      case '--duration': overrides.durationS = positive(flag, value, false); break;
      case '--converge-timeout': convergeTimeoutMs = positive(flag, value, false) * 1000; break;
      case '--nats-cluster':
        natsCluster = positive(flag, value, true);
        if (natsCluster !== 3 && natsCluster !== 5) throw new UsageError(`--nats-cluster wants 3 or 5, got ${String(value)}\n${usage}`);
        break;
      default: throw new UsageError(`unknown argument ${String(flag)}\n${usage}`);
    }
  }
  const targets: readonly Target[] =
    natsCluster !== undefined ? ['loom', 'loom-cluster']
    : target === 'both' ? Targets : target === 'loom' || target === 'hocuspocus' ? [target] : [];
  if (targets.length === 0) throw new UsageError(`--target wants loom|hocuspocus|both, got ${target}\n${usage}`);
  const base: readonly LoadSpec[] =
    load === 'all' ? [namedLoads.small, namedLoads.large]
    : load === 'small' || load === 'large' ? [namedLoads[load]]
    : [];
  if (base.length === 0) throw new UsageError(`--load wants small|large|all, got ${load}\n${usage}`);
  const given = Object.keys(overrides).length;
  // All four figures given: one custom load, whatever --load says.
  const presets = given === 4 ? base.slice(0, 1) : base;
  const loads = presets.map((spec) => ({
    ...spec,
    ...overrides,
    name: given === 4 ? 'custom' : given > 0 ? `${spec.name}*` : spec.name,
  }));
  return { targets, loads, workers, convergeTimeoutMs, ...(natsCluster === undefined ? {} : { natsCluster }) };
}
