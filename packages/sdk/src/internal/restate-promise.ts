/**
 * RestatePromise: the promise type of journaled operations (steps, calls, sleeps, awakeables,
 * durable promises), with the Restate SDK's combinators.
 *
 * Why not plain Promise.race: a future completes at a position in the journal (the journal index
 * of the entry that completed it). On the first attempt completions arrive in journal order, but
 * on a replay several may already be complete when a combinator is built, and plain promises
 * would then pick by array order. These combinators pick by journal position instead, so the
 * first attempt and every replay take the same branch.
 *
 * Invariants:
 * 1. A future settles once; its position is the journal index of the entry that settled it.
 * 2. A combinator's outcome depends only on its children's outcomes and positions.
 */
import type { Duration } from "./duration.js";
import { durationMs } from "./duration.js";
import { TerminalError, TimeoutError, isTerminalError } from "./errors.js";

type Settled<T> =
  | { readonly ok: true; readonly value: T; readonly position: number }
  | { readonly ok: false; readonly error: unknown; readonly position: number };

/** A journaled future: settled by the state machine at a journal position. */
export class Future<T> {
  private outcome: Settled<T> | undefined;
  private listeners: ((s: Settled<T>) => void)[] = [];
  readonly promise: Promise<T>;
  private resolvePromise!: (v: T) => void;
  private rejectPromise!: (e: unknown) => void;

  constructor() {
    this.promise = new Promise<T>((resolve, reject) => {
      this.resolvePromise = resolve;
      this.rejectPromise = reject;
    });
    // A future nobody awaits must not crash the process when it fails (cancellation).
    this.promise.catch(() => {});
  }

  get settled(): Settled<T> | undefined {
    return this.outcome;
  }

  resolve(value: T, position: number): void {
    this.settle({ ok: true, value, position });
  }

  reject(error: unknown, position: number): void {
    this.settle({ ok: false, error, position });
  }

  settle(s: Settled<T>): void {
    if (this.outcome !== undefined) return; // 1
    this.outcome = s;
    if (s.ok) this.resolvePromise(s.value);
    else this.rejectPromise(s.error);
    const ls = this.listeners;
    this.listeners = [];
    for (const l of ls) l(s);
  }

  onSettled(l: (s: Settled<T>) => void): void {
    if (this.outcome !== undefined) l(this.outcome);
    else this.listeners.push(l);
  }
}

/** Makes a journaled sleep; given by the state machine so `orTimeout` is journaled. */
export type SleepFactory = (ms: number) => RestatePromise<void>;

/**
 * A journaled future: a `Promise` (assignable wherever one is expected) with the Restate SDK's
 * `orTimeout` and `map`.
 */
export interface RestatePromise<T> extends Promise<T> {
  /**
   * Fails with a {@link TimeoutError} if this has not completed within `duration`; a journaled
   * sleep races it, so a replay decides the same way.
   */
  orTimeout(duration: Duration): RestatePromise<T>;
  /** Maps the value, or the terminal failure, into a new value. */
  map<U>(mapper: (value?: T, failure?: TerminalError) => U): RestatePromise<U>;
}

/**
 * The one implementation of {@link RestatePromise}. A real `Promise` subclass settled by its
 * {@link Future}; `then`/`catch`/`finally` return plain promises (species), as in the Restate SDK.
 */
export class RestatePromiseImpl<T> extends Promise<T> implements RestatePromise<T> {
  static override get [Symbol.species](): PromiseConstructor {
    return Promise;
  }

  override readonly [Symbol.toStringTag] = "RestatePromise";
  readonly future: Future<T>;
  readonly sleep: SleepFactory;

  constructor(future: Future<T>, sleep: SleepFactory) {
    let settle!: (s: Settled<T>) => void;
    super((resolve, reject) => {
      settle = (s) => (s.ok ? resolve(s.value) : reject(s.error));
    });
    this.future = future;
    this.sleep = sleep;
    // A future nobody awaits must not crash the process when it fails (cancellation).
    super.then(undefined, () => {});
    future.onSettled(settle);
  }

  orTimeout(duration: Duration): RestatePromise<T> {
    const ms = durationMs(duration);
    const timeout = this.sleep(ms).map(() => {
      throw new TimeoutError(`timed out after ${ms} ms`);
    });
    return combine("race", [this, timeout], this.sleep);
  }

  map<U>(mapper: (value?: T, failure?: TerminalError) => U): RestatePromise<U> {
    const out = new Future<U>();
    this.future.onSettled((s) => {
      try {
        if (s.ok) out.resolve(mapper(s.value, undefined), s.position);
        else if (isTerminalError(s.error)) out.resolve(mapper(undefined, s.error), s.position);
        else out.reject(s.error, s.position);
      } catch (e) {
        out.reject(e, s.position);
      }
    });
    return new RestatePromiseImpl(out, this.sleep);
  }
}

/** What a workflow's durable promise does; {@link DurablePromiseImpl} makes it a Promise. */
export interface DurablePromiseOps<T> {
  get(): RestatePromise<T>;
  peek(): Promise<T | undefined>;
  resolve(value?: T): Promise<void>;
  reject(message: string): Promise<void>;
}

/**
 * `ctx.promise(name)`: a `Promise` whose value is the durable promise's. Nothing is journaled
 * until it is awaited (or `get()` is called): awaiting issues the GetPromise command once.
 */
export class DurablePromiseImpl<T> extends Promise<T> {
  static override get [Symbol.species](): PromiseConstructor {
    return Promise;
  }

