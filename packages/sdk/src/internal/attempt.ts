/**
 * The journal state machine: runs one attempt of a handler against the journal of earlier
 * attempts (journal.ts has the model: commands with completion ids, notifications). Journaled
 * commands replay; new commands are proposed to the engine in the order the handler issued
 * them; notifications settle what waits on them, in journal order.
 *
 * Invariants:
 * 1. Commands are proposed in issue order (command k after commands 1..k-1); a step's proposed
 *    completion after its Run command. Nothing the handler awaits settles from a proposal: only
 *    notifications settle futures, so a `ctx.run` returns only once its result is durable.
 * 2. While replaying, the handler's k-th command must match the journal's k-th command by type,
 *    name/key/target and completion ids; the first difference is a JournalMismatchError that
 *    fails the attempt whatever the handler does with it.
 * 3. A non-terminal error from a step without retry options fails the attempt even if the
 *    handler catches it: no completion was proposed for that step.
 * 4. Journal events are delivered one at a time in journal order, each followed by a full drain
 *    of the handler's microtasks, on the first attempt and on every replay: a notification
 *    settles its future at its journal position, and a journaled command is not passed until
 *    the handler issued it again. So concurrent branches interleave the same way each time, and
 *    combinators see completions in the order they reached the journal. (Only results known
 *    when a command is issued, such as eagerly known state, settle at once, in both modes.)
 * 5. The cancel signal rejects, with CancelledError, every pending cancellable future (calls,
 *    sleeps, awakeables, attach, promise get; not steps, whose completion is on its way); if none
 *    is pending, the next cancellable command issued after it.
 * 6. The handler's return, terminal error or retryable error becomes exactly one outcome, and
 *    only after every command it issued was handed to the engine.
 * 7. A Run command journaled without its completion (the attempt died while the step ran) runs
 *    its step again on replay; one with its completion never does.
 * 8. The k-th `ctx.signal(name)` the handler issues waits for the k-th notification of signal
 *    `name` in the journal (counted from 1 for each name), so replays pair them the same way.
 */
import type {
  Awakeable,
  Client,
  Context,
  ContextDate,
  DurablePromise,
  GenericCall,
  GenericSend,
  InvocationHandle,
  InvocationPromise,
  InvocationReference,
  Request,
  RunAction,
  RunOptions,
  SendClient,
  SignalReference,
  WorkflowContext,
} from "./context.js";
import type { ResolvedHandler } from "./definitions.js";
import { durationMs, type Duration } from "./duration.js";
import {
  CancelledError,
  isJournalMismatchError,
  isRetryableError,
  isTerminalError,
  JournalMismatchError,
  TerminalError,
} from "./errors.js";
import {
  awakeableId,
  CANCEL_SIGNAL_ID,
  completionIdsOf,
  describeEntry,
  FIRST_AWAKEABLE_SIGNAL_ID,
  isAwakeableId,
  isNotification,
  resultOf,
  type CallTarget,
  type CommandEntry,
  type Failure,
  type JournalEntry,
  type NotificationEntry,
  type NotificationValue,
  type Result,
} from "./journal.js";
import { SeededRand } from "./rand.js";
import { DurablePromiseImpl, Future, RestatePromiseImpl, type RestatePromise } from "./restate-promise.js";
import { callOptionsOf, sendOptionsOf } from "./rpc.js";
import { serde as serdes, type Serde } from "./serde.js";

/** An acknowledged command: its position in the journal. */
export interface Applied {
  readonly position: number;
}

/** Eager state sent with the invocation. `complete` means every entry of the key is here. */
export interface EagerState {
  readonly values: ReadonlyMap<string, Uint8Array>;
  readonly complete: boolean;
}

/** What the engine gives an attempt. */
export interface AttemptIO {
  readonly invocationId: string;
  /** Entries journaled so far; entry 0 is the input. */
  readonly journal: readonly JournalEntry[];
  /** The object key or workflow id, for keyed handlers. */
  readonly key?: string;
  /** State of the key, sent eagerly (keyed handlers). */
  readonly state?: EagerState;
  /**
   * Proposes command `commandIndex`; resolves with its journal position once it is durable and
   * applied. A rejection ends the attempt (a later command would leave a gap).
   */
  propose(commandIndex: number, entry: CommandEntry): Promise<Applied>;
  /**
   * Proposes the result of the step `name` whose Run command has `completionId`; the engine appends it
   * as that command's notification and delivers it with {@link AttemptHandle.notify}. A
   * rejection ends the attempt.
   */
  proposeRunCompletion(completionId: number, result: Result, name: string): Promise<void>;
  /** Wall-clock time for `ctx.date`, sleeps and step retry deadlines. */
  now(): number;
  /** A non-durable wait, for retries of a step inside one attempt. */
  sleep(ms: number): Promise<void>;
  /** Resolves in a later turn of the event loop, after every pending microtask (default setImmediate). */
  nextTurn?(): Promise<void>;
  /** Where `ctx.console` writes when not replaying. */
  readonly console: Console;
  /** Called whenever the attempt made progress (for the inactivity timer). */
  readonly onActivity?: () => void;
  /**
   * The id of this invocation's awakeable with signal `signalId` (default: onelog's `awk_` ids).
   * A remote endpoint names them as the service protocol does (`sign_1…`, from Start's id).
   */
  readonly awakeableId?: (signalId: number) => string;
}

