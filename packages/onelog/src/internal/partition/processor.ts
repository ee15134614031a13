/**
 * The partition processor: the only writer of its partition's store (docs/architecture.md).
 * It reads the log in LSN order, applies each batch in one store transaction together with the
 * batch's last LSN, and, as leader, performs the batch's actions after the commit.
 *
 * Invariants:
 * 1. Records are applied in LSN order, each exactly once per store (the applied LSN commits
 *    with the batch's changes, and reading resumes after it).
 * 2. Actions run only after their batch committed, and only while this processor is leader;
 *    it becomes leader when its own AnnounceLeader (with the epoch of its Leadership grant) is
 *    applied, and from then on derives what the previous leader left undone from the store
 *    (invoked invocations, timers). It stops leading for good when a newer AnnounceLeader is
 *    applied or its grant is revoked; a node that wants the partition back builds a new processor.
 * 3. A failed apply (a broken invariant) stops the partition; nothing of that batch commits.
 *    A processor that stopped also gives up waiting for a leadership grant.
 * 4. A store behind the log's trim point is never applied to: the processor stops with a
 *    {@link BehindTrimPointError}, at start or when the log skips the trimmed records under a
 *    follower (Log.4). Whoever owns the store may then restore it from a snapshot and start a
 *    new processor (engine.ts, cluster mode).
 */
import { DEFAULTS, type HandlerInfo, type Result } from "@onelog/sdk/internal";
import { apply, type Action } from "./apply.js";
import type { Clock } from "../clock.js";
import type { Invoker, InvokerFactory } from "../invoker/invoker.js";
import { LogError, type Log, type LogEntry } from "../log/log.js";
import type { Logger } from "../ops/logger.js";
import { decodeRecord, encodeRecord } from "./codec.js";
import { partitionOf } from "./ids.js";
import type { Leadership, LeadershipGrant } from "./leadership.js";
import type { LogRecord, OutboxMessage, RecordBody } from "./records.js";
import { retentionOf } from "./retention.js";
import type { PartitionStore } from "./store/store.js";
import { TimerService } from "./timers.js";

/** The store has applied less than the log still holds (invariant 4): the records in between were trimmed away. */
export class BehindTrimPointError extends Error {
  constructor(
    readonly partition: number,
    readonly appliedLsn: number,
    /** The next LSN the log has for this partition (the trim point + 1, or more). */
    readonly nextLsn: number,
  ) {
    super(
      `partition ${partition}: the store has applied up to LSN ${appliedLsn}, but the log was trimmed up to LSN ${nextLsn - 1}; ` +
        "the store file was lost or replaced by an older copy after log compaction — restore the data directory from a backup",
    );
    this.name = "BehindTrimPointError";
  }
}

/** What waits on a processor gets once it was stopped (not a failure: it was asked to stop). */
export class ProcessorStoppedError extends Error {
  constructor(readonly partition: number) {
    super(`partition ${partition}: the processor stopped`);
    this.name = "ProcessorStoppedError";
  }
}

