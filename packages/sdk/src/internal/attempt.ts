/**
 * The journal state machine: runs one attempt of a handler against the journal of earlier
 * attempts. Journaled commands replay (their recorded results come back without running
 * again); new commands are proposed to the engine in the order the handler issued them;
 * notifications (completions, cancellation) are delivered in journal order.
 *
 * Invariants:
 * 1. Command k is proposed only after commands 1..k-1 were (the engine appends in order);
 *    `ctx.run` resolves only after its entry is acknowledged, i.e. durable and applied.
 * 2. While replaying, the handler's k-th command must match the journal's k-th command by type
 *    and name/key/target; the first difference is a JournalMismatchError that fails the attempt
 *    whatever the handler does with it.
 * 3. A non-terminal error from a step without retry options fails the attempt even if the
 *    handler catches it: nothing was journaled for that command.
 * 4. Journal events (acknowledgements of commands, notifications) are delivered one at a time in
 *    journal order, each followed by a full drain of the handler's microtasks, on the first
 *    attempt and on every replay; every future settles at the journal position of the entry
 *    that settled it. So concurrent branches of a handler interleave the same way each time.
 *    (Only results known when a command is issued, such as eagerly known state, settle at once,
 *    in both modes.)
 * 5. A cancellation rejects, with CancelledError, the pending futures of commands applied
 *    before it; if there are none, the next completable command applied after it.
 * 6. The handler's return, terminal error or retryable error becomes exactly one outcome, and
 *    only after every command it issued was handed to the engine.
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
  Request,
  RunAction,
  RunOptions,
  SendClient,
  WorkflowContext,
} from "./context.js";
import type { ResolvedHandler } from "./definitions.js";
import { durationMs, type Duration } from "./duration.js";
import {
  CancelledError,
  isRetryableError,
  isTerminalError,
  JournalMismatchError,
  TerminalError,
} from "./errors.js";
import {
  awakeableId,
  parseAwakeableId,
  describeEntry,
  isNotification,
  type CallTarget,
  type CommandEntry,
  type Failure,
  type JournalEntry,
  type NotificationEntry,
  type Result,
} from "./journal.js";
import { SeededRand } from "./rand.js";
import { Future, RestatePromiseImpl, type RestatePromise } from "./restate-promise.js";
import { callOptionsOf, sendOptionsOf } from "./rpc.js";
import { serde as serdes, type Serde } from "./serde.js";

/** An acknowledged command: the entry as applied (with what apply filled in) and its journal index. */
export interface Applied {
  readonly entry: CommandEntry;
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
  /** Proposes command `commandIndex`; resolves once it is durable and applied. */
  propose(commandIndex: number, entry: CommandEntry): Promise<Applied>;
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
}

/** How an attempt ended. */
export type AttemptOutcome =
  | { readonly type: "end"; readonly result: Result }
  | { readonly type: "failed"; readonly message: string; readonly retryAfterMs?: number };

/** A running attempt: deliver notifications to it, ask whether it may suspend. */
export interface AttemptHandle {
  /** Settles once the handler ended (never rejects). */
  readonly outcome: Promise<AttemptOutcome>;
  /** A notification the engine applied after the journal this attempt started from. */
  notify(entry: NotificationEntry, position: number): void;
  /**
   * The commands this attempt waits for, when it can do nothing else (no step running, every
   * command acknowledged); undefined when it is busy or waits for nothing.
   */
  waitingOn(): number[] | undefined;
}

const SILENT: Console = new Proxy(console, {
  get: (target, prop) => (typeof (target as any)[prop] === "function" ? () => {} : (target as any)[prop]),
});

/** Starts one attempt of `handler`. The outcome never rejects: every ending is an outcome. */
export function startAttempt(handler: ResolvedHandler, io: AttemptIO): AttemptHandle {
  const sm = new AttemptStateMachine(handler, io);
  return {
    outcome: sm.runHandler(),
    notify: (e, p) => sm.deliver(e, p, true),
    waitingOn: () => sm.waitingOn(),
  };
}

