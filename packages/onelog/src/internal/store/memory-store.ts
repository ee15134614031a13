/**
 * An in-memory PartitionStore, for apply's golden tests and the simulator.
 *
 * Invariants:
 * 1. A transaction that throws leaves no trace (every write inside it is undone).
 * 2. Reads inside a transaction see its own writes.
 */
import type { JournalEntry } from "@onelog/sdk/internal";
import type { TimerKey } from "../records.js";
import type { InvocationStatus, PartitionStore, TimerRow } from "./store.js";

const timerId = (k: TimerKey): string => `${k.kind}:${k.invocationId}`;

export class MemoryStore implements PartitionStore {
  private readonly status = new Map<string, InvocationStatus>();
  private readonly journal = new Map<string, JournalEntry[]>();
  private readonly timers = new Map<string, TimerRow>();
  private appliedLsn = 0;
  private leaderEpoch = 0;
  private undo: (() => void)[] | undefined;

  constructor(readonly partition: number) {}

  transaction<T>(fn: () => T): T {
    if (this.undo !== undefined) return fn();
    this.undo = [];
    try {
      const r = fn();
      this.undo = undefined;
      return r;
    } catch (e) {
      const undo = this.undo;
      this.undo = undefined;
      for (let i = undo!.length - 1; i >= 0; i--) undo![i]!();
      throw e;
    }
  }

  private set<K, V>(map: Map<K, V>, key: K, value: V | undefined): void {
    const had = map.has(key);
    const old = map.get(key);
    if (value === undefined) map.delete(key);
    else map.set(key, value);
    this.undo?.push(() => {
      if (had) map.set(key, old as V);
      else map.delete(key);
    });
  }

  getStatus(id: string): InvocationStatus | undefined {
    return this.status.get(id);
  }
  putStatus(s: InvocationStatus): void {
    this.set(this.status, s.invocationId, s);
  }
  deleteStatus(id: string): void {
    this.set(this.status, id, undefined);
  }
  listInvoked(): string[] {
    return [...this.status.values()]
      .filter((s) => s.state === "invoked")
      .sort((a, b) => a.createdAt - b.createdAt || (a.invocationId < b.invocationId ? -1 : 1))
      .map((s) => s.invocationId);
  }

  getJournal(id: string): JournalEntry[] {
    return [...(this.journal.get(id) ?? [])];
  }
  appendJournal(id: string, index: number, entry: JournalEntry): void {
    const j = [...(this.journal.get(id) ?? [])];
    j[index] = entry;
    this.set(this.journal, id, j);
  }
  deleteJournal(id: string): void {
    this.set(this.journal, id, undefined);
  }

  putTimer(row: TimerRow): void {
    this.set(this.timers, timerId(row.key), row);
  }
  deleteTimer(key: TimerKey): boolean {
    const id = timerId(key);
    if (!this.timers.has(id)) return false;
    this.set(this.timers, id, undefined);
    return true;
  }
  listTimers(untilMs: number, limit: number): TimerRow[] {
    return [...this.timers.values()]
      .filter((t) => t.dueAt <= untilMs)
      .sort((a, b) => a.dueAt - b.dueAt || (timerId(a.key) < timerId(b.key) ? -1 : 1))
      .slice(0, limit);
  }

  getAppliedLsn(): number {
    return this.appliedLsn;
  }
  setAppliedLsn(lsn: number): void {
    const old = this.appliedLsn;
    this.appliedLsn = lsn;
    this.undo?.push(() => (this.appliedLsn = old));
  }
  getLeaderEpoch(): number {
    return this.leaderEpoch;
  }
  setLeaderEpoch(epoch: number): void {
    const old = this.leaderEpoch;
    this.leaderEpoch = epoch;
    this.undo?.push(() => (this.leaderEpoch = old));
  }

  /**
   * A copy of every committed table, as the store's file would be after a checkpoint. The
   * simulator restores one on a crash to model commits lost with synchronous=NORMAL.
   */
  snapshot(): MemoryStore {
    if (this.undo !== undefined) throw new Error("snapshot inside a transaction");
    const copy = new MemoryStore(this.partition);
    for (const [k, v] of this.status) copy.status.set(k, v);
    for (const [k, v] of this.journal) copy.journal.set(k, v);
    for (const [k, v] of this.timers) copy.timers.set(k, v);
    copy.appliedLsn = this.appliedLsn;
    copy.leaderEpoch = this.leaderEpoch;
    return copy;
  }

  /** A canonical dump of every table, for comparing two stores (the simulator's replay check). */
  dump(): unknown {
    const sorted = <V>(m: Map<string, V>) =>
      [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return {
      status: sorted(this.status),
      journal: sorted(this.journal),
      timers: sorted(this.timers),
      appliedLsn: this.appliedLsn,
      leaderEpoch: this.leaderEpoch,
    };
  }
}
