/** Builds the one root logger. Other code receives a (child) logger; nobody else imports pino. */
import { pino, type Logger } from 'pino';

export type { Logger };

/** Root logger writing JSON to stdout, with credentials redacted wherever they appear. */
export function createRootLogger(opts: { level: string; instanceId: string }): Logger {
  return pino({
    level: opts.level,
    base: { pid: process.pid, instance: opts.instanceId },
    redact: {
      paths: ['*.authorization', '*.headers.authorization', '*.token', '*.password', '*.apiKey', 'req.headers.cookie'],
      censor: '[redacted]',
    },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
