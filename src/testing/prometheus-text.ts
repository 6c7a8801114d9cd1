/**
 * Reads the Prometheus text exposition format for tests: the families a
 * scrape declares (`# TYPE`) and every sample with its labels, so tests can
 * compare two scrapes and inspect label values.
 */
export interface Sample {
  /** The sample's own name (`loom_x_bucket`, `loom_x_count`, …). */
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Scrape {
  /** Family name → type (counter, gauge, histogram, summary). */
  readonly families: ReadonlyMap<string, string>;
  readonly samples: readonly Sample[];
  /** Sum of the samples named `name` whose labels include `match`. */
  sum(name: string, match?: Readonly<Record<string, string>>): number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parsePrometheusText(text: string): Scrape {
  const families = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const [name, type] = line.slice('# TYPE '.length).split(' ');
      if (name !== undefined && type !== undefined) families.set(name, type);
      continue;
    }
    if (line.startsWith('#') || line.trim() === '') continue;
    const m = SAMPLE.exec(line);
    if (m === null) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1] as string] = (l[2] as string).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    samples.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return {
    families,
    samples,
    sum(name, match = {}) {
      let total = 0;
      for (const s of samples) {
        if (s.name !== name) continue;
        if (Object.entries(match).every(([k, v]) => s.labels[k] === v)) total += s.value;
      }
      return total;
    },
  };
}
