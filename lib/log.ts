// Logging: pino JSON, one root logger built by the daemon, children scoped per component.
import { pino, type Logger, type LevelWithSilent, type DestinationStream } from 'pino';

export type { Logger };

export function createLogger(opts: { level?: LevelWithSilent; destination?: DestinationStream } = {}): Logger {
  return pino({ level: opts.level ?? 'info', base: { pid: process.pid } }, opts.destination);
}

/** A logger that discards everything, for tests and in-process benchmarks. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