/** How an attempt ended. */
export type AttemptOutcome =
  | { readonly type: "end"; readonly result: Result }
  | {
      readonly type: "failed";
      readonly message: string;
      /** 570 when the journal and the handler disagree (the service protocol's code); else absent. */
      readonly code?: number;
      readonly retryAfterMs?: number;
      /** The thrown error's stack, for the engine's log (never journaled). */
      readonly stack?: string;
    };

/** What a suspended attempt waits for: any of these completions or signals resumes it. */
export interface WaitingOn {
  readonly completionIds: readonly number[];
  readonly signalIds: readonly number[];
  /** Named signals (`ctx.signal(name)`) it waits for, if any: one more of any resumes it. */
  readonly signalNames?: readonly string[];
  /**
   * With `signalNames`: the journal entries the attempt has seen (positions below this one). A
   * named signal it waits for at or after this position arrived after it looked, and resumes it.
   */
  readonly seenJournalLength?: number;
}

/** A running attempt: deliver notifications to it, ask whether it may suspend. */
export interface AttemptHandle {
  /** Settles once the handler ended (never rejects). */
  readonly outcome: Promise<AttemptOutcome>;
  /** A notification the engine applied after the journal this attempt started from. */
  notify(entry: NotificationEntry, position: number): void;
  /**
   * What this attempt waits for, when it can do nothing else (no step running, every command
   * acknowledged, nothing left to replay); undefined when it is busy or waits for nothing.
   * With `includeProposedRuns`, a step result proposed and not yet notified counts as waited
   * for rather than busy: a remote endpoint whose server closed its side suspends on it, and
   * the server journals the result and resumes the invocation with it.
   */
  waitingOn(options?: { readonly includeProposedRuns?: boolean }): WaitingOn | undefined;
}

const SILENT: Console = new Proxy(console, {
  get: (target, prop) => (typeof (target as any)[prop] === "function" ? () => {} : (target as any)[prop]),
});

/** Starts one attempt of `handler`. The outcome never rejects: every ending is an outcome. */
export function startAttempt(handler: ResolvedHandler, io: AttemptIO): AttemptHandle {
  const sm = new AttemptStateMachine(handler, io);
  return {
    outcome: sm.runHandler(),
    notify: (e, p) => sm.deliver(e, p),
    waitingOn: (options) => sm.waitingOn(options?.includeProposedRuns === true),
  };
}

/** Runs one attempt of `handler` to its outcome (no live notifications). */
export function runAttempt(handler: ResolvedHandler, io: AttemptIO): Promise<AttemptOutcome> {
  return startAttempt(handler, io).outcome;
}

function errorOutcome(e: unknown): AttemptOutcome {
  if (isTerminalError(e)) return { type: "end", result: { err: toFailure(e) } };
  const stack = e instanceof Error && e.stack !== undefined ? { stack: e.stack } : {};
  if (isJournalMismatchError(e)) return { type: "failed", message: errorMessage(e), code: 570, ...stack };
  if (isRetryableError(e) && e.retryAfter !== undefined) {
    return { type: "failed", message: errorMessage(e), retryAfterMs: durationMs(e.retryAfter), ...stack };
  }
  return { type: "failed", message: errorMessage(e), ...stack };
}

function toFailure(e: TerminalError): Failure {
  const metadata = Object.entries(e.metadata ?? {}).map(([key, value]) => ({ key, value: String(value) }));
  return metadata.length === 0
    ? { code: e.code, message: e.message }
    : { code: e.code, message: e.message, metadata };
}

function errorMessage(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return typeof code === "string" ? `${e.name} [${code}]: ${e.message}` : `${e.name}: ${e.message}`;
  }
  return String(e);
}

function failureError(f: Failure): TerminalError {
  return f.code === 409 && f.message === "Cancelled"
    ? new CancelledError()
    : new TerminalError(f.message, {
        errorCode: f.code,
        ...(f.metadata === undefined
          ? {}
          : { metadata: Object.fromEntries(f.metadata.map((m) => [m.key, m.value])) }),
      });
}

function decodeResult<T>(result: Result, serde: Serde<T>): T {
  if ("err" in result) throw failureError(result.err);
  return serde.deserialize(result.ok);
}

/** A notification's value as a handler value: a failure throws; void and ids read as empty bytes. */
function decodeValue<T>(value: NotificationValue, serde: Serde<T>): T {
  return decodeResult(resultOf(value), serde);
}

/** Whether a replayed command is the same command the handler issued now (invariant 2). */
function sameCommand(journaled: CommandEntry, issued: CommandEntry): boolean {
  if (journaled.type !== issued.type) return false;
  const ids = completionIdsOf(journaled);
  const issuedIds = completionIdsOf(issued);
  if (ids.length !== issuedIds.length || ids.some((id, i) => id !== issuedIds[i])) return false;
  switch (issued.type) {
    case "run":
    case "promise_get":
    case "promise_peek":
    case "promise_complete":
      return (journaled as { name: string }).name === issued.name;
    case "get_state":
    case "set_state":
    case "clear_state":
      return (journaled as { key: string }).key === issued.key;
    case "call":
    case "send": {
      const t = (journaled as { target: CallTarget }).target;
      return (
        t.service === issued.target.service &&
        t.handler === issued.target.handler &&
        t.key === issued.target.key
      );
    }
    case "attach":
    case "cancel_invocation":
      return (journaled as { invocationId: string }).invocationId === issued.invocationId;
    case "send_named_signal": {
      const j = journaled as { invocationId: string; name: string };
      return j.invocationId === issued.invocationId && j.name === issued.name;
    }
    case "complete_awakeable":
      return (journaled as { awakeableId: string }).awakeableId === issued.awakeableId;
    default:
      return true;
  }
}

