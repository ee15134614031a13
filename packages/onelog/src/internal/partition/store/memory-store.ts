/**
 * An in-memory PartitionStore, for apply's golden tests and the simulator.
 *
 * Invariants:
 * 1. A transaction that throws leaves no trace (every write inside it is undone).
 * 2. Reads inside a transaction see its own writes.
 * 3. Stored values are never mutated in place (copy on write), so a copy can share them.
 */
import { Packr } from "msgpackr";
import type { JournalEntry } from "@onelog/sdk/internal";
import { DataFormatError, STORE_FORMAT } from "../../format-versions.js";
import type { OutboxMessage, TimerKey } from "../records.js";
import type {
  InvocationStatus,
  JournalMeta,
  PartitionSnapshot,
  PartitionStore,
  PromiseRow,
  TimerRow,
} from "./store.js";

const packr = new Packr({ useRecords: false, moreTypes: false });

/** The tables as a snapshot encodes them: every Map as an array of entries (keys keep their types). */
type Entries = [unknown, unknown][];

const timerId = (k: TimerKey): string => `${k.kind}:${k.invocationId}:${k.completionId ?? ""}`;
const keyId = (service: string, key: string): string => `${service}\0${key}`;

interface Counters {
  appliedLsn: number;
  leaderEpoch: number;
  outboxSeq: number;
}

export class MemoryStore implements PartitionStore {
  private status = new Map<string, InvocationStatus>();
  private journal = new Map<string, JournalEntry[]>();
  /** Beside `journal`, index for index: when each entry was appended, by which attempt. */
  private journalMeta = new Map<string, (JournalMeta | undefined)[]>();
  private timers = new Map<string, TimerRow>();
  /** service\0key → (name → value) */
  private state = new Map<string, Map<string, Uint8Array>>();
  private locks = new Map<string, string>();
  private inbox = new Map<string, string[]>();
  private outbox = new Map<number, OutboxMessage>();
  private dedup = new Map<string, number>();
  private promises = new Map<string, Map<string, PromiseRow>>();
  private counters: Counters = { appliedLsn: 0, leaderEpoch: 0, outboxSeq: 0 };
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
      const undo = this.undo!;
      this.undo = undefined;
      for (let i = undo.length - 1; i >= 0; i--) undo[i]!();
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

