/**
 * The one command that applies database migrations: `npm run migrate`
 * (these sources through tsx), or `node dist/migrate.js` in the image (the
 * same code, bundled by scripts/build.ts). It reads
 * DATABASE_URL through the config module; without one it migrates the
 * embedded PGlite database under `<LOOM_DATA_DIR>/pglite` (stop the server
 * first: PGlite allows one process per folder). Logs JSON like the server
 * and exits non-zero on any failure. Safe to run from several deploy jobs at
 * once against one PostgreSQL: they take turns on an advisory lock.
 */
import { loadConfig, type Config } from '../../config.ts';
import { createRootLogger, type Logger } from '../../log.ts';
import { embeddedDataDir, openDatabase } from './database.ts';

async function migrateFromConfig(config: Config, logger: Logger): Promise<void> {
  const database = await openDatabase({
    url: config.database.url,
    dataDir: config.database.url === undefined ? embeddedDataDir(config.dataDir) : undefined,
    logger,
  });
  try {
    await database.migrate();
  } finally {
    await database.close();
  }
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    const logger = createRootLogger({ level: 'info', instanceId: 'migrate' }).child({ role: 'migrate' });
    logger.error({ err }, 'invalid configuration');
    process.exitCode = 2;
    return;
  }
  const logger = createRootLogger({ level: config.logLevel, instanceId: config.instanceId }).child({ role: 'migrate' });
  try {
    await migrateFromConfig(config, logger);
    logger.info({ embedded: config.database.url === undefined }, 'database is up to date');
  } catch (err) {
    logger.error({ err }, 'migration failed');
    process.exitCode = 1;
  }
}

// An entry script: running it is its purpose, so it acts on load (nothing imports it).
await main();