/** A future waiting for a notification. */
interface Pending {
  readonly future: Future<unknown>;
  readonly decode: (value: NotificationValue) => unknown;
  /** Rejected by the cancel signal (invariant 5). */
  readonly cancellable: boolean;
}

/**
 * Where a future waits: a completion id, a signal id, or the k-th notification of a named
 * signal (invariant 8).
 */
type WaitKey = `c${number}` | `s${number}` | `n${number}:${string}`;

class AttemptStateMachine {
  private readonly label: string;
  private readonly journal: readonly JournalEntry[];
  /** The next journal position whose event is delivered (invariant 4). */
  private nextPosition = 1;
  /** Commands in the journal (the input included). */
  private readonly replayCommands: number;
  /** Journal position → command index, for journaled commands. */
  private readonly commandAt = new Map<number, number>();
  /** Journal position of each journaled command. */
  private readonly positionOf: number[] = [];
  /** Completion ids that have a notification in the journal this attempt started from. */
  private readonly journaledCompletions = new Set<number>();
  /** Acks of live commands, by journal position (delivered by the pump, invariant 4). */
  private readonly liveAcks = new Set<number>();
  /** Live notifications beyond the journal this attempt started from, by position. */
  private readonly liveNotifications = new Map<number, NotificationEntry>();
  private pumping = false;
  /** The index the next command gets (the input is command 0). */
  private nextCommand = 1;
  private nextCompletionId = 1;
  private nextSignalId = FIRST_AWAKEABLE_SIGNAL_ID;
  /** Per signal name: `ctx.signal(name)` calls issued, and notifications settled (invariant 8). */
  private readonly namedWaits = new Map<string, number>();
  private readonly namedArrivals = new Map<string, number>();
  /** Proposed and not yet acknowledged commands, steps running, proposed step results not yet notified. */
  private busy = 0;
  /** Step results this attempt proposed, not yet notified. */
  private readonly proposedRuns = new Set<number>();
  /** Futures waiting for a notification. */
  private readonly pending = new Map<WaitKey, Pending>();
  /** Notifications that came before anything waited on them (an awakeable resolved early). */
  private readonly unclaimed = new Map<WaitKey, { value: NotificationValue; position: number }>();
  /** Whether the cancel signal was delivered (a suspended attempt waits for it until then). */
  private cancelSeen = false;
  /** The position of a cancel signal that found nothing to reject (invariant 5). */
  private cancelAt: number | undefined;
  private fatal: AttemptOutcome | undefined;
  private fatalError: unknown;
  private readonly state: Map<string, Uint8Array | null>;
  private stateComplete: boolean;
  private readonly context: WorkflowContext;

  constructor(
    private readonly handler: ResolvedHandler,
    private readonly io: AttemptIO,
  ) {
    this.label = `handler ${handler.service}/${handler.name}`;
    this.journal = io.journal;
    let commands = 0;
    io.journal.forEach((e, position) => {
      if (isNotification(e)) {
        if (e.type === "completion") this.journaledCompletions.add(e.completionId);
        return;
      }
      this.commandAt.set(position, commands);
      this.positionOf.push(position);
      commands++;
    });
    this.replayCommands = commands;
    this.state = new Map(io.state?.values ?? []);
    this.stateComplete = io.state?.complete ?? false;
    this.context = this.buildContext();
  }

  /** True while commands are still matched against journaled entries. */
  get replaying(): boolean {
    return this.nextCommand < this.replayCommands || this.nextPosition < this.journal.length;
  }

  async runHandler(): Promise<AttemptOutcome> {
    const input = this.journal[0];
    if (input === undefined || input.type !== "input") {
      return { type: "failed", message: `invocation ${this.io.invocationId}: journal has no input entry` };
    }
    this.wake();
    let argument: unknown;
    try {
      argument = this.handler.input.deserialize(input.argument);
    } catch (e) {
      return {
        type: "end",
        result: {
          err: { code: 400, message: `cannot decode the input of ${this.label}: ${errorMessage(e)}` },
        },
      };
    }
    let outcome: AttemptOutcome;
    try {
      const value = await this.handler.fn(this.context, argument);
      outcome = this.check() ?? { type: "end", result: { ok: this.handler.output.serialize(value) } };
    } catch (e) {
      outcome = this.check() ?? errorOutcome(e);
    }
    // Invariant 6 holds by construction: commands are handed to the engine when issued.
    return outcome;
  }

  /** The outcome forced by a fatal condition, or by journaled commands the handler did not replay. */
  private check(): AttemptOutcome | undefined {
    if (this.fatal !== undefined) return this.fatal;
    if (this.nextCommand < this.replayCommands) {
      const entry = this.journal[this.positionOf[this.nextCommand]!]!;
      return this.mismatch(
        `journal mismatch at command ${this.nextCommand}: expected ${describeEntry(entry)}, but the handler returned`,
      );
    }
    return undefined;
  }

  private mismatch(what: string): AttemptOutcome {
    const error = new JournalMismatchError(
      `${this.label}: ${what} — was the handler code changed while invocations were in flight?`,
    );
    return this.fail(error);
  }

