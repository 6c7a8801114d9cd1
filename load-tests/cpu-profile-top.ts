/**
 * Where a process spent its CPU, from a V8 `.cpuprofile`: self time by
 * place (a package, a folder of this repository, Node's internals, GC) and
 * the busiest functions. Idle time is left out.
 *
 *   node --import tsx load-tests/cpu-profile-top.ts <file.cpuprofile> [--top 25]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { intFlag, printLine } from './benchmark-main.ts';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
}
interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** `node_modules/<package>`, the repository folder (src/gateway, actors/agent…), node internals, or V8's own entries. */
function placeOf(url: string, functionName: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg?.[1] !== undefined) return pkg[1];
  if (url.startsWith('node:')) return 'node internals';
  const own = /\/(src|actors|protocol)\/([^/]+)\//.exec(url);
  if (own !== null) return `${own[1]}/${own[2]}`;
  return url;
}

const { values, positionals } = parseArgs({ options: { top: { type: 'string', default: '25' } }, allowPositionals: true, strict: true });
const file = positionals[0];
if (file === undefined) throw new Error('usage: cpu-profile-top.ts <file.cpuprofile> [--top N]');
const top = intFlag(values, 'top', 1, 1_000);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const byPlace = new Map<string, number>();
const byFunction = new Map<string, number>();
let busyUs = 0;
profile.samples.forEach((id, i) => {
  const frame = nodes.get(id)?.callFrame;
  const us = profile.timeDeltas[i] ?? 0;
  if (frame === undefined || frame.functionName === '(idle)') return;
  busyUs += us;
  const place = placeOf(frame.url, frame.functionName);
  byPlace.set(place, (byPlace.get(place) ?? 0) + us);
  const fn = `${frame.functionName || '(anonymous)'} ${place}:${frame.lineNumber + 1}`;
  byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
});
const share = (m: Map<string, number>) =>
  [...m]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, us]) => ({ name, ms: Math.round(us / 1000), percent: Math.round((us / busyUs) * 1000) / 10 }));
printLine({ file, busyMs: Math.round(busyUs / 1000), byPlace: share(byPlace), byFunction: share(byFunction) });
