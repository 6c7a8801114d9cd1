/**
 * Loom's entry point: parse config, build the root logger, bring up NATS
 * (embedded child server unless NATS_URL is set) and the database (PGlite
 * unless DATABASE_URL is set), start the configured roles, and drain on
 * SIGTERM/SIGINT.
 */
import { ConfigError, loadConfig, redactedConfig, type Config } from './config.ts';
import { createRootLogger, type Logger } from './log.ts';
import { openNatsConnection } from './nats/connection.ts';
import { startEmbeddedNatsServer, type EmbeddedNatsServer } from './nats/embedded-server.ts';
import { provisionNats } from './nats/provision.ts';
import { startRoles } from './roles/index.ts';
import { embeddedDataDir, openDatabase, type Database } from './storage/index.ts';

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createRootLogger({ level: config.logLevel, instanceId: config.instanceId });
  log.info({ config: redactedConfig(config) }, 'starting loom');

  const cleanups: Array<() => Promise<void>> = [];
  const shutdown = onceShutdown(log, cleanups);
  // `on`, not `once`: Ctrl-C under `npm start` delivers SIGINT twice (the
  // terminal signals the whole group and npm forwards its own copy), and a
  // second signal must not fall back to the default handler mid-drain.
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  try {
    let natsUrl = config.nats.url;
    if (natsUrl === undefined) {
      const embedded: EmbeddedNatsServer = await startEmbeddedNatsServer({ binary: config.nats.serverBinary, dataDir: config.dataDir, log });
      cleanups.unshift(() => embedded.stop());
      natsUrl = embedded.url;
    }
    const nc = await openNatsConnection({ url: natsUrl, name: `loom-${config.instanceId}`, logger: log });
    cleanups.unshift(async () => {
      await nc.drain();
    });
    const nats = await provisionNats(nc, { leaseTtlMs: config.actors.leaseTtlMs, logger: log, replicas: config.nats.replicas });

    let database: Database | undefined;
    // Actors keep snapshots in it; gateways keep accounts, keys and the audit log; webhook dispatchers their deliveries.
    if (config.roles.includes('actors') || config.roles.includes('gateway') || config.roles.includes('webhooks')) {
      if (config.database.url === undefined && !config.roles.includes('actors')) {
        log.warn('gateway without DATABASE_URL: accounts live in a private embedded database that no other process sees');
      }
      const db = await openDatabase({ url: config.database.url, dataDir: embeddedDataDir(config.dataDir), logger: log });
      cleanups.unshift(() => db.close());
      await db.migrate();
      database = db;
    }
    const roles = await startRoles({ config, nc, nats, database, log });
    cleanups.unshift(() => roles.stop());
    log.info({ roles: config.roles, port: roles.http.port }, 'loom ready');
  } catch (err) {
    log.fatal({ err }, 'start-up failed');
    await shutdown('start-up failure', 1);
  }
}

function onceShutdown(log: Logger, cleanups: Array<() => Promise<void>>) {
  let running: Promise<void> | undefined;
  return (why: string, exitCode = 0): Promise<void> => {
    running ??= (async () => {
      log.info({ why }, 'shutting down');
      const force = setTimeout(() => {
        log.error('shutdown took too long; exiting');
        process.exit(1);
      }, 30_000);
      force.unref();
      for (const cleanup of cleanups) {
        try {
          await cleanup();
        } catch (err) {
          log.error({ err }, 'shutdown step failed');
        }
      }
      log.info('bye');
      process.exit(exitCode);
    })();
    return running;
  };
}

void main();