  /** Makes the attempt fail with `error` whatever the handler does, and wakes what waits. */
  private fail(error: unknown): AttemptOutcome {
    if (this.fatal === undefined) {
      this.fatal = errorOutcome(error);
      if (this.fatal.type === "end") this.fatal = { type: "failed", message: errorMessage(error) };
      this.fatalError = error;
      for (const [key, p] of this.pending) {
        this.pending.delete(key);
        p.future.reject(error, Number.MAX_SAFE_INTEGER);
      }
    }
    return this.fatal;
  }

  private throwIfFatal(): void {
    if (this.fatal !== undefined) throw this.fatalError;
  }

  /** A live notification, appended at `position` after the journal this attempt started from. */
  deliver(entry: NotificationEntry, position: number): void {
    this.io.onActivity?.();
    if (position < this.journal.length) return; // already in the journal this attempt started from
    this.liveNotifications.set(position, entry);
    this.wake();
  }

  /** The event at a journal position, if it can be delivered now. */
  private eventAt(position: number): { notification?: NotificationEntry } | undefined {
    if (position < this.journal.length) {
      const e = this.journal[position]!;
      if (isNotification(e)) return { notification: e };
      // A journaled command is passed once the handler issued it again (invariant 4).
      return this.commandAt.get(position)! < this.nextCommand ? {} : undefined;
    }
    if (this.liveAcks.has(position)) return {};
    const notification = this.liveNotifications.get(position);
    return notification === undefined ? undefined : { notification };
  }

  private wake(): void {
    if (this.pumping) return;
    this.pumping = true;
    void this.pump();
  }

  /**
   * Delivers events in position order, each preceded by a drain of the handler's microtasks
   * (invariant 4): as live, where an event always arrives in a later turn, the handler has run
   * up to its next await before an event reaches it — also on replay, and for the first event.
   */
  private async pump(): Promise<void> {
    for (;;) {
      if (this.eventAt(this.nextPosition) === undefined) break;
      await (this.io.nextTurn?.() ?? new Promise<void>((resolve) => setImmediate(resolve)));
      const position = this.nextPosition;
      const ev = this.eventAt(position);
      if (ev === undefined) break;
      this.nextPosition++;
      if (this.liveAcks.delete(position)) this.busy--;
      this.liveNotifications.delete(position);
      if (ev.notification !== undefined) this.settleNotification(ev.notification, position);
    }
    this.pumping = false;
    if (this.eventAt(this.nextPosition) !== undefined) this.wake();
    else this.io.onActivity?.();
  }

  /** Settles what a notification completes. */
  private settleNotification(entry: NotificationEntry, position: number): void {
    if (entry.type === "signal" && entry.signalId === CANCEL_SIGNAL_ID) {
      this.cancelSeen = true;
      return this.cancelled(position);
    }
    let key: WaitKey;
    if (entry.type === "named_signal") {
      const k = (this.namedArrivals.get(entry.name) ?? 0) + 1;
      this.namedArrivals.set(entry.name, k);
      key = `n${k}:${entry.name}`;
    } else key = entry.type === "signal" ? `s${entry.signalId}` : `c${entry.completionId}`;
    if (entry.type === "completion" && this.proposedRuns.delete(entry.completionId)) this.busy--;
    const p = this.pending.get(key);
    if (p === undefined) {
      if (!this.unclaimed.has(key)) this.unclaimed.set(key, { value: entry.value, position });
      return;
    }
    this.pending.delete(key);
    this.settle(p, entry.value, position);
  }

  private settle(p: Pending, value: NotificationValue, position: number): void {
    try {
      p.future.resolve(p.decode(value), position);
    } catch (e) {
      p.future.reject(e, position);
    }
  }

  /** Invariant 5. */
  private cancelled(position: number): void {
    let rejected = 0;
    for (const [key, p] of this.pending) {
      if (!p.cancellable) continue;
      this.pending.delete(key);
      p.future.reject(new CancelledError(), position);
      rejected++;
    }
    if (rejected === 0) this.cancelAt = position;
  }

  /** Registers a future waiting on a completion or signal; settles it at once if that already came. */
  private wait<T>(key: WaitKey, decode: (v: NotificationValue) => T, cancellable: boolean): Future<T> {
    const future = new Future<T>();
    const p: Pending = { future: future as Future<unknown>, decode, cancellable };
    const early = this.unclaimed.get(key);
    if (early !== undefined) {
      this.unclaimed.delete(key);
      this.settle(p, early.value, early.position);
    } else if (cancellable && this.cancelAt !== undefined) {
      future.reject(new CancelledError(), this.cancelAt);
      this.cancelAt = undefined;
    } else {
      this.pending.set(key, p);
    }
    return future;
  }

  waitingOn(includeProposedRuns: boolean): WaitingOn | undefined {
    const busy = includeProposedRuns ? this.busy - this.proposedRuns.size : this.busy;
    if (this.fatal !== undefined || busy > 0 || this.replaying || this.pumping) return undefined;
    const completionIds: number[] = [];
    const signalIds: number[] = [];
    const signalNames = new Set<string>();
    for (const key of this.pending.keys()) {
      if (key.startsWith("n")) signalNames.add(key.slice(key.indexOf(":") + 1));
      else if (key.startsWith("c")) completionIds.push(Number(key.slice(1)));
      else signalIds.push(Number(key.slice(1)));
    }
    if (completionIds.length + signalIds.length + signalNames.size === 0) return undefined;
    // The cancel signal always resumes a suspended invocation, unless this attempt already saw it.
    if (!this.cancelSeen) signalIds.push(CANCEL_SIGNAL_ID);
    if (signalNames.size === 0) return { completionIds, signalIds };
    return { completionIds, signalIds, signalNames: [...signalNames], seenJournalLength: this.nextPosition };
  }

