/**
 * Restoring an older version as a new one. A CRDT cannot go back in time:
 * the only way to make every replica equal an older state is a new update
 * that rewrites today's content into that state. This module computes that
 * update for a live document and a snapshot's state:
 *
 * - on a throwaway copy of the live document (the live roots stay untyped;
 *   see content.ts), each root is typed by what its content implies;
 * - text keeps its common prefix and suffix and replaces the middle
 *   (formatted text is replaced whole); arrays and XML fragments keep their
 *   equal leading and trailing children and replace the rest with clones of
 *   the snapshot's; maps set the keys whose values differ and delete the
 *   keys the snapshot lacks; roots the snapshot lacks are emptied;
 * - the copy's one transaction is the update.
 *
 * Concurrent edits merge with it like any edit: a client that typed during
 * the restore keeps its text beside the restored content.
 */
import * as Y from 'yjs';
import { inferKind, type RootKind } from './content.ts';

type DeltaOp = { insert?: unknown; attributes?: Record<string, unknown> };

/** A value comparable across documents: Yjs types by constructor and JSON. */
function fingerprint(value: unknown): string {
  if (value instanceof Y.AbstractType) {
    const json: unknown = value instanceof Y.XmlElement || value instanceof Y.XmlFragment || value instanceof Y.XmlText ? value.toString() : value.toJSON();
    return `${value.constructor.name}:${JSON.stringify(json)}`;
  }
  if (value instanceof Uint8Array) return `bytes:${Buffer.from(value).toString('base64')}`;
  if (value instanceof Y.Doc) return `doc:${value.guid}`;
  return `${typeof value}:${JSON.stringify(value)}`;
}

/** A copy of a value that can be inserted into another document. */
function cloneValue(value: unknown): unknown {
  if (value instanceof Y.AbstractType) return value.clone();
  if (value instanceof Y.Doc) return new Y.Doc({ guid: value.guid, ...(value.meta === null ? {} : { meta: value.meta as unknown }) });
  return value;
}

/** Lengths of the equal prefix and (non-overlapping) equal suffix of two lists. */
function commonEnds(a: readonly string[], b: readonly string[]): { prefix: number; suffix: number } {
  let prefix = 0;
  while (prefix < a.length && prefix < b.length && a[prefix] === b[prefix]) prefix++;
  let suffix = 0;
  while (suffix < a.length - prefix && suffix < b.length - prefix && a[a.length - 1 - suffix] === b[b.length - 1 - suffix]) suffix++;
  return { prefix, suffix };
}

/** Rewrites a list-like type's children: keeps equal ends, replaces the middle with clones. */
function rewriteList(
  current: readonly unknown[],
  wanted: readonly unknown[],
  remove: (index: number, length: number) => void,
  insert: (index: number, values: unknown[]) => void,
): void {
  const { prefix, suffix } = commonEnds(current.map(fingerprint), wanted.map(fingerprint));
  const removeCount = current.length - prefix - suffix;
  if (removeCount > 0) remove(prefix, removeCount);
  const middle = wanted.slice(prefix, wanted.length - suffix).map(cloneValue);
  if (middle.length > 0) insert(prefix, middle);
}

function isPlain(delta: readonly DeltaOp[]): boolean {
  return delta.every((op) => typeof op.insert === 'string' && op.attributes === undefined);
}

function rewriteText(live: Y.Text, wanted: Y.Text): void {
  const want = wanted.toDelta() as DeltaOp[];
  const have = live.toDelta() as DeltaOp[];
  if (JSON.stringify(want.map((op) => [fingerprint(op.insert), op.attributes])) === JSON.stringify(have.map((op) => [fingerprint(op.insert), op.attributes]))) return;
  if (isPlain(want) && isPlain(have)) {
    // Code points, not UTF-16 units, so a surrogate pair is never split.
    const a = [...live.toString()];
    const b = [...wanted.toString()];
    const { prefix, suffix } = commonEnds(a, b);
    const start = a.slice(0, prefix).join('').length;
    const removeLength = a.slice(prefix, a.length - suffix).join('').length;
    if (removeLength > 0) live.delete(start, removeLength);
    const insert = b.slice(prefix, b.length - suffix).join('');
    if (insert !== '') live.insert(start, insert);
    return;
  }
  live.delete(0, live.length);
  live.applyDelta(want.map((op) => ({ ...op, insert: cloneValue(op.insert) })));
}

function rewriteMap(live: Y.Map<unknown>, wanted: Y.Map<unknown>): void {
  for (const key of [...live.keys()]) if (!wanted.has(key)) live.delete(key);
  wanted.forEach((value, key) => {
    if (!live.has(key) || fingerprint(live.get(key)) !== fingerprint(value)) live.set(key, cloneValue(value));
  });
}

/** Makes root `name` of `work` equal root `name` of `source` (an empty document when the snapshot lacks the root). */
function rewriteRoot(work: Y.Doc, source: Y.Doc, name: string, kind: RootKind): void {
  switch (kind) {
    case 'text':
      rewriteText(work.getText(name), source.getText(name));
      break;
    case 'map':
      rewriteMap(work.getMap(name), source.getMap(name));
      break;
    case 'array': {
      const live = work.getArray<unknown>(name);
      rewriteList(live.toArray(), source.getArray(name).toArray(), (i, n) => live.delete(i, n), (i, v) => live.insert(i, v));
      break;
    }
    case 'xml': {
      const live = work.getXmlFragment(name);
      const wanted = source.getXmlFragment(name).toArray();
      rewriteList(live.toArray(), wanted, (i, n) => live.delete(i, n), (i, v) => live.insert(i, v as Array<Y.XmlElement | Y.XmlText>));
      break;
    }
    default: {
      const never: never = kind;
      throw new Error(`unhandled root kind ${String(never)}`);
    }
  }
}

/**
 * The update that makes `live`'s content equal the content of `targetState`
 * (a full Yjs state, e.g. a snapshot), or null when it already does.
 * `live` itself is not changed: apply the update through the write path.
 * @throws Error when `targetState` is not a valid Yjs update.
 */
export function restoreUpdate(live: Y.Doc, targetState: Uint8Array): Uint8Array | null {
  const target = new Y.Doc();
  const work = new Y.Doc();
  const blank = new Y.Doc();
  try {
    Y.applyUpdate(target, targetState);
    Y.applyUpdate(work, Y.encodeStateAsUpdate(live));
    // Kinds are read before anything is typed: typing a root changes nothing in it, but reads clearer.
    const plan = new Map<string, { kind: RootKind; inTarget: boolean }>();
    for (const [name, type] of work.share) plan.set(name, { kind: inferKind(type), inTarget: false });
    for (const [name, type] of target.share) {
      const empty = type._start === null && type._map.size === 0;
      plan.set(name, { kind: empty ? (plan.get(name)?.kind ?? 'text') : inferKind(type), inTarget: true });
    }
    const updates: Uint8Array[] = [];
    work.on('update', (update: Uint8Array) => updates.push(update));
    work.transact(() => {
      for (const [name, { kind, inTarget }] of plan) rewriteRoot(work, inTarget ? target : blank, name, kind);
    });
    if (updates.length === 0) return null;
    return updates.length === 1 ? updates[0]! : Y.mergeUpdates(updates);
  } finally {
    blank.destroy();
    work.destroy();
    target.destroy();
  }
}
