/** Copies between protocol/'s plain header maps and nats.js header objects. */
import { canonicalMIMEHeaderKey, headers as natsHeaders, type MsgHdrs } from '@nats-io/transport-node';
import type { HeaderMap } from '../../protocol/headers.ts';

export function toNatsHeaders(map: HeaderMap | undefined): MsgHdrs | undefined {
  if (map === undefined) return undefined;
  const keys = Object.keys(map);
  if (keys.length === 0) return undefined;
  const h = natsHeaders();
  for (const key of keys) {
    const value = map[key];
    if (value !== undefined) h.set(key, value);
  }
  return h;
}

export function fromNatsHeaders(h: MsgHdrs | undefined): HeaderMap {
  const out: Record<string, string> = {};
  if (h === undefined) return out;
  // Canonical keys so an internal service's 'loom-origin' reads as 'Loom-Origin'.
  for (const key of h.keys()) out[canonicalMIMEHeaderKey(key)] = h.get(key);
  return out;
}
