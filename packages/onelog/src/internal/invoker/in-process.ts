/**
 * The in-process invoker: runs attempts of handlers that live in this process (docs/architecture.md),
 * by direct calls into the SDK's journal state machine (no encoding). It hands the SDK the
 * journal and the key's state, appends each new command and each proposed step result as an
 * effect carrying the attempt epoch, passes acks and notifications on (a step's result reaches
 * the handler only as its notification, so only once durable), and suspends an attempt that
 * waits only for notifications once it has been inactive for the handler's inactivity timeout.
 * It implements the {@link Invoker} contract (invoker.ts).
 *
 * Invariants:
 * 1. At most one attempt per invocation runs here; starting a newer epoch aborts the older one.
 * 2. An aborted attempt proposes nothing more, and its pending commands reject.
 * 3. Every attempt that is not aborted proposes exactly one outcome (end, attempt_failed or
 *    suspend), retried until it is durable.
 * 4. A command whose append failed ends its attempt: a later command would leave a gap.
 */
import {
  describeEntry,
  startAttempt,
  type Applied,
  type AttemptHandle,
  type AttemptOutcome,
  type NotificationEntry,
  type ResolvedHandler,
} from "@onelog/sdk/internal";
import type { RecordBody } from "../partition/records.js";
import { startAttemptTrace, type AttemptTrace } from "../ops/tracing.js";
import type { Invoker, InvokerFactory, InvokerHost } from "./invoker.js";
import {
  EntryTooLargeError,
  MAX_ENTRY_BYTES,
  MAX_RUNNING_ATTEMPTS,
  WaitingAttempts,
  eagerState,
  entryBytes,
  outcomeRecord,
  proposeOutcome,
  resultBytes,
  tooLarge,
  unregisteredTarget,
} from "./checks.js";
import { logAttemptFailed, logTerminalFailure } from "../ops/attempt-log.js";

/** What the in-process invoker runs, besides its host. */
export interface InProcessOptions {
  /** The handler functions, by `service/handler`: they never leave this invoker. */
  readonly handlers: ReadonlyMap<string, ResolvedHandler>;
  /**
   * Whether a call or send target is served by any deployment (default: by `handlers`). A call
   * or send to one that is not is refused before the log and its attempt fails (retryable).
   */
  readonly isRegistered?: (service: string, handler: string) => boolean;
  /** Where ctx.console writes. */
  readonly console?: Console;
  /** Suspend at every await that waits for a completion (a test mode: inactivity timeout 0). */
  readonly suspendAlways?: boolean;
  /** Attempts running at once (default MAX_RUNNING_ATTEMPTS). */
  readonly maxRunning?: number;
}

interface Attempt {
  readonly epoch: number;
  aborted: boolean;
  readonly acks: Map<number, { resolve: (a: Applied) => void; reject: (e: unknown) => void }>;
  handle: AttemptHandle | undefined;
  lastActivity: number;
  inactivity: unknown;
  timeoutMs: number;
  /** The attempt's OpenTelemetry span (tracing.ts). */
  trace?: AttemptTrace;
}

/** Thrown into a handler whose attempt was aborted (a newer attempt, a pause, a shutdown). */
export class AttemptAbortedError extends Error {
  constructor(id: string, epoch: number) {
    super(`attempt ${epoch} of ${id} was aborted`);
    this.name = "AttemptAbortedError";
  }
}

/** The factory of in-process invokers for an engine: one per partition, sharing the handlers. */
export function inProcessInvokers(options: InProcessOptions): InvokerFactory {
  return (host) => new InProcessInvoker(host, options);
}

export class InProcessInvoker implements Invoker {
  private readonly attempts = new Map<string, Attempt>();
  /** Invocations waiting for a free slot (MAX_RUNNING_ATTEMPTS), in arrival order. */
  private readonly waiting: WaitingAttempts;
  private stopped = false;
  private readonly options: InvokerHost & InProcessOptions;

  constructor(host: InvokerHost, options: InProcessOptions) {
    this.options = { ...host, ...options };
    this.waiting = new WaitingAttempts(options.maxRunning ?? MAX_RUNNING_ATTEMPTS);
  }

  /** Number of attempts running now. */
  get running(): number {
    return this.attempts.size;
  }

  /** Starts an attempt with this epoch; the processor calls it for each invoke action. */
  invoke(invocationId: string, epoch: number): void {
    this.abort(invocationId); // 1
    if (!this.waiting.admit(invocationId, epoch, this.attempts.size)) return;
    const attempt: Attempt = {
      epoch,
      aborted: false,
      acks: new Map(),
      handle: undefined,
      lastActivity: this.options.clock.now(),
      inactivity: undefined,
      timeoutMs: 0,
    };
    this.attempts.set(invocationId, attempt);
    void this.run(invocationId, attempt);
  }

