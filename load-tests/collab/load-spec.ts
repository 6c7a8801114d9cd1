/**
 * What to measure: the load shapes and the command line that picks them.
 *
 * A load is N documents x M clients per document x R edits/s per client for
 * S seconds. The two named loads are the ones the issue asks for; any of the
 * four figures can be overridden from the command line.
 */

/**
 * `loom`: one process (embedded nats-server and PGlite); `hocuspocus`: one in-memory process;
 * `hocuspocus-x2`: two Hocuspocus processes joined by Redis; `loom-x2`: two gateways and two
 * actor hosts on one nats-server and one PostgreSQL.
 */
export const Targets = ['loom', 'hocuspocus', 'hocuspocus-x2', 'loom-x2'] as const;
/** `loom-cluster`: Loom on an N-node NATS cluster with every stream at RN (--nats-cluster N). */
export type Target = (typeof Targets)[number] | 'loom-cluster';

const isTarget = (name: string): name is (typeof Targets)[number] => (Targets as readonly string[]).includes(name);

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
  /** --ramp: raise the rate step by step instead of running the loads. */
  readonly ramp?: RampSpec;
}

/** A ramp: per-client rates from `startRate`, times `factor` each step, until p99 passes `p99LimitMs`. */
export interface RampSpec {
  readonly startRate: number;
  readonly factor: number;
  readonly stepS: number;
  readonly maxSteps: number;
  readonly p99LimitMs: number;
}

export const defaultRamp: RampSpec = { startRate: 2, factor: 1.5, stepS: 8, maxSteps: 12, p99LimitMs: 50 };

export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly code = 'usage';
}

const usage = `usage: node --import tsx load-tests/collab/run.ts [options]
  --target T[,T...]|both|all      loom, hocuspocus, hocuspocus-x2 (two processes + Redis),
                                  loom-x2 (2 gateways + 2 actor hosts, shared NATS + PostgreSQL);
                                  both = loom,hocuspocus; all = the four (default)
  --load small|large|all          (default all)
  --docs N --clients M --rate R --duration S   override the load's figures
  --workers K                     client worker processes (default 2)
  --converge-timeout S            seconds to wait for convergence (default 10; 5 per ramp step)
  --nats-cluster N                Loom on an N-node NATS cluster, streams at RN (3 or 5),
                                  beside Loom on its single embedded server (R1); --target is then ignored
  --ramp                          per target: one connected load (default 10 docs x 5 clients), edit rate
                                  raised step by step until p99 passes the limit; --rate is the first step
  --ramp-factor F --step S --max-steps N --p99-limit MS   (defaults 1.5, 8 s, 12, 50 ms)`;

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
  let target = 'all';
  let ramp: RampSpec | undefined;
  const rampOverrides: { factor?: number; stepS?: number; maxSteps?: number; p99LimitMs?: number } = {};
  let load = 'all';
  let workers = 2;
  let convergeTimeoutMs: number | undefined;
  let natsCluster: number | undefined;
  const overrides: { docs?: number; clients?: number; rate?: number; durationS?: number } = {};
  for (let i = 0; i < argv.length; i += 1) {
    const flag = argv[i];
    const value = argv[i + 1];
    i += 1;
    switch (flag) {
      case '--ramp': ramp = defaultRamp; i -= 1; break;
      case '--ramp-factor':
        rampOverrides.factor = positive(flag, value, false);
        if (rampOverrides.factor <= 1) throw new UsageError(`--ramp-factor wants a number above 1, got ${String(value)}\n${usage}`);
        break;
      case '--step': rampOverrides.stepS = positive(flag, value, false); break;
      case '--max-steps': rampOverrides.maxSteps = positive(flag, value, true); break;
      case '--p99-limit': rampOverrides.p99LimitMs = positive(flag, value, false); break;
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
  const named = target === 'all' ? [...Targets] : target === 'both' ? ['loom', 'hocuspocus'] : target.split(',');
  if (named.length === 0 || !named.every(isTarget)) throw new UsageError(`--target wants a list of ${Targets.join('|')}, or both|all; got ${target}\n${usage}`);
  const targets: readonly Target[] = natsCluster !== undefined ? ['loom', 'loom-cluster'] : [...new Set(named)];
  if (ramp !== undefined) {
    // One load: the small shape unless overridden; its rate is the first step's.
    const spec = { ...namedLoads.small, ...overrides, name: 'ramp' };
    const rampSpec = { ...ramp, ...rampOverrides, startRate: overrides.rate ?? ramp.startRate };
    return { targets, loads: [spec], workers, convergeTimeoutMs: convergeTimeoutMs ?? 5_000, ramp: rampSpec, ...(natsCluster === undefined ? {} : { natsCluster }) };
  }
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
  return { targets, loads, workers, convergeTimeoutMs: convergeTimeoutMs ?? 10_000, ...(natsCluster === undefined ? {} : { natsCluster }) };
}
