/**
 * Reads the few settings deploy.test.ts checks from a nats-server config file
 * (deploy/nats/*.conf): max_payload with NATS's size suffixes, and the
 * JetStream block's store_dir. Not a general parser of the NATS format.
 */

/** NATS size suffixes: k/m/g are powers of 1000; kb/mb/gb (and ki/mi/gi, kib/...) of 1024. */
const SUFFIX: Readonly<Record<string, number>> = {
  '': 1,
  k: 1_000, kb: 1_024, ki: 1_024, kib: 1_024,
  m: 1_000_000, mb: 1_048_576, mi: 1_048_576, mib: 1_048_576,
  g: 1_000_000_000, gb: 1_073_741_824, gi: 1_073_741_824, gib: 1_073_741_824,
};

export interface NatsConf {
  /** Bytes, or undefined when not set (the server default is 1 MiB). */
  readonly maxPayloadBytes: number | undefined;
  readonly hasJetStream: boolean;
  readonly storeDir: string | undefined;
}

/** Parses `max_payload: 4MB` style sizes. @throws Error on an unknown suffix. */
export function parseNatsSize(text: string): number {
  const m = /^(\d+)\s*([A-Za-z]*)$/.exec(text.trim().replace(/^["']|["']$/g, ''));
  const factor = m === null ? undefined : SUFFIX[(m[2] ?? '').toLowerCase()];
  if (m === null || factor === undefined) throw new Error(`not a NATS size: ${text}`);
  return Number(m[1]) * factor;
}

export function readNatsConf(text: string): NatsConf {
  const body = text
    .split('\n')
    .map((line) => line.replace(/(^|\s)(#|\/\/).*$/, '')) // not the // in nats:// URLs
    .join('\n');
  const maxPayload = /^\s*max_payload\s*[:=]?\s*(\S+)\s*$/m.exec(body)?.[1];
  const jetstream = /^\s*jetstream\s*[:=]?\s*\{([^}]*)\}/m.exec(body);
  const storeDir = /store_dir\s*[:=]?\s*(\S+)/.exec(jetstream?.[1] ?? '')?.[1];
  return {
    maxPayloadBytes: maxPayload === undefined ? undefined : parseNatsSize(maxPayload),
    hasJetStream: jetstream !== null || /^\s*jetstream\s*[:=]\s*(true|enabled?)\s*$/m.test(body),
    storeDir: storeDir?.replace(/^["']|["']$/g, ''),
  };
}
