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

/** The longest delay Node's timers hold (2^31 − 1 ms, 24.8 days); a longer one fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Whether `n` is an interval a timer can hold: whole ms from 1 to {@link MAX_TIMER_MS}. */
export function isTimerMs(n: unknown): boolean {
  return Number.isInteger(n) && (n as number) >= 1 && (n as number) <= MAX_TIMER_MS;
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