  /** The journaled command the next issued command replays, if any. */
  private replayed(): CommandEntry | undefined {
    return this.nextCommand < this.replayCommands
      ? (this.journal[this.positionOf[this.nextCommand]!] as CommandEntry)
      : undefined;
  }

  /**
   * Issues a command: in replay it is matched with the journal (invariant 2); live it is
   * proposed at once, in issue order (invariant 1). Returns whether it was replayed.
   */
  private issue(entry: CommandEntry): boolean {
    this.throwIfFatal();
    const index = this.nextCommand++;
    if (index < this.replayCommands) {
      const journaled = this.journal[this.positionOf[index]!] as CommandEntry;
      if (!sameCommand(journaled, entry)) {
        this.mismatch(
          `journal mismatch at command ${index}: expected ${describeEntry(journaled)}, got ${describeEntry(entry)}`,
        );
        this.throwIfFatal();
      }
      this.wake();
      return true;
    }
    this.io.onActivity?.();
    this.busy++;
    this.io.propose(index, entry).then(
      (a) => {
        this.io.onActivity?.();
        this.liveAcks.add(a.position);
        this.wake();
      },
      (e: unknown) => {
        this.busy--;
        this.fail(e);
      },
    );
    return false;
  }

  private completionId(): number {
    return this.nextCompletionId++;
  }

  private promise<T>(future: Future<T>): RestatePromiseImpl<T> {
    return new RestatePromiseImpl(future, (ms) => this.sleep(ms));
  }

  // ---- commands -------------------------------------------------------------------------

  run<T>(name: string, action: RunAction<T>, options: RunOptions<T> | undefined): RestatePromise<T> {
    const serde = (options?.serde ?? serdes.json) as Serde<T>;
    const completionId = this.completionId();
    const replayed = this.issue({ type: "run", name, completionId });
    const out = this.wait(`c${completionId}`, (v) => decodeValue(v, serde), false);
    // Invariant 7: a step without a journaled result runs (again).
    if (!replayed || !this.journaledCompletions.has(completionId)) {
      this.busy++;
      void this.execute(name, action, serde, options).then(
        (result) => {
          if (this.fatal !== undefined) return void this.busy--;
          this.proposedRuns.add(completionId); // busy until notified
          this.io.proposeRunCompletion(completionId, result, name).catch((e: unknown) => {
            if (this.proposedRuns.delete(completionId)) this.busy--;
            this.fail(e);
          });
        },
        (e: unknown) => {
          this.busy--;
          out.reject(e, Number.MAX_SAFE_INTEGER);
        },
      );
    }
    return this.promise(out);
  }

  private async execute<T>(
    name: string,
    action: RunAction<T>,
    serde: Serde<T>,
    options: RunOptions<T> | undefined,
  ): Promise<Result> {
    const retries =
      options !== undefined &&
      (options.maxRetryAttempts !== undefined || options.maxRetryDuration !== undefined);
    const start = this.io.now();
    let intervalMs =
      options?.initialRetryInterval === undefined ? 50 : durationMs(options.initialRetryInterval);
    const maxIntervalMs =
      options?.maxRetryInterval === undefined ? 10_000 : durationMs(options.maxRetryInterval);
    const factor = options?.retryIntervalFactor ?? 2;
    for (let attempt = 1; ; attempt++) {
      try {
        return { ok: serde.serialize(await action()) };
      } catch (e) {
        if (isTerminalError(e)) return { err: toFailure(e) };
        if (!retries) {
          // Invariant 3: the attempt fails even if the handler catches this, or awaits
          // something else (what it awaits is rejected too).
          this.fail(e);
          throw e;
        }
        const elapsed = this.io.now() - start;
        const outOfAttempts = options.maxRetryAttempts !== undefined && attempt >= options.maxRetryAttempts;
        const outOfTime =
          options.maxRetryDuration !== undefined &&
          elapsed + intervalMs > durationMs(options.maxRetryDuration);
        if (outOfAttempts || outOfTime) {
          // As in Restate: the TerminalError the handler catches carries the step's own message.
          return { err: { code: 500, message: e instanceof Error ? e.message : String(e) } };
        }
        await this.io.sleep(intervalMs);
        intervalMs = Math.min(intervalMs * factor, maxIntervalMs);
      }
    }
  }

  sleep(ms: number): RestatePromise<void> {
    const completionId = this.completionId();
    this.issue({ type: "sleep", wakeUpAt: this.io.now() + ms, completionId });
    return this.promise(this.wait(`c${completionId}`, () => undefined, true));
  }