export interface ProcessorOptions {
  readonly partition: number;
  readonly log: Log;
  readonly store: PartitionStore;
  /** Hands this processor its leader epoch (invariant 2). */
  readonly leadership: Leadership;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The handlers the engine knows (from deployments' manifests), by `service/handler`. */
  readonly handlers: ReadonlyMap<string, HandlerInfo>;
  /** Makes this partition's invoker: whatever runs the attempts, in this process or remote. */
  readonly invokers: InvokerFactory;
  /** Called when an invocation has a result (or a state patch its answer), by leader and followers. */
  readonly onCompleted: (invocationId: string, result: Result) => void;
  /** Called once if the partition stops on an error. */
  readonly onFailed?: (error: unknown) => void;
  /** Told how long each applied batch took (the admin's metrics); optional. */
  readonly observer?: ProcessorObserver;
  /**
   * Fault injection for the simulator: deliver a shipment a second time after the returned
   * delay in ms (as a zombie leader or a retried append would); undefined delivers it once.
   */
  readonly faults?: {
    readonly duplicateShipment?: () => number | undefined;
    /** Deliver an ack or notification to the invoker this many ms late (reorders invoker traffic). */
    readonly delayInvokerTraffic?: () => number | undefined;
  };
}

/** Measurements the processor reports (admin metrics). Must be cheap: it runs once per batch. */
export interface ProcessorObserver {
  /** A batch of `records` was applied and committed in `durationMs` (store retries included). */
  batchApplied(partition: number, records: number, durationMs: number): void;
}

/** Counters a benchmark or the admin API reads. */
export interface ProcessorStats {
  batches: number;
  records: number;
}

export class PartitionProcessor {
  readonly partition: number;
  readonly stats: ProcessorStats = { batches: 0, records: 0 };
  private readonly abort = new AbortController();
  private readonly invoker: Invoker;
  private readonly timers: TimerService;
  private myEpoch = 0;
  private grant: LeadershipGrant | undefined;
  private leader = false;
  private applied: number;
  private failure: Error | undefined;
  private loop: Promise<void> | undefined;
  private readonly appliedWaiters: { lsn: number; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private markDeposed: () => void = () => {};
  private readonly deposedPromise = new Promise<void>((resolve) => (this.markDeposed = resolve));

  constructor(private readonly options: ProcessorOptions) {
    const o = options;
    this.partition = o.partition;
    this.applied = o.store.getAppliedLsn();
    this.invoker = o.invokers({
      partition: o.partition,
      store: o.store,
      propose: (body) => this.propose(body),
      clock: o.clock,
      logger: o.logger,
    });
    this.timers = new TimerService({
      store: o.store,
      clock: o.clock,
      logger: o.logger,
      fire: (timer) => this.propose({ type: "timer_fired", timer }),
    });
  }

  /** True once this processor's AnnounceLeader was applied (and no newer one since). */
  get isLeader(): boolean {
    return this.leader;
  }

  /** The epoch of the newest AnnounceLeader applied (0: none yet): some node leads with it. */
  get leaderEpoch(): number {
    return this.options.store.getLeaderEpoch();
  }

  get appliedLsn(): number {
    return this.applied;
  }

  /** Attempts running in this partition's invoker. */
  get runningAttempts(): number {
    return this.invoker.running;
  }

  /**
   * Replays the log from the store's applied LSN to its tail, then asks the Leadership for a
   * grant and announces it. Resolves once this processor is leader; rejects if the store is
   * older than the log's trim point, if the grant cannot be had, or if it was not won.
   */
  async start(): Promise<void> {
    await this.follow();
    await this.lead();
  }

  /**
   * Replays the log from the store's applied LSN to its tail and keeps applying what follows, as
   * a follower (no actions). Resolves once the tail is applied; rejects if the store is older
   * than the log's trim point (then restore a snapshot first).
   */
  async follow(): Promise<void> {
    const { tailLsn, trimmedLsn: trimmed } = await this.options.log.findTail(this.partition);
    // Invariant 4: the store is older than what the log still holds; the records in between are gone.
    if (this.applied < trimmed) {
      const behind = new BehindTrimPointError(this.partition, this.applied, trimmed + 1);
      this.stopOnError(behind);
      throw behind;
    }
    this.loop = this.run();
    this.loop.catch(() => {});
    await this.waitApplied(tailLsn);
  }

  /**
   * Asks the Leadership for a grant (in a cluster this waits until the partition is this
   * node's), or takes `granted`, announces it, and resolves once this processor leads. Call it
   * once, after {@link follow}. Rejects if the processor stopped first or the announcement was
   * not won.
   */
  async lead(granted?: LeadershipGrant): Promise<void> {
    const grant = granted ?? (await this.options.leadership.acquire(this.partition, this.abort.signal));
    this.grant = grant;
    this.myEpoch = grant.epoch;
    grant.revoked.addEventListener("abort", () => this.stepDown(grant), { once: true });
    // A grant taken before this processor existed may have ended already.
    if (grant.revoked.aborted) this.stepDown(grant);
    const [lsn] = await this.options.log.append(this.partition, [
      encodeRecord({
        header: { at: this.options.clock.now(), leaderEpoch: grant.epoch },
        body: { type: "announce_leader", leaderEpoch: grant.epoch, node: grant.node },
      }),
    ]);
    await this.waitApplied(lsn!);
    if (!this.leader)
      throw new Error(`partition ${this.partition}: leadership with epoch ${this.myEpoch} was not won`);
  }

  /**
   * Resolves once this processor will never lead (again): its grant ended, a newer leader was
   * announced, it failed, or it stopped. A node that wants the partition back builds a new one.
   */
  deposed(): Promise<void> {
    return this.deposedPromise;
  }

  /**
   * The grant ended (revoked or released): stop acting as leader at once (invariant 2). The
   * epoch is forgotten, so this processor's own AnnounceLeader, if applied later, wins nothing,
   * and what it still proposes carries epoch 0, which apply drops.
   */
  private stepDown(grant: LeadershipGrant): void {
    if (this.grant !== grant) return;
    this.grant = undefined;
    this.myEpoch = 0;
    this.markDeposed();
    if (!this.leader) return;
    this.leader = false;
    this.invoker.stop();
    this.timers.stop();
    this.options.logger.warn({ partition: this.partition, epoch: grant.epoch }, "partition leadership lost");
  }

  /** Appends a record proposed by this leader (it carries the leader epoch). */
  propose(body: RecordBody): Promise<number> {
    return this.options.log
      .append(this.partition, [
        encodeRecord({ header: { at: this.options.clock.now(), leaderEpoch: this.myEpoch }, body }),
      ])
      .then((lsns) => lsns[0]!);
  }

  /** True once the partition stopped on an error (a broken invariant, a failed read). */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** True once the partition stopped because the log was trimmed past its store (invariant 4): a restore repairs it. */
  get behindTrimPoint(): boolean {
    return this.failure instanceof BehindTrimPointError;
  }

  /** Appends a record from outside the partition (ingress); no leader epoch. */
  async appendExternal(body: RecordBody): Promise<number> {
    if (this.failure !== undefined) {
      throw new LogError("io", `partition ${this.partition} stopped after an error: ${this.failure.message}`);
    }
    const [lsn] = await this.options.log.append(this.partition, [
      encodeRecord({ header: { at: this.options.clock.now() }, body }),
    ]);
    return lsn!;
  }

  /** Resolves once the record at `lsn` is applied; rejects if the partition failed. */
  waitApplied(lsn: number): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.abort.signal.aborted) return Promise.reject(new ProcessorStoppedError(this.partition));
    if (this.applied >= lsn) return Promise.resolve();
    return new Promise((resolve, reject) => this.appliedWaiters.push({ lsn, resolve, reject }));
  }

