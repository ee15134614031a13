/** The logging interface the engine takes: pino's shape, so a pino logger can be passed as is. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** A logger that drops everything (tests, the simulator). */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