/** Runs one attempt of `handler` to its outcome (no live notifications). */
export function runAttempt(handler: ResolvedHandler, io: AttemptIO): Promise<AttemptOutcome> {
  return startAttempt(handler, io).outcome;
}

function errorOutcome(e: unknown): AttemptOutcome {
  if (isTerminalError(e)) return { type: "end", result: { err: toFailure(e) } };
  if (isRetryableError(e) && e.retryAfter !== undefined) {
    return { type: "failed", message: errorMessage(e), retryAfterMs: durationMs(e.retryAfter) };
  }
  return { type: "failed", message: errorMessage(e) };
}

function toFailure(e: TerminalError): Failure {
  return { code: e.code, message: e.message };
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
    : new TerminalError(f.message, { errorCode: f.code });
}

function decodeResult<T>(result: Result, serde: Serde<T>): T {
  if ("err" in result) throw failureError(result.err);
  return serde.deserialize(result.ok);
}

/** Whether a replayed command is the same command the handler issued now (invariant 2). */
function sameCommand(journaled: CommandEntry, issued: CommandEntry): boolean {
  if (journaled.type !== issued.type) return false;
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
    case "complete_awakeable":
      return (journaled as { awakeableId: string }).awakeableId === issued.awakeableId;
    default:
      return true;
  }
}

