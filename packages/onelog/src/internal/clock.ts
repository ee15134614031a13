/**
 * Time for the engine's outer parts (processor leader duties, invoker, timers). Injected so the
 * deterministic simulator can run them on virtual time; `apply` never sees a clock.
 */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** Runs `fn` in a later turn of the event loop, after every pending microtask. */
  defer(fn: () => void): void;
}

/** The process's real clock. Timers are unref'd so they never keep a stopped engine alive. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
  defer: (fn) => void setImmediate(fn),
};
