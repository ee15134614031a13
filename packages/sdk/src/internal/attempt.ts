/**
 * The journal state machine: runs one attempt of a handler against the journal of earlier
 * attempts. Journaled steps replay (their recorded results come back without running again);
 * new steps run and are proposed to the engine, one entry each, in index order.
 *
 * Invariants:
 * 1. Entry i is proposed only after entries 1..i-1 were proposed (the engine requires
 *    index == journal length); a step's promise resolves only after its entry is acknowledged.
 * 2. While replaying, every command must match the journal entry at its index, by type and name;
 *    the first difference is a JournalMismatchError that fails the attempt whatever the
 *    handler does with it.
 * 3. A non-terminal error from a step without retry options fails the attempt even if the
 *    handler catches it: nothing was journaled for that index.
 * 4. The handler's return, terminal error or retryable error becomes exactly one outcome.
 */
import type { Context, ContextDate, Request, RunAction, RunOptions } from "./context.js";
import type { ResolvedHandler } from "./definitions.js";
import { durationMs } from "./duration.js";
import { isRetryableError, isTerminalError, JournalMismatchError, TerminalError } from "./errors.js";
import { describeEntry, type Failure, type JournalEntry, type Result } from "./journal.js";
import { SeededRand } from "./rand.js";
import { serde as serdes, type Serde } from "./serde.js";

/** What the engine gives an attempt. */
export interface AttemptIO {
  readonly invocationId: string;
  /** Entries journaled by earlier attempts; entry 0 is the input. */
  readonly journal: readonly JournalEntry[];
  /** Proposes entry `index`; resolves once it is durable and applied, rejects if the attempt is over. */
  propose(index: number, entry: JournalEntry): Promise<void>;
  /** Wall-clock time for `ctx.date` and step retry deadlines. */
  now(): number;
  /** A non-durable wait, for retries of a step inside one attempt. */
  sleep(ms: number): Promise<void>;
  /** Where `ctx.console` writes when not replaying. */
  readonly console: Console;
}

/** How an attempt ended. */
export type AttemptOutcome =
  | { readonly type: "end"; readonly result: Result }
  | { readonly type: "failed"; readonly message: string; readonly retryAfterMs?: number };

const SILENT: Console = new Proxy(console, {
  get: (target, prop) => (typeof (target as any)[prop] === "function" ? () => {} : (target as any)[prop]),
});

