/**
 * api-routes.ts: the HTTP API a process serves, given which roles it runs.
 * Accounts, audit, uploads and objects need the gateway's auth; documents
 * need its document service; jobs need its actor client.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { Principal } from '../auth/index.ts';
import type { Config } from '../config.ts';
import { accountRoutes } from '../http/routes/account.ts';
import { apiKeysRoutes } from '../http/routes/api-keys.ts';
import { auditRoutes, defaultOwnershipChecks } from '../http/routes/audit.ts';
import { authRoutes } from '../http/routes/auth.ts';
import { DocumentAttribution } from '../documents/document-attribution.ts';
import { docAttributionRoutes } from '../http/routes/doc-attribution.ts';
import { docsRoutes } from '../http/routes/docs.ts';
import { jobsRoutes } from '../http/routes/jobs.ts';
import { withUsageQuotas } from '../http/quota-guard.ts';
import { UsageQuotas } from '../limits/index.ts';
import { PostgresUsageTotals } from '../storage/postgres/usage-totals.ts';
import { pipelinesRoutes } from '../http/routes/pipelines.ts';
import { objectsRoutes } from '../http/routes/objects.ts';
import { uploadsRoutes } from '../http/routes/uploads.ts';
import { webAppRoutes } from '../http/routes/web-app.ts';
import { lazyWebBundle } from '../http/web-bundle.ts';
import type { Router } from '../http/router.ts';
import { jobOwner } from '../jobs/index.ts';
import type { Logger } from '../log.ts';
import type { JetStreamJobLog } from '../nats/jetstream-job-log.ts';
import { createPrivacyServices } from '../privacy/index.ts';
import type { Database, OpenedObjectStore } from '../storage/index.ts';
import { downloadUrl, OBJECTS_ROUTE_PATH } from '../storage/index.ts';
import { UploadService } from '../uploads/index.ts';
import { builtInPipelineDefinitions, PipelineService } from '../pipelines/index.ts';
import { PostgresJobListing, type JobListQuery } from '../storage/postgres/job-listing.ts';
import { PostgresPipelineStore } from '../storage/postgres/postgres-pipeline-store.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import { parseActorId } from '../../protocol/ids.ts';
import type { GatewayRole } from './gateway-role.ts';

/** The routers to mount; none without the gateway role (then only health and readiness answer). */
export function apiRoutes(opts: {
  config: Config;
  nc: NatsConnection;
  gateway: GatewayRole | undefined;
  database: Database | undefined;
  objects: OpenedObjectStore;
  jobLog: JetStreamJobLog;
  log: Logger;
}): Array<{ path: string; router: Router }> {
  const { config, nc, database, objects, jobLog, log } = opts;
  const routes: Array<{ path: string; router: Router }> = [];
  if (opts.gateway === undefined) return routes;
  const { auth, documents, client } = opts.gateway;
  routes.push({ path: '/v1/docs', router: docsRoutes({ service: documents, authenticate: auth.middleware }) });
  const attribution = new DocumentAttribution({ documents, actors: client, audit: auth.audit });
  routes.push({ path: '/v1/docs', router: docAttributionRoutes({ attribution, membersOnly: documents.membersOnly, authenticate: auth.middleware }) });
  routes.push(
    { path: '/v1/auth', router: authRoutes(auth) },
    { path: '/v1/api-keys', router: apiKeysRoutes(auth) },
    // The documents and jobs modules add their `doc` and `job` ownership checks here.
    {
      path: '/v1/audit',
      router: auditRoutes(auth, {
        ...defaultOwnershipChecks(auth),
        doc: documents.ownership.bind(documents),
        // A job's audit trail is its owner's; the owner is read from the job's log.
        job: async (principal, targetId) => {
          let owner: string | null;
          try {
            owner = await jobOwner(jobLog, parseActorId(targetId));
          } catch (err) {
            if (err instanceof ProtocolError) return 'not-found';
            throw err;
          }
          return owner === principal.userId ? 'owner' : 'not-found';
        },
      }),
    },
  );
  const uploads = database === undefined ? undefined : new UploadService({ db: database.db, store: objects.store, maxBytes: config.objects.uploadMaxBytes });
  if (uploads !== undefined) routes.push({ path: '/v1/uploads', router: uploadsRoutes({ uploads, auth: auth.middleware }) });
  // Registered pipeline definitions (issue 8): jobs of a registered kind run the caller's newest version.
  const pipelines = database === undefined ? undefined : new PipelineService(new PostgresPipelineStore(database.db), builtInPipelineDefinitions());
  if (pipelines !== undefined) {
    routes.push({ path: '/v1/pipelines', router: pipelinesRoutes({ pipelines, getPrincipal: (c) => c.get('principal'), middleware: auth.middleware }) });
  }
  const jobListing = database === undefined ? undefined : new PostgresJobListing(database.db);
  // Concurrent jobs and model tokens per day, per user (README: LOOM_QUOTA_*).
  const quotas = database === undefined ? undefined : new UsageQuotas(new PostgresUsageTotals(database.db), config.quotas);
  routes.push({
    path: '/v1/jobs',
    router: jobsRoutes({
      client,
      jobLog,
      feed: { nc, log: jobLog, logger: log.child({ component: 'job-events' }), flushTimeoutMs: config.gateway.requestTimeoutMs },
      getPrincipal: (c) => c.get('principal'),
      // A job writes into a document only for someone who may edit it (any member in `open` access mode).
      canEditDocument: async (principal, docId) => {
        if (config.docAccess === 'open') return true;
        await documents.authorize(principal, docId, 'editor', 'docs:write');
        return true;
      },
      downloadUrl: async (key) => (await downloadUrl(objects.store, key)).url,
      ...(uploads === undefined ? {} : { resolveUpload: (ref: string, principal: Principal) => uploads.resolveUploadInput(ref, principal) }),
      maxInputBytes: config.jobs.maxInputBytes,
      ...(pipelines === undefined ? {} : { resolvePipeline: (owner: string, kind: string, input: unknown) => pipelines.resolveForJob(owner, kind, input) }),
      ...(jobListing === undefined ? {} : { listJobs: (owner: string, query: JobListQuery) => jobListing.list(owner, query) }),
      // Gateways know the served models from the same settings as the inference nodes (README: LOOM_INFERENCE_MODELS).
      models: new Set([config.jobs.defaultModel, ...config.inference.models]),
      audit: auth.audit,
      middleware: quotas === undefined ? auth.middleware : withUsageQuotas(auth.middleware, quotas),
      logger: log.child({ component: 'jobs' }),
    }),
  });
  // Account export and deletion (data protection) work on the accounts' database.
  if (database !== undefined) {
    const privacy = createPrivacyServices({ config, db: database.db, nc, auth, documents, jobLog, objects: objects.store, actors: client, log });
    routes.push({ path: '/v1/account', router: accountRoutes({ authenticate: auth.middleware, ...privacy }) });
  }
  // Signed gateway URLs exist only for the filesystem store; their signature is the authorisation.
  if (objects.signer !== undefined) routes.push({ path: OBJECTS_ROUTE_PATH, router: objectsRoutes({ store: objects.store, signer: objects.signer, uploads }) });
  // The web app at `/`, built from web/ on its first request.
  routes.push({ path: '/', router: webAppRoutes({ bundle: lazyWebBundle(log.child({ component: 'web-app' })) }) });
  return routes;
}
