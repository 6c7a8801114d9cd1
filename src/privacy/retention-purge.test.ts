/**
 * The retention purge against a real nats-server (job log, lease bucket) and
 * a real PostgreSQL 15, with a filesystem object store and a clock the test
 * controls: jobs and audit entries are recorded "now" and purged as if weeks
 * had passed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { eq, inArray } from 'drizzle-orm';
import { AuditLog } from '../auth/index.ts';
import { loadConfig, type Config } from '../config.ts';
import { createRootLogger } from '../log.ts';
import { JetStreamJobLog } from '../nats/jetstream-job-log.ts';
import { provisionNats, type Provisioned } from '../nats/provision.ts';
import { acquireLease } from '../placement/lease.ts';
import { auditLog, FsObjectStore, GatewayUrlSigner, jobs, jobSteps, openDatabase, PostgresJobProjection, type Database } from '../storage/index.ts';
import { startNatsServer, startPostgresServer, type NatsServerHandle, type PostgresServerHandle } from '../testing/index.ts';
import { recordJob } from '../testing/privacy-fixture.ts';
import { RETENTION_LEASE_KEY, RetentionPurge } from './retention-purge.ts';

const log = createRootLogger({ level: 'silent', instanceId: 'retention-test' });
const DAY = 86_400_000;
const T0 = Date.now();

let nats: NatsServerHandle;
let pg: PostgresServerHandle;
let nc: NatsConnection;
let database: Database;
let provisioned: Provisioned;
let jobLog: JetStreamJobLog;
let projection: PostgresJobProjection;
let objects: FsObjectStore;
let objectsDir: string;

before(async () => {
  [nats, pg] = await Promise.all([startNatsServer(), startPostgresServer()]);
  nc = await connect({ servers: nats.url });
  provisioned = await provisionNats(nc, { leaseTtlMs: 4_000, logger: log });
  database = await openDatabase({ url: await pg.createDatabase(), logger: log });
  await database.migrate();
  jobLog = new JetStreamJobLog(nc, provisioned.jsm, { timeoutMs: 5_000, logger: log });
  projection = new PostgresJobProjection(database.db);
  objectsDir = await mkdtemp(path.join(tmpdir(), 'loom-retention-'));
  objects = new FsObjectStore({ root: objectsDir, signer: new GatewayUrlSigner(randomBytes(32), () => 'http://127.0.0.1') });
});

after(async () => {
  await nc?.close();
  await database?.close();
  await nats?.dispose();
  await pg?.dispose();
  if (objectsDir !== undefined) await rm(objectsDir, { recursive: true, force: true });
});

function purge(retention: Partial<Config['privacy']['retention']>, nowMs: number): RetentionPurge {
  return new RetentionPurge({
    db: database.db,
    jobLog,
    objects,
    leases: provisioned.leases,
    host: `host-${randomUUID().slice(0, 8)}`,
    leaseTtlMs: 4_000,
    retention: { jobLogDays: 0, artifactDays: 0, auditDays: 0, intervalMs: 60_000, ...retention },
    log,
    now: () => nowMs,
  });
}

const deps = () => ({ jobLog, projection, artifacts: objects });
const jobRow = async (id: string) => (await database.db.select().from(jobs).where(eq(jobs.id, id)))[0];

describe('retention settings', () => {
  it('default to 0 (keep forever) and read LOOM_RETENTION_* in days', () => {
    const defaults = loadConfig({ LOOM_DATA_DIR: tmpdir() }).privacy.retention;
    assert.deepEqual([defaults.jobLogDays, defaults.artifactDays, defaults.auditDays], [0, 0, 0]);
    const set = loadConfig({ LOOM_DATA_DIR: tmpdir(), LOOM_RETENTION_JOB_LOG_DAYS: '30', LOOM_RETENTION_ARTIFACT_DAYS: '7', LOOM_RETENTION_AUDIT_DAYS: '365' });
    assert.deepEqual([set.privacy.retention.jobLogDays, set.privacy.retention.artifactDays, set.privacy.retention.auditDays], [30, 7, 365]);
    assert.throws(() => loadConfig({ LOOM_DATA_DIR: tmpdir(), LOOM_RETENTION_AUDIT_DAYS: '-1' }), /LOOM_RETENTION_AUDIT_DAYS/);
  });
});

describe('RetentionPurge', () => {
  it('removes finished jobs past the job log age with their log, rows and artifacts, and keeps younger and unfinished ones', async () => {
    const owner = randomUUID();
    const old = await recordJob(deps(), { id: `old-${randomUUID()}`, owner, at: T0, finishedAt: T0 + 1_000 });
    const young = await recordJob(deps(), { id: `young-${randomUUID()}`, owner, at: T0 + 20 * DAY, finishedAt: T0 + 20 * DAY });
    const running = await recordJob(deps(), { id: `running-${randomUUID()}`, owner, at: T0 });
    assert.ok((await jobLog.lastSeq(old.id)) > 0);

    const sweep = await purge({ jobLogDays: 30 }, T0 + 40 * DAY).sweep();

    assert.equal(sweep.skipped, false);
    assert.ok(sweep.jobs >= 1 && sweep.jobEvents >= 2 && sweep.artifacts >= 1, JSON.stringify(sweep));
    assert.equal(await jobLog.lastSeq(old.id), 0, 'the log of the old job is gone');
    assert.equal(await jobRow(old.id), undefined, 'its projection row is gone');
    assert.equal((await database.db.select().from(jobSteps).where(eq(jobSteps.jobId, old.id))).length, 0);
    assert.equal(await objects.stat(old.artifactKey), null, 'its artifact is gone');
    for (const kept of [young, running]) {
      assert.ok((await jobLog.lastSeq(kept.id)) > 0, `${kept.id} keeps its log`);
      assert.notEqual(await jobRow(kept.id), undefined);
      assert.notEqual(await objects.stat(kept.artifactKey), null);
    }
  });

  it('deletes only the artifacts of jobs past the artifact age, marks them, and does not repeat the work', async () => {
    const job = await recordJob(deps(), { id: `art-${randomUUID()}`, owner: randomUUID(), at: T0, finishedAt: T0 });
    const now = T0 + 10 * DAY;

    const first = await purge({ artifactDays: 7 }, now).sweep();

    assert.ok(first.artifacts >= 1);
    assert.equal(first.jobs, 0);
    assert.equal(await objects.stat(job.artifactKey), null);
    assert.ok((await jobLog.lastSeq(job.id)) > 0, 'the job keeps its log');
    assert.equal((await jobRow(job.id))?.artifactsPurgedAt?.getTime(), now);
    // Written again (e.g. restored by hand): a marked job is not looked at twice.
    await objects.put(job.artifactKey, Buffer.from('again'), { contentType: 'text/markdown' });
    await purge({ artifactDays: 7 }, now + DAY).sweep();
    assert.notEqual(await objects.stat(job.artifactKey), null);
  });

  it('deletes audit entries past the audit age and keeps newer ones', async () => {
    let t = T0;
    const audit = new AuditLog({ db: database.db, log, now: () => t });
    const target = randomUUID();
    await audit.record({ action: 'auth.login', actor: { userId: target }, targetType: 'user', targetId: target });
    t = T0 + 100 * DAY;
    await audit.record({ action: 'auth.logout', actor: { userId: target }, targetType: 'user', targetId: target });

    const sweep = await purge({ auditDays: 90 }, T0 + 120 * DAY).sweep();

    assert.ok(sweep.auditEntries >= 1);
    const left = await audit.list({ targetType: 'user', targetId: target, limit: 10 });
    assert.deepEqual(left.map((e) => e.action), ['auth.logout']);
  });

  it('keeps everything when every age is 0', async () => {
    const job = await recordJob(deps(), { id: `keep-${randomUUID()}`, owner: randomUUID(), at: T0, finishedAt: T0 });
    const p = purge({}, T0 + 10_000 * DAY);
    assert.equal(p.enabled, false);
    const sweep = await p.sweep();
    assert.deepEqual([sweep.jobs, sweep.artifacts, sweep.auditEntries], [0, 0, 0]);
    assert.ok((await jobLog.lastSeq(job.id)) > 0);
    assert.notEqual(await objects.stat(job.artifactKey), null);
    assert.ok((await database.db.select().from(auditLog).where(inArray(auditLog.action, ['auth.login', 'auth.logout']))).length > 0);
  });

  it('runs in one process at a time: a sweep while another process holds the lease is skipped', async () => {
    const job = await recordJob(deps(), { id: `leased-${randomUUID()}`, owner: randomUUID(), at: T0, finishedAt: T0 });
    const other = await acquireLease(provisioned.leases, RETENTION_LEASE_KEY, { host: 'other-process', ttlMs: 4_000, logger: log, onLost: () => undefined });
    assert.ok(other !== null);
    try {
      const skipped = await purge({ jobLogDays: 1 }, T0 + 5 * DAY).sweep();
      assert.equal(skipped.skipped, true);
      assert.ok((await jobLog.lastSeq(job.id)) > 0, 'nothing was removed');
    } finally {
      await other.release();
    }
    const ran = await purge({ jobLogDays: 1 }, T0 + 5 * DAY).sweep();
    assert.equal(ran.skipped, false);
    assert.equal(await jobLog.lastSeq(job.id), 0);
  });
});
