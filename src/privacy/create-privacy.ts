/**
 * Wires the account export and deletion services for the gateway role from
 * what it already has: the accounts module, the documents service, the job
 * log, the object store and the actor client.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { JobLog } from '../../actors/job/index.ts';
import { type Auth, createRateLimiter, PasswordHasher, type PasswordHasherOptions } from '../auth/index.ts';
import type { Config } from '../config.ts';
import { type DocumentService, natsAccessEvents } from '../documents/index.ts';
import type { Logger } from '../log.ts';
import { JetStreamAgentLog } from '../nats/jetstream-agent-log.ts';
import type { LoomDatabase } from '../storage/index.ts';
import { AccountDeletion, type AccountDeletionDeps } from './account-deletion.ts';
import { AccountExport } from './account-export.ts';

export interface PrivacyServices {
  readonly exporter: AccountExport;
  readonly deletion: AccountDeletion;
}

export function createPrivacyServices(opts: {
  config: Pick<Config, 'privacy' | 'gateway'>;
  db: LoomDatabase;
  nc: NatsConnection;
  auth: Auth;
  documents: DocumentService;
  jobLog: JobLog & { remove(id: string): Promise<number> };
  objects: AccountDeletionDeps['objects'];
  actors: AccountDeletionDeps['actors'];
  log: Logger;
  /** Argon2 costs of the placeholder hash a deleted account gets; tests pass cheap ones. */
  hasher?: PasswordHasherOptions;
  now?: () => number;
}): PrivacyServices {
  const log = opts.log.child({ component: 'privacy' });
  const { auth, db, documents, jobLog, now } = opts;
  // The gateway holds no agent log of its own; this one is opened once, at wiring, and awaited where used.
  const agentLog = jetstreamManager(opts.nc).then((jsm) => new JetStreamAgentLog(opts.nc, jsm, { timeoutMs: opts.config.gateway.requestTimeoutMs, logger: log }));
  agentLog.catch((err: unknown) => log.warn({ err }, 'agent log unavailable; account export and deletion will fail until restart'));
  return {
    exporter: new AccountExport({
      db,
      apiKeys: auth.apiKeys,
      documents,
      jobLog,
      agentLog,
      audit: auth.audit,
      limiter: createRateLimiter({ ...opts.config.privacy.exportRateLimit, now }),
      log,
      now,
    }),
    deletion: new AccountDeletion({
      db,
      jobLog,
      objects: opts.objects,
      hasher: new PasswordHasher(opts.hasher),
      // Password guesses share the login bucket's strict rate.
      passwordLimiter: auth.limiters.login,
      tokens: auth.tokens,
      apiKeys: auth.apiKeys,
      audit: auth.audit,
      documents,
      accessEvents: natsAccessEvents(opts.nc),
      actors: opts.actors,
      agentLog,
      log,
      now,
    }),
  };
}
