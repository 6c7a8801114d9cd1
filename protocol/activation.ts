/**
 * Activation handshake on sys.activate.<kind> (queue group of actor hosts).
 * A caller that got "no responders" from an actor's command subject asks
 * some host to activate it, then retries the command.
 *   request: JSON { "id": string }
 *   reply:   JSON { "status": "active" }            the actor now listens
 *            JSON { "status": "elsewhere", "host" } another host holds the lease
 *            or an error reply (Loom-Error header)
 */
import { z } from 'zod';

export interface ActivateRequest {
  readonly id: string;
}
export const activateRequestSchema: z.ZodType<ActivateRequest> = z.object({ id: z.string().min(1).max(1_000) }).strict();

export type ActivateReply = { readonly status: 'active' } | { readonly status: 'elsewhere'; readonly host: string | null };
export const activateReplySchema: z.ZodType<ActivateReply> = z.union([
  z.object({ status: z.literal('active') }),
  z.object({ status: z.literal('elsewhere'), host: z.string().nullable() }),
]);

/** Gateways publish a heartbeat this often on sys.gateway.<id>.heartbeat. */
export const GATEWAY_HEARTBEAT_MS = 2_000;
/** A gateway silent this long is presumed dead; its connections' presence is dropped. */
export const GATEWAY_DEAD_AFTER_MS = 7_000;
