/**
 * The endpoint's logging, in the shape of Restate's `LoggerTransport`: one function that gets
 * each event's metadata (level, source, whether replaying, the invocation) and its message.
 * `ctx.console` goes through it too (source USER), silent while the handler replays.
 */

/** Log levels, by name (`meta.level === RestateLogLevel.ERROR`), as Restate's enum. */
export const RestateLogLevel = {
  TRACE: "trace",
  DEBUG: "debug",
  INFO: "info",
  WARN: "warn",
  ERROR: "error",
} as const;
export type RestateLogLevel = (typeof RestateLogLevel)[keyof typeof RestateLogLevel];
type LogLevel = RestateLogLevel;

/** Who logged: the endpoint itself, the journal state machine, or the handler's `ctx.console`. */
export const LogSource = { SYSTEM: "SYSTEM", JOURNAL: "JOURNAL", USER: "USER" } as const;
export type LogSource = (typeof LogSource)[keyof typeof LogSource];

/** The invocation an event belongs to. */
export interface LoggerContext {
  readonly invocationId: string;
  readonly serviceName: string;
  readonly handlerName: string;
  readonly key?: string;
  /** `Service/handler` or `Service/key/handler`. */
  readonly invocationTarget: string;
}

/** What an event is. */
export interface LogMetadata {
  readonly source: LogSource;
  readonly level: LogLevel;
  readonly replaying: boolean;
  readonly context?: LoggerContext;
}

/**
 * Receives every log event of an endpoint (filtering is up to it). The default writes `info`
 * and above to the console.
 *
 * @example
 * endpoint().setLogger((meta, message, ...rest) => {
 *   if (meta.level === "error") pino.error({ id: meta.context?.invocationId }, message, ...rest);
 * });
 */
export type LoggerTransport = (meta: LogMetadata, message?: any, ...optionalParams: any[]) => void;

const RANK: Record<LogLevel, number> = { trace: 0, debug: 1, info: 2, warn: 3, error: 4 };

/** Writes `info` and above to the console, prefixed with the invocation when there is one. */
export const defaultLogger: LoggerTransport = (meta, message, ...rest) => {
  if (RANK[meta.level] < RANK.info) return;
  const prefix =
    meta.context === undefined ? "" : `[${meta.context.invocationTarget}][${meta.context.invocationId}] `;
  const write = meta.level === "error" ? console.error : meta.level === "warn" ? console.warn : console.info;
  write(`${prefix}${String(message)}`, ...rest);
};

/** A Console whose methods go to `logger` as USER events (for `ctx.console`). */
export function userConsole(logger: LoggerTransport, context: LoggerContext): Console {
  const at =
    (level: LogLevel) =>
    (message?: any, ...rest: any[]) =>
      logger({ source: "USER", level, replaying: false, context }, message, ...rest);
  const methods: Record<string, (message?: any, ...rest: any[]) => void> = {
    log: at("info"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    debug: at("debug"),
    trace: at("trace"),
  };
  return new Proxy(console, {
    get: (target, prop) =>
      typeof prop === "string" && prop in methods ? methods[prop] : (target as any)[prop],
  });
}
