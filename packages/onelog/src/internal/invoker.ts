/**
 * The in-process invoker: runs attempts of handlers that live in this process (DESIGN.md §2.6).
 * It sends the SDK the journal, appends each new entry as an effect carrying the attempt
 * epoch, and resolves the step once apply acknowledges it, so a step's result is durable
 * before the handler sees it.
 *
 * Invariants:
 * 1. At most one attempt per invocation runs here; starting a newer epoch aborts the older one.
 * 2. An aborted attempt proposes nothing more, and its pending steps reject.
 * 3. Every attempt that is not aborted proposes exactly one outcome (end or attempt_failed).
 */
import {
  runAttempt,
  type AttemptOutcome,
  type JournalEntry,
  type ResolvedHandler,
} from "@onelog/sdk/internal";
import type { Clock } from "./clock.js";
import type { Logger } from "./logger.js";
import type { RecordBody } from "./records.js";
import type { PartitionStore } from "./store/store.js";

export interface InvokerOptions {
  readonly handlers: ReadonlyMap<string, ResolvedHandler>;
  /** Reads the journal and status; only read, never written. */
  readonly store: PartitionStore;
  /** Appends a leader-proposed record to this partition's log; resolves when durable. */
  readonly propose: (body: RecordBody) => Promise<unknown>;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Where ctx.console writes. */
  readonly console?: Console;
}

interface Attempt {
  readonly epoch: number;
  aborted: boolean;
  readonly pending: Map<number, { resolve: () => void; reject: (e: unknown) => void }>;
}

/** Thrown into a handler whose attempt was aborted (a newer attempt, a pause, a shutdown). */
export class AttemptAbortedError extends Error {
  constructor(id: string, epoch: number) {
    super(`attempt ${epoch} of ${id} was aborted`);
    this.name = "AttemptAbortedError";
  }
}

export class InProcessInvoker {
  private readonly attempts = new Map<string, Attempt>();
  private stopped = false;

  constructor(private readonly o: InvokerOptions) {}

  /** Number of attempts running now. */
  get running(): number {
    return this.attempts.size;
  }

  /** Starts an attempt with this epoch; the processor calls it for each invoke action. */
  invoke(invocationId: string, epoch: number): void {
    this.abort(invocationId); // 1
    const attempt: Attempt = { epoch, aborted: false, pending: new Map() };
    this.attempts.set(invocationId, attempt);
    void this.run(invocationId, attempt);
  }

  /** Entry `index` of this attempt was applied: its step may go on. */
  ack(invocationId: string, epoch: number, index: number): void {
    const a = this.attempts.get(invocationId);
    if (a === undefined || a.epoch !== epoch) return;
    const p = a.pending.get(index);
    a.pending.delete(index);
    p?.resolve();
  }

  /** Aborts the running attempt of an invocation, if any (2). */
  abort(invocationId: string): void {
    const a = this.attempts.get(invocationId);
    if (a === undefined) return;
    this.attempts.delete(invocationId);
    a.aborted = true;
    for (const p of a.pending.values()) p.reject(new AttemptAbortedError(invocationId, a.epoch));
    a.pending.clear();
  }

  /** Aborts every attempt (shutdown, lost leadership). */
  stop(): void {
    this.stopped = true;
    for (const id of [...this.attempts.keys()]) this.abort(id);
  }

  private async run(id: string, attempt: Attempt): Promise<void> {
    const outcome = await this.execute(id, attempt);
    if (attempt.aborted) return; // 2
    this.attempts.delete(id);
    if (outcome.type === "failed") {
      this.o.logger.warn(
        { invocationId: id, attemptEpoch: attempt.epoch, error: outcome.message },
        "attempt failed",
      );
    }
    this.proposeOutcome(id, attempt.epoch, outcome, 0);
  }

  /**
   * Proposes an attempt's outcome (3). If the append fails (disk full, I/O), it is tried again
   * with a growing pause: until it is durable the invocation stays `invoked` with this epoch.
   */
  private proposeOutcome(id: string, epoch: number, outcome: AttemptOutcome, failures: number): void {
    const body: RecordBody =
      outcome.type === "end"
        ? { type: "end", invocationId: id, attemptEpoch: epoch, result: outcome.result }
        : {
            type: "attempt_failed",
            invocationId: id,
            attemptEpoch: epoch,
            message: outcome.message,
            ...(outcome.retryAfterMs === undefined ? {} : { retryAfterMs: outcome.retryAfterMs }),
          };
    this.o.propose(body).catch((e: unknown) => {
      if (this.stopped) return;
      const delay = Math.min(100 * 2 ** failures, 10_000);
      this.o.logger.error(
        { invocationId: id, err: e, retryInMs: delay },
        "could not append an attempt's outcome",
      );
      this.o.clock.setTimeout(() => this.proposeOutcome(id, epoch, outcome, failures + 1), delay);
    });
  }

  /**
   * A step's entry could not be appended: this attempt must propose nothing more (a later entry
   * would leave a gap in the journal), so it is aborted and fails; the retry policy takes over.
   */
  private entryAppendFailed(id: string, attempt: Attempt, e: unknown): void {
    if (attempt.aborted) return;
    this.abort(id);
    this.proposeOutcome(
      id,
      attempt.epoch,
      { type: "failed", message: `appending a journal entry failed: ${String(e)}` },
      0,
    );
  }

  private async execute(id: string, attempt: Attempt): Promise<AttemptOutcome> {
    const status = this.o.store.getStatus(id);
    if (status === undefined || status.attemptEpoch !== attempt.epoch) {
      return { type: "failed", message: `invocation ${id} has no attempt ${attempt.epoch}` };
    }
    const { service, handler: name } = status.target;
    const handler = this.o.handlers.get(`${service}/${name}`);
    if (handler === undefined) {
      return { type: "failed", message: `no handler ${service}/${name} is registered in this process` };
    }
    const journal: JournalEntry[] = this.o.store.getJournal(id);
    return runAttempt(handler, {
      invocationId: id,
      journal,
      now: () => this.o.clock.now(),
      sleep: (ms) => new Promise((resolve) => this.o.clock.setTimeout(resolve, ms)),
      console: this.o.console ?? console,
      propose: (index, entry) => {
        if (attempt.aborted) return Promise.reject(new AttemptAbortedError(id, attempt.epoch));
        return new Promise<void>((resolve, reject) => {
          attempt.pending.set(index, { resolve, reject });
          this.o
            .propose({ type: "entry", invocationId: id, attemptEpoch: attempt.epoch, index, entry })
            .catch((e: unknown) => this.entryAppendFailed(id, attempt, e));
        });
      },
    });
  }
}