  /** Stops reading, aborts attempts and timers. The store and the log stay open. */
  async stop(): Promise<void> {
    this.abort.abort();
    this.markDeposed();
    this.leader = false;
    this.invoker.stop();
    this.timers.stop();
    const grant = this.grant;
    this.grant = undefined;
    // A lead() or follow() waiting for its record to be applied would wait forever otherwise.
    for (const w of this.appliedWaiters.splice(0)) w.reject(new ProcessorStoppedError(this.partition));
    await this.loop?.catch(() => {});
    if (grant !== undefined) await this.options.leadership.release(grant);
  }

  private async run(): Promise<void> {
    try {
      for await (const entries of this.options.log.read(
        this.partition,
        this.applied + 1,
        this.abort.signal,
      )) {
        if (entries.length === 0) continue;
        // Invariant 4: a read continues above the trim point without a gap (Log.4), so a jump
        // means the log was trimmed past this store while it followed.
        if (entries[0]!.lsn > this.applied + 1)
          throw new BehindTrimPointError(this.partition, this.applied, entries[0]!.lsn);
        // Decoded once, here: the log yields bytes (log.ts), apply wants records.
        const batch = entries.map(decodeRecord);
        const started = this.options.observer === undefined ? 0 : performance.now();
        const actions = await this.applyBatchRetrying(batch);
        if (actions === undefined) return; // stopped while waiting for the store
        this.options.observer?.batchApplied(this.partition, batch.length, performance.now() - started);
        this.applied = batch[batch.length - 1]!.lsn;
        this.stats.batches++;
        this.stats.records += batch.length;
        this.perform(actions);
        this.wakeWaiters();
      }
    } catch (e) {
      if (this.abort.signal.aborted) return;
      this.stopOnError(e);
    }
  }

