/**
 * agent-session-routes.ts: /v1/agent-sessions as a gateway serves it: the
 * session actors over NATS, their logs for owner checks and event replay,
 * the agent_sessions projection for "my sessions", and the document
 * service for access to the document a session is attached to.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { AgentLogReader } from '../agent-sessions/index.ts';
import type { Config } from '../config.ts';
import { agentSessionsRoutes } from '../http/routes/agent-sessions.ts';
import { withUsageQuotas } from '../http/quota-guard.ts';
import { UsageQuotas } from '../limits/index.ts';
import { PostgresUsageTotals } from '../storage/postgres/usage-totals.ts';
import type { Router } from '../http/router.ts';
import type { Logger } from '../log.ts';
import type { Database } from '../storage/index.ts';
import { PostgresAgentSessionListing } from '../storage/postgres/agent-session-listing.ts';
import type { GatewayRole } from './gateway-role.ts';

export function agentSessionsRouter(opts: { config: Config; nc: NatsConnection; gateway: GatewayRole; database: Database; agentLog: AgentLogReader; log: Logger }): Router {
  const { config, gateway } = opts;
  return agentSessionsRoutes({
    client: gateway.client,
    log: opts.agentLog,
    feed: { nc: opts.nc, logger: opts.log.child({ component: 'agent-events' }), flushTimeoutMs: config.gateway.requestTimeoutMs },
    sessions: new PostgresAgentSessionListing(opts.database.db),
    getPrincipal: (c) => c.get('principal'),
    // Reading is enough to attach a session; its tools then act with the owner's own rights on each call.
    checkDocumentAccess: async (principal, docId) => {
      if (config.docAccess === 'members') await gateway.documents.authorize(principal, docId, 'viewer', 'docs:read');
    },
    // The same served models as jobs (src/roles/api-routes.ts).
    models: new Set([config.jobs.defaultModel, ...config.inference.models]),
    // Model tokens per day count here too (README: LOOM_QUOTA_TOKENS_PER_DAY).
    middleware: withUsageQuotas(gateway.auth.middleware, new UsageQuotas(new PostgresUsageTotals(opts.database.db), config.quotas)),
    logger: opts.log.child({ component: 'agent-sessions' }),
  });
}