  /** Command `commandIndex` of this attempt was applied at `position`. */
  ack(invocationId: string, epoch: number, commandIndex: number, position: number): void {
    const a = this.attempts.get(invocationId);
    if (a === undefined || a.epoch !== epoch) return;
    const p = a.acks.get(commandIndex);
    a.acks.delete(commandIndex);
    p?.resolve({ position });
  }

  /** A notification was appended to the journal of this attempt's invocation. */
  notify(invocationId: string, epoch: number, entry: NotificationEntry, position: number): void {
    const a = this.attempts.get(invocationId);
    if (a === undefined || a.epoch !== epoch) return;
    a.handle?.notify(entry, position);
  }

  /** Aborts the running attempt of an invocation, if any (2). */
  abort(invocationId: string): void {
    this.waiting.drop(invocationId);
    const a = this.attempts.get(invocationId);
    if (a === undefined) return;
    this.attempts.delete(invocationId);
    this.startWaiting();
    a.aborted = true;
    a.trace?.end("aborted");
    if (a.inactivity !== undefined) this.options.clock.clearTimeout(a.inactivity);
    for (const p of a.acks.values()) p.reject(new AttemptAbortedError(invocationId, a.epoch));
    a.acks.clear();
  }

  /** Starts waiting invocations while there is room. */
  private startWaiting(): void {
    for (let n; !this.stopped && (n = this.waiting.next(this.attempts.size)) !== undefined;) {
      this.invoke(n[0], n[1]);
    }
  }

  /** Aborts every attempt (shutdown, lost leadership). */
  stop(): void {
    this.waiting.clear();
    this.stopped = true;
    for (const id of [...this.attempts.keys()]) this.abort(id);
  }

  private async run(id: string, attempt: Attempt): Promise<void> {
    let outcome = await this.execute(id, attempt);
    if (attempt.aborted) return; // 2
    if (outcome.type === "end" && "ok" in outcome.result && outcome.result.ok.length > MAX_ENTRY_BYTES) {
      outcome = tooLarge(new EntryTooLargeError("the output", outcome.result.ok.length));
    }
    attempt.trace?.end(outcome);
    this.abort(id);
    if (outcome.type === "failed") {
      const status = this.options.store.getStatus(id);
      logAttemptFailed(this.options.logger, status, {
        invocationId: id,
        attemptEpoch: attempt.epoch,
        message: outcome.message,
        stack: outcome.stack,
        retryAfterMs: outcome.retryAfterMs,
        registered:
          status === undefined ||
          this.options.handlers.has(`${status.target.service}/${status.target.handler}`),
      });
    } else if ("err" in outcome.result) {
      // A zombie attempt returned above, so this is the attempt that counts.
      logTerminalFailure(this.options.logger, id, this.options.store.getStatus(id), outcome.result.err);
    }
    this.proposeOutcome(outcomeRecord(id, attempt.epoch, outcome));
  }

  /** Invariant 4: the attempt ends and fails; the retry policy takes over. */
  private entryAppendFailed(id: string, attempt: Attempt, e: unknown): void {
    if (attempt.aborted) return;
    this.endAttempt(id, attempt, {
      type: "failed",
      message: `appending a journal entry failed: ${String(e)}`,
    });
  }

  /** Ends an attempt from outside the handler: it proposes nothing more, and `outcome` is its one outcome (3). */
  private endAttempt(id: string, attempt: Attempt, outcome: AttemptOutcome): void {
    this.abort(id);
    this.proposeOutcome(outcomeRecord(id, attempt.epoch, outcome));
  }

  /** Arms (or re-arms) the check that suspends an attempt waiting only for completions. */
  private activity(id: string, attempt: Attempt): void {
    if (attempt.aborted) return;
    attempt.lastActivity = this.options.clock.now();
    if (attempt.inactivity !== undefined) {
      if (attempt.timeoutMs > 0) return; // the armed check looks at lastActivity when it fires
      this.options.clock.clearTimeout(attempt.inactivity);
    }
    attempt.inactivity = this.options.clock.setTimeout(() => this.inactive(id, attempt), attempt.timeoutMs);
  }

