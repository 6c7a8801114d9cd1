/**
 * Tools that internal services offer as NATS micro-services. Discovery asks
 * every service for its INFO (`$SRV.INFO`, through @nats-io/services' client)
 * and keeps each endpoint whose metadata announces a tool (see
 * protocol/agent-tools.ts). What discovery found is reused for `cacheTtlMs`,
 * then renewed in the background at the next lookup (which still gets the
 * cached answer): a changed or vanished service takes effect at most
 * `cacheTtlMs` plus one discovery late, and calling a vanished one meanwhile
 * is an `unavailable` tool error (no responders). A name not in the cache
 * triggers a discovery that the caller waits for, at most once per
 * `minRefreshMs`, so a new service is found at once.
 */
import { Svcm, type ServiceInfo } from '@nats-io/services';
import { headers as natsHeaders, RequestError, type NatsConnection } from '@nats-io/transport-node';
import { parseServiceToolMetadata, SERVICE_ERROR_HEADERS, SERVICE_TOOL_HEADERS, type ServiceToolAnnouncement } from '../../protocol/agent-tools.ts';
import type { Logger } from '../log.ts';
import { RequestMux, type RequestOutcome } from '../nats/request-mux.ts';
import type { RunnableTool, ToolInvocation } from './runnable-tool.ts';
import type { SchemaValidator } from './schema-validator.ts';
import { ToolFailure } from './tool-failure.ts';
import type { ServiceToolSource } from './tool-runner.ts';

export interface ServiceToolDirectoryOptions {
  readonly nc: NatsConnection;
  readonly validator: SchemaValidator;
  /** Names a service may not take (the built-ins win). */
  readonly reservedNames: ReadonlySet<string>;
  /** Timeout of a service tool that announces none. */
  readonly defaultTimeoutMs: number;
  /** How long a discovery is reused. */
  readonly cacheTtlMs: number;
  /** Shortest time between two discoveries, however many unknown names are asked for. */
  readonly minRefreshMs: number;
  /** How long discovery waits for INFO replies (it ends earlier once replies stop coming). */
  readonly discoveryWaitMs: number;
  readonly log: Logger;
}

interface Discovery {
  readonly at: number;
  readonly tools: ReadonlyMap<string, RunnableTool>;
}

export class ServiceToolDirectory implements ServiceToolSource {
  readonly #o: ServiceToolDirectoryOptions;
  #cache: Discovery | null = null;
  #inFlight: Promise<Discovery> | null = null;
  /** Problems already logged, so a broken announcement is reported once, not at every discovery. */
  readonly #reported = new Set<string>();

  /** Every tool call's request goes over this one inbox subscription (see ServiceTool). */
  readonly #mux: RequestMux;

  constructor(opts: ServiceToolDirectoryOptions) {
    this.#o = opts;
    this.#mux = new RequestMux(opts.nc);
  }