  call<T>(
    target: CallTarget,
    parameter: Uint8Array,
    output: Serde<T>,
    opts: {
      headers?: Readonly<Record<string, string>>;
      idempotencyKey?: string;
      workflow?: boolean;
    },
  ): InvocationPromise<T> {
    const invocationIdCompletionId = this.completionId();
    const resultCompletionId = this.completionId();
    this.issue({
      type: "call",
      target,
      argument: parameter,
      headers: opts.headers ?? {},
      ...(opts.workflow === true ? { workflow: true } : {}),
      ...(opts.idempotencyKey === undefined ? {} : { idempotencyKey: opts.idempotencyKey }),
      invocationIdCompletionId,
      resultCompletionId,
    });
    const invocationId = this.wait(`c${invocationIdCompletionId}`, invocationIdOf, false).promise;
    const result = this.wait(`c${resultCompletionId}`, (v) => decodeValue(v, output), true);
    const p = this.promise(result) as RestatePromiseImpl<T> & { invocationId: Promise<string> };
    p.invocationId = invocationId;
    return p;
  }

  send(
    target: CallTarget,
    parameter: Uint8Array,
    opts: {
      headers?: Readonly<Record<string, string>>;
      idempotencyKey?: string;
      delay?: Duration;
      workflow?: boolean;
    },
  ): InvocationHandle {
    const delayMs = opts.delay === undefined ? 0 : durationMs(opts.delay);
    const invocationIdCompletionId = this.completionId();
    this.issue({
      type: "send",
      target,
      argument: parameter,
      headers: opts.headers ?? {},
      ...(opts.workflow === true ? { workflow: true } : {}),
      ...(opts.idempotencyKey === undefined ? {} : { idempotencyKey: opts.idempotencyKey }),
      ...(delayMs > 0 ? { delayMs } : {}),
      invocationIdCompletionId,
    });
    return { invocationId: this.wait(`c${invocationIdCompletionId}`, invocationIdOf, false).promise };
  }

  getState<T>(key: string, serde: Serde<T>): Promise<T | null> {
    const decode = (v: Uint8Array | null | undefined) =>
      v === null || v === undefined ? null : serde.deserialize(v);
    // A replay reads what the journal says, not today's state.
    const journaled = this.replayed();
    const known =
      journaled?.type === "get_state"
        ? journaled.value !== undefined
        : this.state.has(key) || this.stateComplete;
    if (known) {
      const value =
        journaled?.type === "get_state" && journaled.value !== undefined
          ? journaled.value
          : (this.state.get(key) ?? null);
      this.issue({ type: "get_state", key, value });
      return Promise.resolve(decode(value));
    }
    const completionId = this.completionId();
    this.issue({ type: "get_state", key, completionId });
    return this.wait(
      `c${completionId}`,
      (v) => {
        const value = "ok" in v ? v.ok : null;
        if (!this.state.has(key)) this.state.set(key, value);
        return decode(value);
      },
      false,
    ).promise;
  }

  stateKeys(): Promise<string[]> {
    const journaled = this.replayed();
    if (journaled?.type === "get_state_keys" ? journaled.keys !== undefined : this.stateComplete) {
      const keys =
        journaled?.type === "get_state_keys" && journaled.keys !== undefined
          ? [...journaled.keys]
          : [...this.state]
              .filter(([, v]) => v !== null)
              .map(([k]) => k)
              .sort();
      this.issue({ type: "get_state_keys", keys });
      return Promise.resolve(keys);
    }
    const completionId = this.completionId();
    this.issue({ type: "get_state_keys", completionId });
    return this.wait(`c${completionId}`, (v) => ("stateKeys" in v ? [...v.stateKeys] : []), false).promise;
  }

  setState<T>(key: string, value: T, serde: Serde<T>): void {
    const bytes = serde.serialize(value);
    this.state.set(key, bytes);
    this.issue({ type: "set_state", key, value: bytes });
  }

  clearState(key: string): void {
    this.state.set(key, null);
    this.issue({ type: "clear_state", key });
  }

  clearAllState(): void {
    this.state.clear();
    this.stateComplete = true;
    this.issue({ type: "clear_all_state" });
  }

  awakeable<T>(serde: Serde<T>): Awakeable<T> {
    this.throwIfFatal();
    const signalId = this.nextSignalId++;
    return {
      id: this.io.awakeableId?.(signalId) ?? awakeableId(this.io.invocationId, signalId),
      promise: this.promise(this.wait(`s${signalId}`, (v) => decodeValue(v, serde), true)),
    };
  }

  completeAwakeable(id: string, result: Result): void {
    if (!isAwakeableId(id)) {
      throw new TerminalError(`${JSON.stringify(id)} is not an awakeable id`, { errorCode: 400 });
    }
    this.issue({ type: "complete_awakeable", awakeableId: id, result });
  }

  attach<T>(invocationId: string, serde: Serde<T>): RestatePromise<T> {
    const completionId = this.completionId();
    this.issue({ type: "attach", invocationId, completionId });
    return this.promise(this.wait(`c${completionId}`, (v) => decodeValue(v, serde), true));
  }

  cancel(invocationId: string): void {
    this.issue({ type: "cancel_invocation", invocationId });
  }

  /** `ctx.signal(name)`: the next notification of signal `name` this attempt has not paired yet (invariant 8). */
  signal<T>(name: string, serde: Serde<T>): RestatePromise<T> {
    this.throwIfFatal();
    const k = (this.namedWaits.get(name) ?? 0) + 1;
    this.namedWaits.set(name, k);
    return this.promise(this.wait(`n${k}:${name}`, (v) => decodeValue(v, serde), true));
  }