  override readonly [Symbol.toStringTag] = "DurablePromise";
  private readonly ops: DurablePromiseOps<T>;

  constructor(ops: DurablePromiseOps<T>) {
    super(() => {});
    this.ops = ops;
  }

  override then<R1 = T, R2 = never>(
    onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: any) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.ops.get().then(onfulfilled, onrejected);
  }

  get(): RestatePromise<T> {
    return this.ops.get();
  }

  peek(): Promise<T | undefined> {
    return this.ops.peek();
  }

  resolve(value?: T): Promise<void> {
    return this.ops.resolve(value);
  }

  reject(message: string): Promise<void> {
    return this.ops.reject(message);
  }

  orTimeout(duration: Duration): RestatePromise<T> {
    return this.ops.get().orTimeout(duration);
  }

  map<U>(mapper: (value?: T, failure?: TerminalError) => U): RestatePromise<U> {
    return this.ops.get().map(mapper);
  }
}

type Kind = "all" | "race" | "any" | "allSettled";

/** Builds a combinator over journaled futures (invariant 2). */
function combine(kind: Kind, children: readonly PromiseLike<unknown>[], sleep: SleepFactory): any {
  const futures = children.map((child) => {
    // A durable promise combines as its get().
    const c = child instanceof DurablePromiseImpl ? (child.get() as PromiseLike<unknown>) : child;
    if (!(c instanceof RestatePromiseImpl)) {
      throw new TypeError(
        `RestatePromise.${kind} takes journaled futures (ctx.run, ctx.sleep, calls, awakeables, …)`,
      );
    }
    return c.future as Future<unknown>;
  });
  const out = new Future<unknown>();
  const decide = () => {
    if (out.settled !== undefined) return;
    // Consider completions in journal order, whatever order JS saw them in.
    const done = futures
      .map((f, i) => ({ i, s: f.settled }))
      .filter((x): x is { i: number; s: Settled<unknown> } => x.s !== undefined)
      .sort((a, b) => a.s.position - b.s.position);
    switch (kind) {
      case "race": {
        const first = done[0];
        if (first !== undefined) out.settle(first.s);
        return;
      }
      case "any": {
        const win = done.find((d) => d.s.ok);
        if (win !== undefined) out.settle(win.s);
        else if (done.length === futures.length) {
          const last = done[done.length - 1]?.s.position ?? 0;
          out.reject(
            new AggregateError(
              futures.map((f) => (f.settled!.ok ? undefined : (f.settled as { error: unknown }).error)),
              "All promises were rejected",
            ),
            last,
          );
        }
        return;
      }
      case "all": {
        const failed = done.find((d) => !d.s.ok);
        if (failed !== undefined) out.settle(failed.s);
        else if (done.length === futures.length) {
          const pos = done[done.length - 1]?.s.position ?? 0;
          out.resolve(
            futures.map((f) => (f.settled as { value: unknown }).value),
            pos,
          );
        }
        return;
      }
      case "allSettled": {
        if (done.length === futures.length) {
          const pos = done[done.length - 1]?.s.position ?? 0;
          out.resolve(
            futures.map((f) => {
              const s = f.settled!;
              return s.ok ? { status: "fulfilled", value: s.value } : { status: "rejected", reason: s.error };
            }),
            pos,
          );
        }
        return;
      }
    }
  };
  if (futures.length === 0) {
    if (kind === "race") return new RestatePromiseImpl(out, sleep); // never settles, like Promise.race([])
    if (kind === "any") out.reject(new AggregateError([], "All promises were rejected"), 0);
    else out.resolve([], 0);
    return new RestatePromiseImpl(out, sleep);
  }
  decide();
  for (const f of futures) f.onSettled(decide);
  return new RestatePromiseImpl(out, sleep);
}

type Values<T extends readonly unknown[]> = { -readonly [P in keyof T]: Awaited<T[P]> };

function sleepOf(promises: readonly PromiseLike<unknown>[]): SleepFactory {
  for (const p of promises) if (p instanceof RestatePromiseImpl) return p.sleep;
  return () => {
    throw new TerminalError("orTimeout needs a journaled future in the combinator");
  };
}

/**
 * Combinators over journaled futures, as in the Restate SDK. They decide by the order in which
 * the futures completed in the journal, so a replay takes the same branch as the first attempt.
 *
 * @example
 * const [a, b] = await RestatePromise.all([ctx.run("a", fa), ctx.run("b", fb)]);
 * const first = await RestatePromise.race([ctx.awakeable<string>().promise, ctx.sleep({ minutes: 5 })]);
 */
export const RestatePromise = {
  all<const T extends readonly PromiseLike<unknown>[]>(promises: T): RestatePromise<Values<T>> {
    return combine("all", promises, sleepOf(promises));
  },
  race<const T extends readonly PromiseLike<unknown>[]>(promises: T): RestatePromise<Awaited<T[number]>> {
    return combine("race", promises, sleepOf(promises));
  },
  any<const T extends readonly PromiseLike<unknown>[]>(promises: T): RestatePromise<Awaited<T[number]>> {
    return combine("any", promises, sleepOf(promises));
  },
  allSettled<const T extends readonly PromiseLike<unknown>[]>(
    promises: T,
  ): RestatePromise<{ -readonly [P in keyof T]: PromiseSettledResult<Awaited<T[P]>> }> {
    return combine("allSettled", promises, sleepOf(promises));
  },
} as const;