interface Pending {
  readonly future: Future<unknown>;
  readonly decode: (r: Result) => unknown;
}

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
  /** Issued commands whose acknowledgement has not been delivered, by command index. */
  private readonly issued = new Map<number, { applied: Future<Applied>; live: boolean }>();
  /** Live events beyond the journal this attempt started from, by position. */
  private readonly live = new Map<
    number,
    { kind: "ack"; commandIndex: number; entry: CommandEntry } | { kind: "notify"; entry: NotificationEntry }
  >();
  private pumping = false;
  /** The index the next command gets (the input is command 0). */
  private nextCommand = 1;
  /** Commands issued but not yet handed to the engine, by index (invariant 1). */
  private readonly queued = new Map<number, { entry: CommandEntry; applied: Future<Applied> } | "wait">();
  private nextToPropose: number;
  /** Proposed and not yet acknowledged, plus steps running. */
  private busy = 0;
  /** Completable commands whose notification has not come. */
  private readonly pending = new Map<number, Pending>();
  private readonly applied = new Set<number>();
  private cancelPending = false;
  private fatal: AttemptOutcome | undefined;
  private fatalError: unknown;
  private readonly state: Map<string, Uint8Array | null>;
  private stateComplete: boolean;
  private flushedWaiters: (() => void)[] = [];
  private readonly context: WorkflowContext;

  constructor(
    private readonly handler: ResolvedHandler,
    private readonly io: AttemptIO,
  ) {
    this.label = `handler ${handler.service}/${handler.name}`;
    this.journal = io.journal;
    let commands = 0;
    io.journal.forEach((e, position) => {
      if (isNotification(e)) return;
      this.commandAt.set(position, commands);
      this.positionOf.push(position);
      commands++;
    });
    this.replayCommands = commands;
    this.nextToPropose = commands;
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
    if (outcome.type === "end") await this.flushed(); // 6
    return outcome;
  }

  /** The outcome forced by a fatal condition, or by journaled commands the handler did not replay. */
  private check(): AttemptOutcome | undefined {
    if (this.fatal !== undefined) return this.fatal;
    if (this.nextCommand < this.replayCommands) {
      let k = 0;
      const entry = this.journal.find((e) => !isNotification(e) && k++ === this.nextCommand)!;
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
    if (this.fatal === undefined) {
      this.fatal = { type: "failed", message: errorMessage(error) };
      this.fatalError = error;
    }
    return this.fatal;
  }

  private throwIfFatal(): void {
    if (this.fatal !== undefined) throw this.fatalError;
  }

  /** A live event: a command acknowledged at `position`, or a notification appended there. */
  deliver(entry: NotificationEntry, position: number, live: boolean): void {
    if (!live) return this.settleNotification(entry, position);
    this.io.onActivity?.();
    if (position < this.journal.length) return; // already in the journal this attempt started from
    this.live.set(position, { kind: "notify", entry });
    this.wake();
  }

  /** The event at a journal position, if it can be delivered now. */
  private eventAt(
    position: number,
  ):
    | { kind: "ack"; commandIndex: number; entry: CommandEntry }
    | { kind: "notify"; entry: NotificationEntry }
    | undefined {
    if (position < this.journal.length) {
      const e = this.journal[position]!;
      if (isNotification(e)) return { kind: "notify", entry: e };
      const commandIndex = this.commandAt.get(position)!;
      // A journaled command is delivered once the handler issued it again.
      return this.issued.has(commandIndex) ? { kind: "ack", commandIndex, entry: e } : undefined;
    }
    return this.live.get(position);
  }

  private wake(): void {
    if (this.pumping) return;
    this.pumping = true;
    void this.pump();
  }

  /** Delivers events in position order, each followed by a drain of microtasks (invariant 4). */
  private async pump(): Promise<void> {
    for (;;) {
      const position = this.nextPosition;
      const ev = this.eventAt(position);
      if (ev === undefined) break;
      this.nextPosition++;
      this.live.delete(position);
      if (ev.kind === "notify") {
        this.settleNotification(ev.entry, position);
      } else {
        const i = this.issued.get(ev.commandIndex)!;
        this.issued.delete(ev.commandIndex);
        if (i.live) this.busy--;
        this.markApplied(ev.commandIndex, position);
        i.applied.resolve({ entry: ev.entry, position }, position);
      }
      await (this.io.nextTurn?.() ?? new Promise<void>((resolve) => setImmediate(resolve)));
    }
    this.pumping = false;
    if (this.eventAt(this.nextPosition) !== undefined) this.wake();
    else this.io.onActivity?.();
  }

  /** Settles what a notification completes. */
  private settleNotification(entry: NotificationEntry, position: number): void {
    if (entry.type === "cancel_signal") {
      // Invariant 5.
      let rejected = 0;
      for (const [idx, p] of this.pending) {
        if (this.applied.has(idx) && p.future.settled === undefined) {
          p.future.reject(new CancelledError(), position);
          this.pending.delete(idx);
          rejected++;
        }
      }
      if (rejected === 0) this.cancelPending = true;
      return;
    }
    const p = this.pending.get(entry.commandIndex);
    if (p === undefined) return;
    this.pending.delete(entry.commandIndex);
    try {
      p.future.resolve(p.decode(entry.result), position);
    } catch (e) {
      p.future.reject(e, position);
    }
  }

  private markApplied(index: number, position: number): void {
    this.applied.add(index);
    const p = this.pending.get(index);
    if (this.cancelPending && p !== undefined) {
      this.cancelPending = false;
      this.pending.delete(index);
      p.future.reject(new CancelledError(), position);
    }
  }

  waitingOn(): number[] | undefined {
    if (this.fatal !== undefined || this.busy > 0 || this.replaying || this.queued.size > 0 || this.pumping) {
      return undefined;
    }
    const out: number[] = [];
    for (const [idx, p] of this.pending)
      if (this.applied.has(idx) && p.future.settled === undefined) out.push(idx);
    return out.length === 0 ? undefined : out;
  }

  /**
   * Issues a command. In replay it is matched with the journal and settled from it; live it is
   * queued and proposed in order. `ready` false means the entry comes later (a running step).
   */
  private issue(
    entry: CommandEntry | undefined,
    completable?: (r: Result) => unknown,
  ): {
    index: number;
    applied: Future<Applied>;
    completion: Future<unknown> | undefined;
    replayed: boolean;
  } {
    this.throwIfFatal();
    const index = this.nextCommand++;
    const applied = new Future<Applied>();
    let completion: Future<unknown> | undefined;
    if (completable !== undefined) {
      completion = new Future<unknown>();
      this.pending.set(index, { future: completion, decode: completable });
    }
    if (index < this.replayCommands) {
      const journaled = this.journal[this.positionOf[index]!] as CommandEntry;
      if (entry !== undefined && !sameCommand(journaled, entry)) {
        this.mismatch(
          `journal mismatch at command ${index}: expected ${describeEntry(journaled)}, got ${describeEntry(entry)}`,
        );
        this.throwIfFatal();
      }
      this.issued.set(index, { applied, live: false });
      this.wake();
      return { index, applied, completion, replayed: true };
    }
    this.io.onActivity?.();
    if (entry === undefined) this.queued.set(index, "wait");
    else this.enqueue(index, entry, applied);
    return { index, applied, completion, replayed: false };
  }

  /** Hands queued commands to the engine in index order (invariant 1). */
  private enqueue(index: number, entry: CommandEntry, applied: Future<Applied>): void {
    this.queued.set(index, { entry, applied });
    for (
      let q = this.queued.get(this.nextToPropose);
      q !== undefined && q !== "wait";
      q = this.queued.get(this.nextToPropose)
    ) {
      const idx = this.nextToPropose++;
      this.queued.delete(idx);
      this.busy++;
      const target = q.applied;
      this.issued.set(idx, { applied: target, live: true });
      this.io.propose(idx, q.entry).then(
        (a) => {
          // Delivered in journal order by the pump (invariant 4).
          this.io.onActivity?.();
          this.live.set(a.position, { kind: "ack", commandIndex: idx, entry: a.entry });
          this.wake();
        },
        (e: unknown) => {
          this.busy--;
          this.issued.delete(idx);
          target.reject(e, Number.MAX_SAFE_INTEGER);
        },
      );
    }
    if (this.queued.size === 0) for (const w of this.flushedWaiters.splice(0)) w();
  }

  private flushed(): Promise<void> {
    if (this.queued.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.flushedWaiters.push(resolve));
  }

  private promise<T>(future: Future<T>): RestatePromiseImpl<T> {
    return new RestatePromiseImpl(future, (ms) => this.sleep(ms));
  }

  // ---- commands -------------------------------------------------------------------------

  run<T>(name: string, action: RunAction<T>, options: RunOptions<T> | undefined): RestatePromise<T> {
    const serde = (options?.serde ?? serdes.json) as Serde<T>;
    const { index, applied, replayed } = this.issue(replayedOrLater(this, name));
    const out = new Future<T>();
    const settleFrom = (a: Applied) => {
      const result = (a.entry as { result: Result }).result;
      try {
        out.resolve(decodeResult(result, serde), a.position);
      } catch (e) {
        out.reject(e, a.position);
      }
    };
    applied.onSettled((s) => (s.ok ? settleFrom(s.value) : out.reject(s.error, s.position)));
    if (!replayed) {
      this.busy++;
      void this.execute(name, action, serde, options).then(
        (result) => {
          this.busy--;
          this.enqueue(index, { type: "run", name, result }, applied);
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
          // Invariant 3: the attempt fails even if the handler catches this.
          if (this.fatal === undefined) {
            this.fatal = errorOutcome(e);
            this.fatalError = e;
          }
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
    const { completion } = this.issue({ type: "sleep", wakeUpAt: this.io.now() + ms }, () => undefined);
    return this.promise(completion as Future<void>);
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
    const entry: CommandEntry = {
      type: "call",
      target,
      argument: parameter,
      headers: opts.headers ?? {},
      ...(opts.workflow === true ? { workflow: true } : {}),
      ...(opts.idempotencyKey === undefined ? {} : { idempotencyKey: opts.idempotencyKey }),
    };
    const { applied, completion } = this.issue(entry, (r) => decodeResult(r, output));
    const p = this.promise(completion as Future<T>) as RestatePromiseImpl<T> & {
      invocationId: Promise<string>;
    };
    p.invocationId = applied.promise.then((a) => (a.entry as { invocationId: string }).invocationId);
    p.invocationId.catch(() => {});
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
    const entry: CommandEntry = {
      type: "send",
      target,
      argument: parameter,
      headers: opts.headers ?? {},
      ...(opts.workflow === true ? { workflow: true } : {}),
      ...(opts.idempotencyKey === undefined ? {} : { idempotencyKey: opts.idempotencyKey }),
      ...(delayMs > 0 ? { delayMs } : {}),
    };
    const { applied } = this.issue(entry);
    const invocationId = applied.promise.then((a) => (a.entry as { invocationId: string }).invocationId);
    invocationId.catch(() => {});
    return { invocationId };
  }

  getState<T>(key: string, serde: Serde<T>): Promise<T | null> {
    const decode = (v: Uint8Array | null | undefined) =>
      v === null || v === undefined ? null : serde.deserialize(v);
    const known = this.state.has(key) || this.stateComplete;
    const local = this.state.get(key) ?? null;
    const entry: CommandEntry = known ? { type: "get_state", key, value: local } : { type: "get_state", key };
    const { applied, replayed } = this.issue(entry);
    if (known && !replayed) return Promise.resolve(decode(local));
    return applied.promise.then((a) => {
      const value = (a.entry as { value?: Uint8Array | null }).value ?? null;
      if (!this.state.has(key)) this.state.set(key, value);
      return decode(value);
    });
  }

  stateKeys(): Promise<string[]> {
    const local = () =>
      [...this.state]
        .filter(([, v]) => v !== null)
        .map(([k]) => k)
        .sort();
    const entry: CommandEntry = this.stateComplete
      ? { type: "get_state_keys", keys: local() }
      : { type: "get_state_keys" };
    const { applied, replayed } = this.issue(entry);
    if (this.stateComplete && !replayed) return Promise.resolve(local());
    return applied.promise.then((a) => [...((a.entry as { keys?: readonly string[] }).keys ?? [])]);
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
    const { index, completion } = this.issue({ type: "awakeable" }, (r) => decodeResult(r, serde));
    return { id: awakeableId(this.io.invocationId, index), promise: this.promise(completion as Future<T>) };
  }

  completeAwakeable(id: string, result: Result): void {
    if (parseAwakeableId(id) === undefined) {
      throw new TerminalError(`${JSON.stringify(id)} is not an awakeable id`, { errorCode: 400 });
    }
    this.issue({ type: "complete_awakeable", awakeableId: id, result });
  }

  attach<T>(invocationId: string, serde: Serde<T>): RestatePromise<T> {
    const { completion } = this.issue({ type: "attach", invocationId }, (r) => decodeResult(r, serde));
    return this.promise(completion as Future<T>);
  }

  cancel(invocationId: string): void {
    this.issue({ type: "cancel_invocation", invocationId });
  }

  durablePromise<T>(name: string, serde: Serde<T>): DurablePromise<T> {
    let got: RestatePromise<T> | undefined;
    const get = (): RestatePromise<T> => {
      got ??= this.promise(
        this.issue({ type: "promise_get", name }, (r) => decodeResult(r, serde)).completion as Future<T>,
      );
      return got;
    };
    const complete = (result: Result): Promise<void> =>
      this.issue({ type: "promise_complete", name, result }).applied.promise.then((a) => {
        const outcome = (a.entry as { outcome?: Result }).outcome;
        if (outcome !== undefined && "err" in outcome) throw failureError(outcome.err);
      });
    return {
      [Symbol.toStringTag]: "DurablePromise",
      get,
      peek: () =>
        this.issue({ type: "promise_peek", name }).applied.promise.then((a) => {
          const r = (a.entry as { result?: Result | null }).result;
          return r === null || r === undefined ? undefined : decodeResult(r, serde);
        }),
      resolve: (value?: T) => complete({ ok: serde.serialize(value as T) }),
      reject: (message: string) => complete({ err: { code: 500, message } }),
      then: (a, b) => get().then(a, b),
      catch: (f) => get().catch(f),
      finally: (f) => get().finally(f),
      orTimeout: (d) => get().orTimeout(d),
      map: (m) => get().map(m),
    } as DurablePromise<T>;
  }

  // ---- the context object ---------------------------------------------------------------

  private buildContext(): WorkflowContext {
    const io = this.io;
    const headers = (this.journal[0] as { headers?: Record<string, string> } | undefined)?.headers ?? {};
    const request: Request = {
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

/** A run's entry is known only after its body ran, except when replayed (then the name is checked). */
function replayedOrLater(sm: AttemptStateMachine, name: string): CommandEntry | undefined {
  return sm.replaying ? { type: "run", name, result: { ok: new Uint8Array(0) } } : undefined;
}

export type { Client, SendClient };