  invocation(invocationId: string): InvocationReference {
    return {
      signal: <T>(name: string, serde?: Serde<T>): SignalReference<T> => ({
        resolve: (payload?: T) => {
          this.issue({
            type: "send_named_signal",
            invocationId,
            name,
            value: { ok: ((serde ?? serdes.json) as Serde<T>).serialize(payload as T) },
          });
        },
        reject: (reason: string | TerminalError) => {
          this.issue({
            type: "send_named_signal",
            invocationId,
            name,
            value: {
              err: isTerminalError(reason) ? toFailure(reason) : { code: 500, message: String(reason) },
            },
          });
        },
      }),
      cancel: () => this.cancel(invocationId),
      attach: <T>(serde?: Serde<T>) => this.attach(invocationId, (serde ?? serdes.json) as Serde<T>),
    };
  }

  durablePromise<T>(name: string, serde: Serde<T>): DurablePromise<T> {
    let got: RestatePromise<T> | undefined;
    const get = (): RestatePromise<T> => {
      if (got === undefined) {
        const completionId = this.completionId();
        this.issue({ type: "promise_get", name, completionId });
        got = this.promise(this.wait(`c${completionId}`, (v) => decodeValue(v, serde), true));
      }
      return got;
    };
    const complete = (result: Result): Promise<void> => {
      const completionId = this.completionId();
      this.issue({ type: "promise_complete", name, result, completionId });
      return this.wait(
        `c${completionId}`,
        (v) => {
          if ("err" in v) throw failureError(v.err);
        },
        false,
      ).promise;
    };
    const peek = (): Promise<T | undefined> => {
      const completionId = this.completionId();
      this.issue({ type: "promise_peek", name, completionId });
      return this.wait(`c${completionId}`, (v) => ("void" in v ? undefined : decodeValue(v, serde)), false)
        .promise;
    };
    return new DurablePromiseImpl<T>({
      get,
      peek,
      resolve: (value?: T) => complete({ ok: serde.serialize(value as T) }),
      reject: (message: string) => complete({ err: { code: 500, message } }),
    });
  }

  // ---- the context object ---------------------------------------------------------------

