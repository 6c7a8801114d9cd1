/**
 * Agent tools offered by internal services as NATS micro-services (the
 * `$SRV` protocol of @nats-io/services and the other NATS clients): the
 * endpoint metadata that makes an endpoint a Loom tool, the headers Loom
 * sends with a call, and the check of what a service announced. PROTOCOL.md
 * ("Agent tools as NATS services") describes the exchange.
 *
 * A call is a plain NATS request on the endpoint's subject: the body is the
 * arguments as JSON (already validated against the announced schema), the
 * reply body is the tool's result as UTF-8 text (shown to the model as it
 * is). A reply with the `Nats-Service-Error` header is a tool error.
 */
import { z } from 'zod';

/** Endpoint metadata keys (all values are strings, as the micro-services protocol requires). */
export const SERVICE_TOOL_METADATA = {
  /** The tool's name as the model sees it; its presence makes the endpoint a tool. */
  name: 'loom.tool.name',
  description: 'loom.tool.description',
  /** JSON Schema of the arguments object, as a JSON string (`{"type":"object",...}`). */
  schema: 'loom.tool.schema',
  /** Optional: longest a call may take, in milliseconds (decimal integer). */
  timeoutMs: 'loom.tool.timeout_ms',
  /** Optional: `true` makes the agent wait for a person's approval before each call. */
  needsApproval: 'loom.tool.needs_approval',
} as const;

/** Headers of a service tool call. */
export const SERVICE_TOOL_HEADERS = {
  /** The model's tool-call id: the same on a retried call, so a service can deduplicate. */
  callId: 'Loom-Tool-Call-Id',
  /** The agent session making the call. */
  sessionId: 'Loom-Agent-Session',
  /** The session owner's user id: a service must not act beyond what this user may do. */
  ownerId: 'Loom-Agent-Owner',
} as const;

/** Error headers of the micro-services protocol (a reply carrying them is a tool error). */
export const SERVICE_ERROR_HEADERS = { description: 'Nats-Service-Error', code: 'Nats-Service-Error-Code' } as const;

/** Bounds of what a service may announce. */
export const SERVICE_TOOL_LIMITS = {
  maxDescriptionChars: 1_024,
  maxSchemaBytes: 16 * 1024,
  minTimeoutMs: 100,
  maxTimeoutMs: 600_000,
} as const;

/** Tool names: the OpenAI function-name rule (the same as actors/agent/tool.ts TOOL_NAME_PATTERN). */
export const SERVICE_TOOL_NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** A JSON Schema object. */
export type JsonSchemaObject = { readonly [keyword: string]: unknown };

/** A tool as a service announced it, checked. */
export interface ServiceToolAnnouncement {
  readonly name: string;
  readonly description: string;
  readonly parameters: JsonSchemaObject;
  /** Null: the runner's default service-tool timeout. */
  readonly timeoutMs: number | null;
  readonly needsApproval: boolean;
}

const announcementSchema = z.object({
  name: z.string().regex(SERVICE_TOOL_NAME_PATTERN, 'must be 1-64 letters, digits, _ or -'),
  description: z.string().min(1).max(SERVICE_TOOL_LIMITS.maxDescriptionChars),
  schema: z
    .string()
    .max(SERVICE_TOOL_LIMITS.maxSchemaBytes)
    .transform((raw, ctx) => {
      let value: unknown;
      try {
        value = JSON.parse(raw);
      } catch {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'is not JSON' });
        return z.NEVER;
      }
      if (typeof value !== 'object' || value === null || Array.isArray(value) || (value as { type?: unknown }).type !== 'object') {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must be a JSON Schema of an object ({"type":"object",...})' });
        return z.NEVER;
      }
      return value as JsonSchemaObject;
    }),
  timeoutMs: z
    .string()
    .regex(/^\d{1,7}$/, 'must be a whole number of milliseconds')
    .transform(Number)
    .pipe(z.number().min(SERVICE_TOOL_LIMITS.minTimeoutMs).max(SERVICE_TOOL_LIMITS.maxTimeoutMs))
    .optional(),
  needsApproval: z.enum(['true', 'false']).optional(),
});

/**
 * Reads an endpoint's metadata. Returns null when the endpoint is not a tool
 * (no `loom.tool.name`).
 * @throws Error naming the metadata key at fault when the announcement is malformed.
 */
export function parseServiceToolMetadata(metadata: Readonly<Record<string, string>> | undefined): ServiceToolAnnouncement | null {
  const name = metadata?.[SERVICE_TOOL_METADATA.name];
  if (metadata === undefined || name === undefined) return null;
  const parsed = announcementSchema.safeParse({
    name,
    description: metadata[SERVICE_TOOL_METADATA.description],
    schema: metadata[SERVICE_TOOL_METADATA.schema],
    timeoutMs: metadata[SERVICE_TOOL_METADATA.timeoutMs],
    needsApproval: metadata[SERVICE_TOOL_METADATA.needsApproval],
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = String(issue?.path[0] ?? 'name') as keyof typeof SERVICE_TOOL_METADATA;
    throw new Error(`${SERVICE_TOOL_METADATA[field]}: ${issue?.message ?? 'invalid'}`);
  }
  const a = parsed.data;
  return { name: a.name, description: a.description, parameters: a.schema, timeoutMs: a.timeoutMs ?? null, needsApproval: a.needsApproval === 'true' };
}