  /** Invariants 3 and 4: the partition stops here; appends and waits on this processor fail. */
  private stopOnError(e: unknown): void {
    this.failure = e instanceof Error ? e : new Error(String(e));
    this.abort.abort(); // invariant 3: no waiting for a grant either
    this.leader = false;
    this.invoker.stop();
    this.timers.stop();
    // Behind the trim point is a state the owner may repair (invariant 4), not a broken invariant.
    if (e instanceof BehindTrimPointError)
      this.options.logger.warn(
        { partition: this.partition, appliedLsn: e.appliedLsn, nextLsn: e.nextLsn },
        "the log was trimmed past this partition's store; its processor stopped",
      );
    else this.options.logger.error({ partition: this.partition, err: e }, "partition processor stopped");
    for (const w of this.appliedWaiters.splice(0)) w.reject(e);
    this.markDeposed();
    this.options.onFailed?.(e);
  }

  /**
   * Applies a batch; if the store cannot commit for a reason that may pass (disk full, I/O,
   * busy), the transaction rolled back, so it waits and tries the same batch again. Broken
   * invariants are not retried (invariant 3).
   */
  private async applyBatchRetrying(batch: readonly LogRecord[]): Promise<Action[] | undefined> {
    for (let failures = 0; ; failures++) {
      try {
        return this.applyBatch(batch);
      } catch (e) {
        const code = (e as { code?: unknown }).code;
        const transient =
          typeof code === "string" &&
          (code === "SQLITE_FULL" || code.startsWith("SQLITE_IOERR") || code === "SQLITE_BUSY");
        if (!transient) throw e;
        this.storeErrors++;
        const delay = Math.min(50 * 2 ** failures, 5_000);
        this.options.logger.error(
          { partition: this.partition, err: e, retryInMs: delay },
          "the store cannot commit (disk full?); retrying the batch",
        );
        await new Promise<void>((resolve) => this.options.clock.setTimeout(resolve, delay));
        if (this.abort.signal.aborted) return undefined;
      }
    }
  }

  /** Times the store could not commit a batch (disk full, I/O), for the admin stats. */
  storeErrors = 0;

  /** Invariant 1 and 3: the batch's changes and its last LSN in one transaction. */
  private applyBatch(batch: readonly LogRecord[]): Action[] {
    const store = this.options.store;
    return store.transaction(() => {
      const actions: Action[] = [];
      for (const record of batch) {
        if (record.lsn !== store.getAppliedLsn() + 1) {
          throw new Error(
            `partition ${this.partition}: record ${record.lsn} read after applied LSN ${store.getAppliedLsn()}`,
          );
        }
        for (const a of apply(store, record)) actions.push(a);
        store.setAppliedLsn(record.lsn);
      }
      return actions;
    });
  }

  /** Invariant 2. */
  private perform(actions: readonly Action[]): void {
    for (const a of actions) {
      if (a.type === "leader") {
        const won = a.leaderEpoch === this.myEpoch;
        if (won && !this.leader) {
          this.leader = true;
          this.timers.start();
          this.shippedUpTo = 0;
          this.shipOutbox();
        } else if (!won && this.leader) {
          this.leader = false;
          this.invoker.stop();
          this.timers.stop();
          this.markDeposed();
        }
        continue;
      }
      if (!this.leader) {
        // Requests waiting in this process are answered by whoever applies the record: in a
        // cluster every node follows every partition, so the answer reaches the node whose
        // ingress holds the request, leader or not. Everything else is the leader's.
        if (a.type === "completed") this.options.onCompleted(a.invocationId, a.result);
        else if (a.type === "state_patched") this.options.onCompleted(a.requestId, a.result);
        continue;
      }
      switch (a.type) {
        case "invoke":
          this.invoker.invoke(a.invocationId, a.attemptEpoch);
          break;
        case "ack":
          this.toInvoker(() => this.invoker.ack(a.invocationId, a.attemptEpoch, a.commandIndex, a.position));
          break;
        case "notify":
          this.toInvoker(() => this.invoker.notify(a.invocationId, a.attemptEpoch, a.entry, a.position));
          break;
        case "ship_outbox":
          this.shipOutbox();
          break;
        case "abort":
          this.invoker.abort(a.invocationId);
          break;
        case "completed":
          this.invoker.abort(a.invocationId);
          this.options.onCompleted(a.invocationId, a.result);
          break;
        case "schedule_timer":
          this.timers.schedule(a.dueAt, a.timer);
          break;
        case "state_patched":
          this.options.onCompleted(a.requestId, a.result);
          break;
      }
    }
  }