  private inactive(id: string, attempt: Attempt): void {
    attempt.inactivity = undefined;
    if (attempt.aborted || attempt.handle === undefined) return;
    const idle = this.options.clock.now() - attempt.lastActivity;
    if (idle < attempt.timeoutMs) {
      attempt.inactivity = this.options.clock.setTimeout(
        () => this.inactive(id, attempt),
        attempt.timeoutMs - idle,
      );
      return;
    }
    const waitingOn = attempt.handle.waitingOn();
    if (waitingOn === undefined) {
      // Busy (a step runs, a command is in flight) or waiting for nothing journaled: look again later.
      if (attempt.timeoutMs > 0) {
        attempt.inactivity = this.options.clock.setTimeout(
          () => this.inactive(id, attempt),
          attempt.timeoutMs,
        );
      }
      return;
    }
    attempt.trace?.end("suspended");
    this.abort(id);
    this.proposeOutcome({
      type: "suspend",
      invocationId: id,
      attemptEpoch: attempt.epoch,
      waitingCompletions: waitingOn.completionIds,
      waitingSignals: waitingOn.signalIds,
      ...(waitingOn.signalNames === undefined
        ? {}
        : {
            waitingNamedSignals: waitingOn.signalNames,
            seenJournalLength: waitingOn.seenJournalLength ?? 0,
          }),
    });
  }

  /** Appends an outcome until it is durable (3). */
  private proposeOutcome(body: RecordBody): void {
    proposeOutcome(this.options, body, () => this.stopped);
  }

  /**
   * Refuses an entry over MAX_ENTRY_BYTES before it reaches the log: this attempt can propose
   * nothing more (4), and retrying would produce the same entry, so the invocation fails for good.
   */
  private refuseLarge(id: string, attempt: Attempt, what: string, bytes: number): Error | undefined {
    if (bytes <= MAX_ENTRY_BYTES) return undefined;
    const error = new EntryTooLargeError(what, bytes);
    this.endAttempt(id, attempt, tooLarge(error));
    return error;
  }

  private async execute(id: string, attempt: Attempt): Promise<AttemptOutcome> {
    const status = this.options.store.getStatus(id);
    if (status === undefined || status.attemptEpoch !== attempt.epoch) {
      return { type: "failed", message: `invocation ${id} has no attempt ${attempt.epoch}` };
    }
    const { service, handler: name, key } = status.target;
    const handler = this.options.handlers.get(`${service}/${name}`);
    if (handler === undefined) {
      return { type: "failed", message: `no handler ${service}/${name} is registered in this process` };
    }
    const journal = this.options.store.getJournal(id);
    attempt.timeoutMs = this.options.suspendAlways === true ? 0 : handler.inactivityTimeoutMs;
    attempt.trace = startAttemptTrace({
      invocationId: id,
      attemptEpoch: attempt.epoch,
      target: status.target,
      journal,
    });
    const handle = startAttempt(attempt.trace.handler(handler), {
      invocationId: id,
      journal,
      ...(key === undefined ? {} : { key, state: eagerState(this.options.store, service, key) }),
      now: () => this.options.clock.now(),
      sleep: (ms) => new Promise((resolve) => this.options.clock.setTimeout(resolve, ms)),
      nextTurn: () => new Promise((resolve) => this.options.clock.defer(resolve)),
      console: this.options.console ?? console,
      onActivity: () => this.activity(id, attempt),
      propose: (commandIndex, entry) => {
        if (attempt.aborted) return Promise.reject(new AttemptAbortedError(id, attempt.epoch));
        const refused = this.refuseLarge(id, attempt, describeEntry(entry), entryBytes(entry));
        if (refused !== undefined) return Promise.reject(refused);
        const refusedCall = unregisteredTarget(
          entry,
          this.options.isRegistered ?? ((svc, h) => this.options.handlers.has(`${svc}/${h}`)),
        );
        if (refusedCall !== undefined) {
          logAttemptFailed(this.options.logger, this.options.store.getStatus(id), {
            invocationId: id,
            attemptEpoch: attempt.epoch,
            message: refusedCall,
            registered: true,
          });
          this.endAttempt(id, attempt, { type: "failed", message: refusedCall });
          return Promise.reject(new AttemptAbortedError(id, attempt.epoch));
        }
        return new Promise<Applied>((resolve, reject) => {
          attempt.acks.set(commandIndex, { resolve, reject });
          this.options
            .propose({ type: "entry", invocationId: id, attemptEpoch: attempt.epoch, commandIndex, entry })
            .catch((e: unknown) => this.entryAppendFailed(id, attempt, e));
        });
      },
      proposeRunCompletion: (completionId, result, name) => {
        if (attempt.aborted) return Promise.reject(new AttemptAbortedError(id, attempt.epoch));
        const refused = this.refuseLarge(id, attempt, `Run '${name}'`, resultBytes(result));
        if (refused !== undefined) return Promise.reject(refused);
        return this.options
          .propose({
            type: "run_completion",
            invocationId: id,
            attemptEpoch: attempt.epoch,
            completionId,
            result,
          })
          .then(
            () => undefined,
            (e: unknown) => {
              this.entryAppendFailed(id, attempt, e);
              throw e;
            },
          );
      },
    });
    attempt.handle = handle;
    this.activity(id, attempt);
    return handle.outcome;
  }
}
