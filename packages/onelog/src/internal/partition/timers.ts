/**
 * The leader's timer service: keeps the next due durable timers in memory and proposes
 * `TimerFired` when one is due (docs/architecture.md). The store's timer table is the truth; memory
 * holds only timers due within a horizon, refilled from the store as time passes.
 *
 * Invariants:
 * 1. Every timer row due at or before `loadedUntil` is in memory or already proposed.
 * 2. A timer is proposed again only if its previous proposal failed; duplicates that slip
 *    through (a crash between proposal and apply) are dropped by apply.
 */
import type { Clock } from "../clock.js";
import type { Logger } from "../ops/logger.js";
import type { TimerKey } from "./records.js";
import type { PartitionStore, TimerRow } from "./store/store.js";

export interface TimerServiceOptions {
  readonly store: PartitionStore;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Proposes the fire; resolves when durable. */
  readonly fire: (key: TimerKey) => Promise<unknown>;
  /** How far ahead timers are held in memory. Default 60 s. */
  readonly horizonMs?: number;
  /** How many timers one refill loads at most. Default 10,000. */
  readonly refillLimit?: number;
}

const keyId = (k: TimerKey): string => `${k.kind}:${k.invocationId}:${k.completionId ?? ""}`;

export class TimerService {
  /** Timers in memory, sorted by due time. */
  private queue: TimerRow[] = [];
  private readonly known = new Set<string>();
  private loadedUntil = -Infinity;
  private armed: { handle: unknown; at: number } | undefined;
  private refillHandle: unknown;
  private stopped = false;
  private readonly horizonMs: number;
  private readonly refillLimit: number;

  constructor(private readonly options: TimerServiceOptions) {
    const o = options;
    this.horizonMs = o.horizonMs ?? 60_000;
    this.refillLimit = o.refillLimit ?? 10_000;
  }

  /** Loads the due-soon timers from the store and starts firing them. */
  start(): void {
    this.refill();
  }

  /** A timer row was written by apply; hold it if it falls inside the horizon. */
  schedule(dueAt: number, key: TimerKey): void {
    if (this.stopped || dueAt > this.loadedUntil) return; // a later refill picks it up (1)
    this.insert({ dueAt, key });
    this.arm();
  }

  stop(): void {
    this.stopped = true;
    if (this.armed !== undefined) this.options.clock.clearTimeout(this.armed.handle);
    if (this.refillHandle !== undefined) this.options.clock.clearTimeout(this.refillHandle);
    this.armed = undefined;
    this.queue = [];
    this.known.clear();
  }

  private refill(): void {
    if (this.stopped) return;
    const until = this.options.clock.now() + this.horizonMs;
    const rows = this.options.store.listTimers(until, this.refillLimit);
    for (const row of rows) this.insert(row);
    this.loadedUntil = rows.length === this.refillLimit ? rows[rows.length - 1]!.dueAt : until;
    this.arm();
    this.refillHandle = this.options.clock.setTimeout(() => this.refill(), this.horizonMs / 2);
  }

  private insert(row: TimerRow): void {
    const id = keyId(row.key);
    if (this.known.has(id)) return;
    this.known.add(id);
    let lo = 0;
    let hi = this.queue.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.queue[mid]!.dueAt <= row.dueAt) lo = mid + 1;
      else hi = mid;
    }
    this.queue.splice(lo, 0, row);
  }

  private arm(): void {
    const first = this.queue[0];
    if (first === undefined || this.stopped) return;
    if (this.armed !== undefined) {
      if (this.armed.at <= first.dueAt) return;
      this.options.clock.clearTimeout(this.armed.handle);
    }
    const delay = Math.max(0, first.dueAt - this.options.clock.now());
    this.armed = { at: first.dueAt, handle: this.options.clock.setTimeout(() => this.due(), delay) };
  }

  private due(): void {
    this.armed = undefined;
    const now = this.options.clock.now();
    while (this.queue.length > 0 && this.queue[0]!.dueAt <= now) {
      const row = this.queue.shift()!;
      this.options.fire(row.key).then(
        () => this.known.delete(keyId(row.key)),
        (e: unknown) => {
          // 2: try again shortly; the row is still in the store.
          this.options.logger.warn({ err: e, timer: row.key }, "proposing a timer fire failed; retrying");
          this.known.delete(keyId(row.key));
          if (!this.stopped) this.schedule(now + 1000, row.key);
        },
      );
    }
    this.arm();
  }
}
