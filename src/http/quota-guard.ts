/**
 * Puts the per-user quotas (src/limits/usage-quotas.ts) in front of the
 * requests that start work: creating a job, and sending an agent session a
 * message. It wraps a router's authentication middleware, so the check runs
 * once the principal is known and before the route; other requests pass.
 */
import type { Context, MiddlewareHandler } from 'hono';
import type { AuthEnv } from '../auth/principal.ts';
import type { UsageQuotas } from '../limits/index.ts';

const STARTS_JOB = /^\/v1\/jobs\/?$/;
const SENDS_AGENT_MESSAGE = /^\/v1\/agent-sessions\/[^/]+\/messages\/?$/;

export function withUsageQuotas(authenticate: MiddlewareHandler<AuthEnv>, quotas: UsageQuotas): MiddlewareHandler<AuthEnv> {
  const check = async (c: Context<AuthEnv>): Promise<void> => {
    if (c.req.method !== 'POST') return;
    const owner = c.get('principal').userId;
    if (STARTS_JOB.test(c.req.path)) await quotas.checkJobStart(owner);
    else if (SENDS_AGENT_MESSAGE.test(c.req.path)) await quotas.checkModelTokens(owner);
  };
  return async (c, next) =>
    authenticate(c, async () => {
      await check(c);
      await next();
    });
}
