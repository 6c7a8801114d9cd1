/**
 * The SSRF guard: a webhook may not reach loopback, private, link-local,
 * carrier-grade NAT, multicast or cloud metadata addresses unless
 * LOOM_WEBHOOK_ALLOW_PRIVATE. It is applied at delivery time, after DNS
 * resolution, inside the socket's own `lookup`: the connection goes to the
 * address that was checked, so a name that resolves differently a moment
 * later (DNS rebinding) gains nothing.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';

const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  blocked.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['64:ff9b::', 96],
  ['2001:db8::', 32],
] as const) {
  blocked.addSubnet(net, prefix, 'ipv6');
}

/** An IPv4 address written as IPv6 (`::ffff:127.0.0.1`) is judged as the IPv4 address. */
function unmapped(address: string): { address: string; family: 'ipv4' | 'ipv6' } {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1] !== undefined) return { address: mapped[1], family: 'ipv4' };
  return { address, family: isIP(address) === 6 ? 'ipv6' : 'ipv4' };
}

/** Whether an IP address is one webhooks may not reach without LOOM_WEBHOOK_ALLOW_PRIVATE. */
export function isForbiddenAddress(address: string): boolean {
  const { address: a, family } = unmapped(address);
  return blocked.check(a, family);
}

/** Raised (as the socket's lookup error) when a target resolves to a forbidden address. */
export class ForbiddenAddressError extends Error {
  override readonly name = 'ForbiddenAddressError';
  readonly code = 'forbidden-address';
  constructor(readonly host: string, readonly address: string) {
    super(`${host} resolves to ${address}, a private, loopback, link-local or metadata address`);
  }
}

/**
 * A `lookup` for http(s).request that refuses forbidden addresses: every
 * address the name resolves to must be allowed (one bad record refuses
 * the name), and the socket connects to the first.
 */
export const guardedLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { all: true, family: options.family ?? 0 }, (err, addresses: LookupAddress[]) => {
    if (err !== null) {
      callback(err, '', 0);
      return;
    }
    const bad = addresses.find((a) => isForbiddenAddress(a.address));
    const first = addresses[0];
    if (bad !== undefined || first === undefined) {
      callback(Object.assign(new ForbiddenAddressError(hostname, bad?.address ?? 'nothing'), { errno: 0, syscall: 'lookup' }), '', 0);
      return;
    }
    if (options.all === true) callback(null, addresses);
    else callback(null, first.address, first.family);
  });
};

/** For an IP-literal host (sockets skip `lookup` for those): the refusal, or null when allowed. */
export function checkLiteralHost(hostname: string): ForbiddenAddressError | null {
  const bare = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  if (isIP(bare) === 0) return null;
  return isForbiddenAddress(bare) ? new ForbiddenAddressError(hostname, bare) : null;
}