  private buildContext(): WorkflowContext {
    const io = this.io;
    const headers = (this.journal[0] as { headers?: Record<string, string> } | undefined)?.headers ?? {};
    const h = this.handler;
    const request: Request = {
      target: {
        service: h.service,
        handler: h.name,
        ...(io.key === undefined ? {} : { key: io.key }),
        toString: () =>
          io.key === undefined ? `${h.service}/${h.name}` : `${h.service}/${io.key}/${h.name}`,
      },
      id: io.invocationId,
      headers: new Map(Object.entries(headers)),
      attemptHeaders: new Map(Object.entries(headers)),
      body: (this.journal[0] as { argument?: Uint8Array } | undefined)?.argument ?? new Uint8Array(0),
      extraArgs: [],
    };
    const date: ContextDate = {
      now: () => Promise.resolve(this.run("Date.now", () => io.now(), undefined)),
      toJSON: () => Promise.resolve(this.run("Date.toJSON", () => new Date(io.now()).toJSON(), undefined)),
    };
    const keyed = this.handler.serviceKind !== "service";
    const writable = this.handler.kind === "exclusive" || this.handler.kind === "workflow";
    const isWorkflow = this.handler.serviceKind === "workflow";
    const isReplaying = () => this.replaying;
    const refuse = (what: string) => () => {
      throw new TerminalError(
        `${this.label}: ${what} is not allowed here (${this.handler.kind === "shared" ? "shared handlers read state only" : "services have no state"})`,
      );
    };
    const client = (service: string, key: string | undefined, workflow = false): any =>
      new Proxy(
        {},
        {
          get: (_t, method) => {
            // Not a thenable: `return ctx.serviceClient(x)` must not be awaited as a call to `then`.
            if (typeof method !== "string" || method === "then") return undefined;
            return (...args: unknown[]) => {
              const [input, opts] = inputAndOptions(args);
              const o = callOptionsOf(opts) ?? {};
              const inSerde = (o.input ?? serdes.json) as Serde<unknown>;
              const outSerde = (o.output ?? serdes.json) as Serde<unknown>;
              return this.call(
                { service, handler: method, ...(key === undefined ? {} : { key }) },
                inSerde.serialize(input),
                outSerde,
                {
                  workflow,
                  ...(o.headers === undefined ? {} : { headers: o.headers }),
                  ...(o.idempotencyKey === undefined ? {} : { idempotencyKey: o.idempotencyKey }),
                },
              );
            };
          },
        },
      );
    const sendClient = (service: string, key: string | undefined, defaults: unknown, workflow = false): any =>
      new Proxy(
        {},
        {
          get: (_t, method) => {
            if (typeof method !== "string" || method === "then") return undefined;
            return (...args: unknown[]) => {
              const [input, opts] = inputAndOptions(args);
              const o = { ...sendOptionsOf(defaults), ...sendOptionsOf(opts) };
              const inSerde = (o.input ?? serdes.json) as Serde<unknown>;
              return this.send(
                { service, handler: method, ...(key === undefined ? {} : { key }) },
                inSerde.serialize(input),
                {
                  workflow,
                  ...(o.headers === undefined ? {} : { headers: o.headers }),
                  ...(o.idempotencyKey === undefined ? {} : { idempotencyKey: o.idempotencyKey }),
                  ...(o.delay === undefined ? {} : { delay: o.delay }),
                },
              );
            };
          },
        },
      );
    const ctx: Context & Record<string, unknown> = {
      run: (
        nameOrAction: string | RunAction<unknown>,
        action?: RunAction<unknown>,
        options?: RunOptions<unknown>,
      ) => {
        if (typeof nameOrAction === "function") return this.run("", nameOrAction, undefined);
        if (action === undefined) throw new TypeError("ctx.run needs an action");
        return this.run(nameOrAction, action, options);
      },
      sleep: (duration: Duration) => this.sleep(durationMs(duration)),
      rand: new SeededRand(io.invocationId),
      date,
      get console() {
        return isReplaying() ? SILENT : io.console;
      },
      request: () => request,
      serviceClient: (d: { name: string }) => client(d.name, undefined),
      objectClient: (d: { name: string }, key: string) => client(d.name, key),
      workflowClient: (d: { name: string }, id: string) => client(d.name, id, true),
      serviceSendClient: (d: { name: string }, opts?: unknown) => sendClient(d.name, undefined, opts),
      objectSendClient: (d: { name: string }, key: string, opts?: unknown) => sendClient(d.name, key, opts),
      workflowSendClient: (d: { name: string }, id: string, opts?: unknown) =>
        sendClient(d.name, id, opts, true),
      genericCall: <REQ, RES>(c: GenericCall<REQ, RES>) => {
        const inSerde = (c.inputSerde ?? serdes.binary) as Serde<REQ>;
        const outSerde = (c.outputSerde ?? serdes.binary) as Serde<RES>;
        return this.call(
          { service: c.service, handler: c.method, ...(c.key === undefined ? {} : { key: c.key }) },
          inSerde.serialize(c.parameter),
          outSerde,
          {
            ...(c.headers === undefined ? {} : { headers: c.headers }),
            ...(c.idempotencyKey === undefined ? {} : { idempotencyKey: c.idempotencyKey }),
          },
        );
      },
      genericSend: <REQ>(c: GenericSend<REQ>) => {
        const inSerde = (c.inputSerde ?? serdes.binary) as Serde<REQ>;
        return this.send(
          { service: c.service, handler: c.method, ...(c.key === undefined ? {} : { key: c.key }) },
          inSerde.serialize(c.parameter),
          {
            ...(c.headers === undefined ? {} : { headers: c.headers }),
            ...(c.idempotencyKey === undefined ? {} : { idempotencyKey: c.idempotencyKey }),
            ...(c.delay === undefined ? {} : { delay: c.delay }),
          },
        );
      },
      awakeable: <T>(serde?: Serde<T>) => this.awakeable((serde ?? serdes.json) as Serde<T>),
      resolveAwakeable: <T>(id: string, payload?: T, serde?: Serde<T>) =>
        this.completeAwakeable(id, { ok: ((serde ?? serdes.json) as Serde<T>).serialize(payload as T) }),
      rejectAwakeable: (id: string, reason: string) =>
        this.completeAwakeable(id, { err: { code: 500, message: reason } }),
      attach: <T>(invocationId: string, serde?: Serde<T>) =>
        this.attach(invocationId, (serde ?? serdes.json) as Serde<T>),
      cancel: (invocationId: string) => this.cancel(invocationId),
      signal: <T>(name: string, serde?: Serde<T>) => this.signal(name, (serde ?? serdes.json) as Serde<T>),
      invocation: (invocationId: string) => this.invocation(invocationId),
    };
    if (keyed) {
      ctx.key = io.key ?? "";
      ctx.get = <T>(name: string, serde?: Serde<T>) =>
        this.getState(name, (serde ?? serdes.json) as Serde<T>);
      ctx.stateKeys = () => this.stateKeys();
      ctx.set = writable
        ? <T>(name: string, value: T, serde?: Serde<T>) =>
            this.setState(name, value, (serde ?? serdes.json) as Serde<T>)
        : refuse("ctx.set");
      ctx.clear = writable ? (name: string) => this.clearState(name) : refuse("ctx.clear");
      ctx.clearAll = writable ? () => this.clearAllState() : refuse("ctx.clearAll");
    }
    if (isWorkflow) {
      ctx.promise = <T>(name: string, serde?: Serde<T>) =>
        this.durablePromise(name, (serde ?? serdes.json) as Serde<T>);
    }
    return ctx as unknown as WorkflowContext;
  }
}

/**
 * A client method's arguments as (input, options). A lone `rpc.opts(…)` / `rpc.sendOpts(…)` is
 * the options of a handler without input, not its input: taking it as the input would drop a
 * delay or an idempotency key without a word (a delayed self-send would fire at once and loop).
 */
function inputAndOptions(args: readonly unknown[]): [unknown, unknown] {
  const [first, second] = args;
  if (args.length === 1 && isRpcOptions(first)) return [undefined, first];
  return [first, second];
}

/** A lone `rpc.opts(…)` or `rpc.sendOpts(…)`. */
export function isRpcOptions(x: unknown): boolean {
  return callOptionsOf(x) !== undefined || sendOptionsOf(x) !== undefined;
}

/** The callee's id in an invocation-id notification. */
function invocationIdOf(v: NotificationValue): string {
  if ("invocationId" in v) return v.invocationId;
  if ("err" in v) throw failureError(v.err);
  throw new TypeError("expected an invocation id notification");
}

export type { Client, SendClient };