  private shipping = false;
  private shipAgain = false;
  private shippedUpTo = 0;

  /**
   * Ships outbox messages, in seq order, to their partitions' logs with dedup info
   * (producer = this partition, seq), then proposes truncate_outbox. After a crash the new
   * leader ships what is left again; the targets drop what they applied before.
   */
  private shipOutbox(): void {
    if (!this.leader) return;
    if (this.shipping) {
      this.shipAgain = true;
      return;
    }
    this.shipping = true;
    this.shipAgain = false;
    const rows = this.options.store.listOutbox(this.shippedUpTo, 1000);
    if (rows.length === 0) {
      this.shipping = false;
      return;
    }
    const byPartition = new Map<number, LogEntry[]>();
    const at = this.options.clock.now();
    for (const { seq, message } of rows) {
      const body = this.resolveMessage(message);
      const target = partitionOf(body.invocationId, this.options.log.partitions);
      let list = byPartition.get(target);
      if (list === undefined) byPartition.set(target, (list = []));
      list.push(encodeRecord({ header: { at, dedup: { producer: `p${this.partition}`, seq } }, body }));
    }
    const last = rows[rows.length - 1]!.seq;
    const again = this.options.faults?.duplicateShipment?.();
    if (again !== undefined) {
      this.options.clock.setTimeout(() => {
        for (const [p, records] of byPartition) this.options.log.append(p, records).catch(() => {});
      }, again);
    }
    Promise.all([...byPartition].map(([p, records]) => this.options.log.append(p, records)))
      .then(() => {
        this.shippedUpTo = Math.max(this.shippedUpTo, last);
        return this.propose({ type: "truncate_outbox", upToSeq: last });
      })
      .then(
        () => {
          this.shipping = false;
          this.shipOutbox();
        },
        (e: unknown) => {
          this.shipping = false;
          if (!this.leader) return;
          this.options.logger.warn(
            { partition: this.partition, err: e },
            "shipping the outbox failed; retrying",
          );
          this.options.clock.setTimeout(() => this.shipOutbox(), 1000);
        },
      );
  }

  /** Adds what only the registry knows to an invoke from a handler (or answers 404 to its caller). */
  private resolveMessage(m: OutboxMessage): Extract<RecordBody, { invocationId: string }> {
    if (m.type !== "invoke") return m;
    const { fromHandler: _f, ...invoke } = m;
    const h = this.options.handlers.get(`${m.target.service}/${m.target.handler}`);
    if (h === undefined) {
      if (m.caller === undefined) {
        // A send to nothing: it becomes an invocation that fails its attempts and pauses, visible to operators.
        return {
          ...invoke,
          handlerKind: "service",
          retry: {
            initialIntervalMs: DEFAULTS.initialIntervalMs,
            factor: DEFAULTS.factor,
            maxIntervalMs: DEFAULTS.maxIntervalMs,
            maxAttempts: 1,
            onMaxAttempts: "pause",
          },
          retentionMs: 0,
        };
      }
      return {
        type: "invocation_response",
        invocationId: m.caller.invocationId,
        completionId: m.caller.completionId,
        result: { err: { code: 404, message: `unknown handler ${m.target.service}/${m.target.handler}` } },
      };
    }
    return {
      ...invoke,
      handlerKind: h.kind,
      retry: h.retryPolicy,
      ...retentionOf(h, { fromIngress: false, keyed: invoke.idempotencyKey !== undefined }),
    };
  }

  /** Hands an ack or notification to the invoker, late when the simulator says so. */
  private toInvoker(deliver: () => void): void {
    const delay = this.options.faults?.delayInvokerTraffic?.();
    if (delay === undefined) deliver();
    else this.options.clock.setTimeout(deliver, delay);
  }

  private wakeWaiters(): void {
    if (this.appliedWaiters.length === 0) return;
    const keep: typeof this.appliedWaiters = [];
    for (const w of this.appliedWaiters) {
      if (w.lsn <= this.applied) w.resolve();
      else keep.push(w);
    }
    this.appliedWaiters.length = 0;
    this.appliedWaiters.push(...keep);
  }
}
