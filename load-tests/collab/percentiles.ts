/**
 * Latency samples: a growable Float64Array with a hard cap per worker, and
 * exact percentiles over the merged, sorted samples (nearest-rank).
 */

export class SampleBuffer {
  private data = new Float64Array(16_384);
  private length = 0;
  /** Samples refused because the cap was reached. */
  dropped = 0;

  constructor(private readonly cap: number) {}

  push(value: number): void {
    if (this.length >= this.cap) {
      this.dropped += 1;
      return;
    }
    if (this.length === this.data.length) {
      const grown = new Float64Array(Math.min(this.cap, this.data.length * 2));
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.length] = value;
    this.length += 1;
  }

  toArray(): Float64Array {
    return this.data.slice(0, this.length);
  }

  /** Forgets every sample (a ramp step starts afresh). */
  clear(): void {
    this.length = 0;
    this.dropped = 0;
  }
}

export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
}

const round = (value: number): number => Math.round(value * 100) / 100;

/** Merges the workers' samples and returns nearest-rank percentiles in ms (null when empty). */
export function summarize(parts: readonly Float64Array[]): LatencySummary | null {
  const total = parts.reduce((sum, part) => sum + part.length, 0);
  if (total === 0) return null;
  const all = new Float64Array(total);
  let offset = 0;
  for (const part of parts) {
    all.set(part, offset);
    offset += part.length;
  }
  all.sort();
  const at = (q: number): number => all[Math.min(total - 1, Math.max(0, Math.ceil(q * total) - 1))] ?? Number.NaN;
  return { count: total, p50: round(at(0.5)), p95: round(at(0.95)), p99: round(at(0.99)), max: round(at(1)) };
}
