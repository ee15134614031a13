/**
 * Virtual time for the simulator: timers run in due order (ties in creation order) only when
 * the simulator advances the clock. Each simulated process gets its own view; a crash drops
 * every timer of that view, as a dead process's timers never fire.
 */
import type { Clock } from "../../packages/onelog/src/internal/clock.js";

interface Timer {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
  readonly owner: number;
  cancelled: boolean;
}

export class VirtualClock {
  private time: number;
  private seq = 0;
  private timers: Timer[] = [];
  private readonly deadOwners = new Set<number>();

  constructor(startMs = 1_700_000_000_000) {
    this.time = startMs;
  }

  now(): number {
    return this.time;
  }

  /** A Clock for one process incarnation (`owner`), with its skew in ms added to now(). */
  view(owner: number, skewMs = 0): Clock {
    return {
      now: () => this.time + skewMs,
      setTimeout: (fn, ms) => this.schedule(owner, Math.max(0, ms), fn),
      clearTimeout: (h) => {
        if (h !== undefined) (h as Timer).cancelled = true;
      },
      defer: (fn) => void this.schedule(owner, 0, fn),
    };
  }

  schedule(owner: number, delayMs: number, fn: () => void): Timer {
    const t: Timer = { at: this.time + delayMs, seq: this.seq++, fn, owner, cancelled: false };
    // Keep sorted by (at, seq): insert after every timer due at or before t.
    let lo = 0;
    let hi = this.timers.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.timers[mid]!.at <= t.at) lo = mid + 1;
      else hi = mid;
    }
    this.timers.splice(lo, 0, t);
    return t;
  }

  /** Every timer of `owner` is dropped, now and later. */
  kill(owner: number): void {
    this.deadOwners.add(owner);
    this.timers = this.timers.filter((t) => t.owner !== owner);
  }

  /** Runs the next due timer, advancing time to it. False when none is left. */
  step(): boolean {
    for (;;) {
      const t = this.timers.shift();
      if (t === undefined) return false;
      if (t.cancelled || this.deadOwners.has(t.owner)) continue;
      if (t.at > this.time) this.time = t.at;
      t.fn();
      return true;
    }
  }

  get pending(): number {
    return this.timers.length;
  }
}