/** Runs one attempt of `handler`. Never throws: every way the handler can end is an outcome. */
export async function runAttempt(handler: ResolvedHandler, io: AttemptIO): Promise<AttemptOutcome> {
  const input = io.journal[0];
  if (input === undefined || input.type !== "input") {
    return { type: "failed", message: `invocation ${io.invocationId}: journal has no input entry` };
  }
  const sm = new AttemptStateMachine(handler, io, input.argument, input.headers);
  let argument: unknown;
  try {
    argument = handler.input.deserialize(input.argument);
  } catch (e) {
    return {
      type: "end",
      result: { err: { code: 400, message: `cannot decode the input of ${sm.label}: ${errorMessage(e)}` } },
    };
  }
  let outcome: AttemptOutcome;
  try {
    const value = await handler.fn(sm.context, argument);
    outcome = sm.check() ?? { type: "end", result: { ok: handler.output.serialize(value) } };
  } catch (e) {
    outcome = sm.check() ?? errorOutcome(e);
  }
  return outcome;
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

class AttemptStateMachine {
  readonly label: string;
  readonly context: Context;
  /** The index the next command gets. */
  private nextIndex = 1;
  /** Entries whose step finished but whose predecessors are not yet proposed (invariant 1). */
  private readonly ready = new Map<
    number,
    { entry: JournalEntry; resolve: () => void; reject: (e: unknown) => void }
  >();
  private nextToPropose: number;
  /** Set once the attempt must fail whatever the handler does (invariants 2 and 3). */
  private fatal: AttemptOutcome | undefined;
  /** The error behind `fatal`, thrown again at every later command. */
  private fatalError: unknown;

  constructor(
    private readonly handler: ResolvedHandler,
    private readonly io: AttemptIO,
    body: Uint8Array,
    headers: Readonly<Record<string, string>>,
  ) {
    this.label = `handler ${handler.service}/${handler.name}`;
    this.nextToPropose = io.journal.length;
    const rand = new SeededRand(io.invocationId);
    const request: Request = {
      id: io.invocationId,
      headers: new Map(Object.entries(headers)),
      attemptHeaders: new Map(Object.entries(headers)),
      body,
      extraArgs: [],
    };
    const date: ContextDate = {
      now: () => this.run("Date.now", () => io.now(), undefined),
      toJSON: () => this.run("Date.toJSON", () => new Date(io.now()).toJSON(), undefined),
    };
    const run = <T>(nameOrAction: string | RunAction<T>, action?: RunAction<T>, options?: RunOptions<T>) => {
      if (typeof nameOrAction === "function") return this.run("", nameOrAction, undefined);
      if (action === undefined) throw new TypeError("ctx.run needs an action");
      return this.run(nameOrAction, action, options);
    };
    const isReplaying = () => this.replaying;
    this.context = {
      run,
      rand,
      date,
      get console() {
        return isReplaying() ? SILENT : io.console;
      },
      request: () => request,
    };
  }

  /** True while commands are still being matched against journaled entries. */
  get replaying(): boolean {
    return this.nextIndex < this.io.journal.length;
  }

  /** The outcome forced by a fatal condition, or by entries the handler did not replay. */
  check(): AttemptOutcome | undefined {
    if (this.fatal !== undefined) return this.fatal;
    if (this.nextIndex < this.io.journal.length) {
      const entry = this.io.journal[this.nextIndex]!;
      return this.mismatch(
        `journal mismatch at entry ${this.nextIndex}: expected ${describeEntry(entry)}, but the handler returned`,
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

  async run<T>(name: string, action: RunAction<T>, options: RunOptions<T> | undefined): Promise<T> {
    this.throwIfFatal();
    const serde = (options?.serde ?? serdes.json) as Serde<T>;
    const index = this.nextIndex++;
    const journaled = this.io.journal[index];
    if (journaled !== undefined) {
      if (journaled.type !== "run" || journaled.name !== name) {
        this.mismatch(
          `journal mismatch at entry ${index}: expected ${describeEntry(journaled)}, got Run '${name}'`,
        );
        this.throwIfFatal();
      }
      return decodeResult((journaled as { result: Result }).result, serde);
    }
    const result = await this.execute(name, action, serde, options);
    await this.propose(index, { type: "run", name, result });
    return decodeResult(result, serde);
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
          return {
            err: {
              code: 500,
              message: `step '${name}' failed after ${attempt} tries: ${errorMessage(e)}`,
            },
          };
        }
        await this.io.sleep(intervalMs);
        intervalMs = Math.min(intervalMs * factor, maxIntervalMs);
      }
    }
  }

  /** Proposes entries in index order (invariant 1) and resolves when this one is acked. */
  private propose(index: number, entry: JournalEntry): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.ready.set(index, { entry, resolve, reject });
      for (
        let next = this.ready.get(this.nextToPropose);
        next !== undefined;
        next = this.ready.get(this.nextToPropose)
      ) {
        this.ready.delete(this.nextToPropose);
        this.io.propose(this.nextToPropose, next.entry).then(next.resolve, next.reject);
        this.nextToPropose++;
      }
    });
  }

  private throwIfFatal(): void {
    if (this.fatal !== undefined) {
      throw this.fatalError;
    }
  }
}

function decodeResult<T>(result: Result, serde: Serde<T>): T {
  if ("err" in result) throw new TerminalError(result.err.message, { errorCode: result.err.code });
  return serde.deserialize(result.ok);
}