  async find(name: string, signal: AbortSignal): Promise<RunnableTool | null> {
    const cached = this.#cache;
    const age = cached === null ? Infinity : Date.now() - cached.at;
    const hit = cached?.tools.get(name);
    if (hit !== undefined) {
      // A known tool is served from the cache; past its TTL the cache is renewed beside the call, so a step never waits for a discovery it does not need.
      if (age >= this.#o.cacheTtlMs && this.#inFlight === null) {
        this.#refresh(AbortSignal.timeout(this.#o.discoveryWaitMs * 4)).catch((err: unknown) => this.#o.log.warn({ err }, 'renewing service tools failed'));
      }
      return hit;
    }
    if (cached !== null && age < this.#o.minRefreshMs) return null;
    return (await this.#refresh(signal)).tools.get(name) ?? null;
  }

  /** One discovery at a time; concurrent callers share it. */
  #refresh(signal: AbortSignal): Promise<Discovery> {
    this.#inFlight ??= this.#discover().finally(() => {
      this.#inFlight = null;
    });
    const shared = this.#inFlight;
    return new Promise<Discovery>((resolve, reject) => {
      const onAbort = () => reject(new ToolFailure('cancelled', 'cancelled while discovering service tools'));
      signal.addEventListener('abort', onAbort, { once: true });
      shared.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  async #discover(): Promise<Discovery> {
    const infos: ServiceInfo[] = [];
    try {
      const client = new Svcm(this.#o.nc).client({ strategy: 'stall', maxWait: this.#o.discoveryWaitMs, stall: 250 });
      for await (const info of await client.info()) infos.push(info);
    } catch (err) {
      if (!(err instanceof RequestError && err.isNoResponders())) {
        throw new ToolFailure('unavailable', 'service tools cannot be discovered right now', { cause: err });
      }
      // No service at all answers $SRV.INFO: there are no service tools.
    }
    // A stable order, so the same name always resolves to the same service when two announce it.
    infos.sort((a, b) => (a.name === b.name ? a.id.localeCompare(b.id) : a.name.localeCompare(b.name)));
    const tools = new Map<string, ServiceTool>();
    for (const info of infos) {
      for (const endpoint of info.endpoints ?? []) {
        const tool = this.#toolOf(info, endpoint.subject, endpoint.metadata);
        if (tool === null) continue;
        const taken = tools.get(tool.descriptor.name);
        if (taken === undefined) tools.set(tool.descriptor.name, tool);
        else if (taken.subject !== endpoint.subject) {
          this.#reportOnce(`dup:${info.name}:${endpoint.subject}`, { service: info.name, tool: tool.descriptor.name }, 'service tool name offered twice; the first service keeps it');
        }
      }
    }
    const discovery = { at: Date.now(), tools };
    this.#cache = discovery;
    this.#o.log.debug({ services: infos.length, tools: tools.size }, 'service tools discovered');
    return discovery;
  }

  #toolOf(info: ServiceInfo, subject: string, metadata: Record<string, string> | undefined): ServiceTool | null {
    let announced: ServiceToolAnnouncement | null;
    try {
      announced = parseServiceToolMetadata(metadata);
      if (announced !== null) this.#o.validator.prepare(announced.parameters);
    } catch (err) {
      this.#reportOnce(`bad:${info.name}:${subject}:${JSON.stringify(metadata)}`, { service: info.name, subject, err }, 'ignoring a malformed service tool');
      return null;
    }
    if (announced === null) return null;
    if (this.#o.reservedNames.has(announced.name)) {
      this.#reportOnce(`reserved:${info.name}:${announced.name}`, { service: info.name, tool: announced.name }, 'a service tool may not take a built-in name');
      return null;
    }
    return new ServiceTool(
      {
        name: announced.name,
        description: announced.description,
        parameters: announced.parameters,
        timeoutMs: announced.timeoutMs ?? this.#o.defaultTimeoutMs,
        needsApproval: announced.needsApproval,
        source: 'service',
      },
      subject,
      this.#mux,
    );
  }

  #reportOnce(key: string, fields: Record<string, unknown>, message: string): void {
    if (this.#reported.has(key)) return;
    if (this.#reported.size > 1_000) this.#reported.clear();
    this.#reported.add(key);
    this.#o.log.warn(fields, message);
  }
}

/**
 * A call is one request on the endpoint's subject: JSON arguments in, the
 * result text out. It goes over the directory's RequestMux rather than
 * nc.request, which builds an Error with a stack for every request it
 * completes (a tool call is on every agent step).
 */
class ServiceTool implements RunnableTool {
  constructor(
    readonly descriptor: RunnableTool['descriptor'],
    readonly subject: string,
    private readonly mux: RequestMux,
  ) {}

  async run(args: unknown, call: ToolInvocation): Promise<string> {
    const h = natsHeaders();
    h.set(SERVICE_TOOL_HEADERS.callId, call.callId);
    h.set(SERVICE_TOOL_HEADERS.sessionId, call.sessionId);
    h.set(SERVICE_TOOL_HEADERS.ownerId, call.ownerId);
    let outcome: RequestOutcome;
    try {
      outcome = await this.mux.request(this.subject, encoder.encode(JSON.stringify(args)), { timeoutMs: this.descriptor.timeoutMs, headers: h });
    } catch (err) {
      throw new ToolFailure('unavailable', `calling the service of tool ${this.descriptor.name} failed`, { cause: err });
    }
    if (outcome.kind === 'no-responders') throw new ToolFailure('unavailable', `no service answers tool ${this.descriptor.name} right now`);
    if (outcome.kind === 'timeout') throw new ToolFailure('timeout', `the service did not answer within ${this.descriptor.timeoutMs} ms`);
    const reply = outcome.msg;
    const description = reply.headers?.get(SERVICE_ERROR_HEADERS.description);
    if (description !== undefined && description !== '') {
      const code = reply.headers?.get(SERVICE_ERROR_HEADERS.code) ?? '';
      throw new ToolFailure('failed', `the service refused the call${code === '' ? '' : ` (${code})`}: ${description}`);
    }
    return reply.string();
  }
}

const encoder = new TextEncoder();