  private counter<K extends keyof Counters>(k: K, v: number): void {
    const old = this.counters[k];
    this.counters = { ...this.counters, [k]: v };
    this.undo?.push(() => (this.counters = { ...this.counters, [k]: old }));
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
  getJournalMeta(id: string): (JournalMeta | undefined)[] {
    return [...(this.journalMeta.get(id) ?? [])];
  }
  appendJournal(id: string, index: number, entry: JournalEntry, meta: JournalMeta): void {
    const j = [...(this.journal.get(id) ?? [])];
    j[index] = entry;
    this.set(this.journal, id, j);
    const m = [...(this.journalMeta.get(id) ?? [])];
    m[index] = meta;
    this.set(this.journalMeta, id, m);
  }
  deleteJournal(id: string): void {
    this.set(this.journal, id, undefined);
    this.set(this.journalMeta, id, undefined);
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

  getState(service: string, key: string, name: string): Uint8Array | undefined {
    return this.state.get(keyId(service, key))?.get(name);
  }
  putState(service: string, key: string, name: string, value: Uint8Array): void {
    const m = new Map(this.state.get(keyId(service, key)));
    m.set(name, value);
    this.set(this.state, keyId(service, key), m);
  }
  deleteState(service: string, key: string, name: string): void {
    const m = new Map(this.state.get(keyId(service, key)));
    m.delete(name);
    this.set(this.state, keyId(service, key), m.size === 0 ? undefined : m);
  }
  listState(service: string, key: string): [string, Uint8Array][] {
    return [...(this.state.get(keyId(service, key)) ?? [])].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }
  clearState(service: string, key: string): void {
    this.set(this.state, keyId(service, key), undefined);
  }

  getLock(service: string, key: string): string | undefined {
    return this.locks.get(keyId(service, key));
  }
  setLock(service: string, key: string, invocationId: string): void {
    this.set(this.locks, keyId(service, key), invocationId);
  }
  deleteLock(service: string, key: string): void {
    this.set(this.locks, keyId(service, key), undefined);
  }
  pushInbox(service: string, key: string, invocationId: string): void {
    this.set(this.inbox, keyId(service, key), [...(this.inbox.get(keyId(service, key)) ?? []), invocationId]);
  }
  popInbox(service: string, key: string): string | undefined {
    const q = this.inbox.get(keyId(service, key)) ?? [];
    if (q.length === 0) return undefined;
    this.set(this.inbox, keyId(service, key), q.length === 1 ? undefined : q.slice(1));
    return q[0];
  }
  removeFromInbox(service: string, key: string, invocationId: string): void {
    const q = (this.inbox.get(keyId(service, key)) ?? []).filter((x) => x !== invocationId);
    this.set(this.inbox, keyId(service, key), q.length === 0 ? undefined : q);
  }

  pushOutbox(message: OutboxMessage): number {
    const seq = this.counters.outboxSeq + 1;
    this.counter("outboxSeq", seq);
    this.set(this.outbox, seq, message);
    return seq;
  }
  listOutbox(afterSeq: number, limit: number): { seq: number; message: OutboxMessage }[] {
    return [...this.outbox]
      .filter(([seq]) => seq > afterSeq)
      .sort(([a], [b]) => a - b)
      .slice(0, limit)
      .map(([seq, message]) => ({ seq, message }));
  }
  deleteOutboxUpTo(seq: number): void {
    for (const s of [...this.outbox.keys()]) if (s <= seq) this.set(this.outbox, s, undefined);
  }

  getDedup(producer: string): number | undefined {
    return this.dedup.get(producer);
  }
  setDedup(producer: string, seq: number): void {
    this.set(this.dedup, producer, seq);
  }

  getPromise(service: string, key: string, name: string): PromiseRow | undefined {
    return this.promises.get(keyId(service, key))?.get(name);
  }
  putPromise(service: string, key: string, name: string, row: PromiseRow): void {
    const m = new Map(this.promises.get(keyId(service, key)));
    m.set(name, row);
    this.set(this.promises, keyId(service, key), m);
  }
  clearPromises(service: string, key: string): void {
    this.set(this.promises, keyId(service, key), undefined);
  }

  getAppliedLsn(): number {
    return this.counters.appliedLsn;
  }
  setAppliedLsn(lsn: number): void {
    this.counter("appliedLsn", lsn);
  }
  getLeaderEpoch(): number {
    return this.counters.leaderEpoch;
  }
  setLeaderEpoch(epoch: number): void {
    this.counter("leaderEpoch", epoch);
  }

  /**
   * The committed tables and applied LSN as bytes (msgpack): a deep copy nothing shares with this
   * store. Rejects inside a transaction.
   */
  snapshot(): Promise<PartitionSnapshot> {
    if (this.undo !== undefined) return Promise.reject(new Error("snapshot inside a transaction"));
    const nested = (m: Map<string, Map<string, unknown>>): Entries =>
      [...m].map(([k, inner]) => [k, [...inner]]);
    const tables = {
      status: [...this.status],
      journal: [...this.journal],
      journalMeta: [...this.journalMeta],
      timers: [...this.timers],
      state: nested(this.state),
      locks: [...this.locks],
      inbox: [...this.inbox],
      outbox: [...this.outbox],
      dedup: [...this.dedup],
      promises: nested(this.promises),
      counters: this.counters,
    };
    return Promise.resolve({
      partition: this.partition,
      appliedLsn: this.counters.appliedLsn,
      format: STORE_FORMAT,
      bytes: packr.pack(tables),
    });
  }

  /**
   * A store with the rows and applied LSN of a snapshot made by {@link MemoryStore.snapshot}.
   * Throws DataFormatError (OL1022) for a snapshot of another store format.
   *
   * @example
   * const copy = MemoryStore.restore(await store.snapshot());
   */
  static restore(snapshot: PartitionSnapshot): MemoryStore {
    if (snapshot.format !== STORE_FORMAT) {
      throw new DataFormatError(`snapshot of partition ${snapshot.partition}`, snapshot.format, STORE_FORMAT);
    }
    const t = packr.unpack(snapshot.bytes) as Record<string, Entries> & { counters: Counters };
    const store = new MemoryStore(snapshot.partition);
    const map = <K, V>(entries: Entries | undefined): Map<K, V> => new Map(entries as [K, V][]);
    const nested = <V>(entries: Entries | undefined): Map<string, Map<string, V>> =>
      new Map((entries ?? []).map(([k, inner]) => [k as string, map<string, V>(inner as Entries)]));
    store.status = map(t.status);
    store.journal = map(t.journal);
    store.journalMeta = map(t.journalMeta);
    store.timers = map(t.timers);
    store.state = nested(t.state);
    store.locks = map(t.locks);
    store.inbox = map(t.inbox);
    store.outbox = map(t.outbox);
    store.dedup = map(t.dedup);
    store.promises = nested(t.promises);
    store.counters = { ...t.counters };
    return store;
  }

  /**
   * A copy of every committed table, as the store's file would be after a checkpoint. The
   * simulator restores one on a crash to model commits lost with synchronous=NORMAL.
   */
  copy(): MemoryStore {
    if (this.undo !== undefined) throw new Error("copy inside a transaction");
    const copy = new MemoryStore(this.partition);
    copy.status = new Map(this.status);
    copy.journal = new Map(this.journal);
    copy.journalMeta = new Map(this.journalMeta);
    copy.timers = new Map(this.timers);
    copy.state = new Map(this.state);
    copy.locks = new Map(this.locks);
    copy.inbox = new Map(this.inbox);
    copy.outbox = new Map(this.outbox);
    copy.dedup = new Map(this.dedup);
    copy.promises = new Map(this.promises);
    copy.counters = { ...this.counters };
    return copy;
  }

  /** A canonical dump of every table, for comparing two stores (the simulator's replay check). */
  dump(): unknown {
    const sorted = <K, V>(m: Map<K, V>): unknown[] =>
      [...m.entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, v]) => [k, v instanceof Map ? sorted(v) : v]);
    return {
      status: sorted(this.status),
      journal: sorted(this.journal),
      journalMeta: sorted(this.journalMeta),
      timers: sorted(this.timers),
      state: sorted(this.state),
      locks: sorted(this.locks),
      inbox: sorted(this.inbox),
      outbox: sorted(this.outbox),
      dedup: sorted(this.dedup),
      promises: sorted(this.promises),
      ...this.counters,
    };
  }
}
