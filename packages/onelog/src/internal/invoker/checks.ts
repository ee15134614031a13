/**
 * What every invoker checks and shares, whatever its transport: the size limit of a journal
 * entry, the eager state sent with an attempt, the refusal of a call to a handler no deployment
 * serves, and how an attempt's outcome is appended until it is durable.
 */
import type { CommandEntry, EagerState, Result } from "@onelog/sdk/internal";
import type { AttemptOutcome } from "@onelog/sdk/internal";
import type { RecordBody } from "../partition/records.js";
import type { PartitionStore } from "../partition/store/store.js";
import { invocationFields } from "../ops/attempt-log.js";
import type { InvokerHost } from "./invoker.js";

/** State sent with an invocation is eager up to this many bytes; beyond, `ctx.get` reads lazily. */
export const EAGER_STATE_MAX_BYTES = 256 * 1024;

/**
 * The largest journal entry (a step's result, a state value, a call's argument, an output).
 * A larger one fails its invocation with a terminal 413 instead of filling memory and the log.
 */
export const MAX_ENTRY_BYTES = 4 * 1024 * 1024;

/** The longest stack kept with a failed attempt (the history shows it; the log carries it once). */
export const MAX_STACK_CHARS = 8_192;

/** Attempts running at once per partition; more wait in a FIFO of ids (bounded memory). */
export const MAX_RUNNING_ATTEMPTS = 2_000;

/**
 * The invocations an invoker may not start yet because `max` attempts run: a FIFO of ids with the
 * epoch to start (a newer invoke of the same id replaces its place's epoch). Memory stays bounded
 * by the number of invocations, not of invokes.
 */
export class WaitingAttempts {
  private readonly waiting = new Map<string, number>();

  constructor(private readonly max: number) {}

  /** True when an attempt may start now with `running` attempts running; else it waits. */
  admit(invocationId: string, epoch: number, running: number): boolean {
    if (running < this.max) return true;
    this.waiting.set(invocationId, epoch);
    return false;
  }

  /** The next invocation to start with `running` attempts running, taken out of the queue. */
  next(running: number): readonly [string, number] | undefined {
    if (running >= this.max) return undefined;
    const first = this.waiting.entries().next();
    if (first.done === true) return undefined;
    this.waiting.delete(first.value[0]);
    return first.value;
  }

  drop(invocationId: string): void {
    this.waiting.delete(invocationId);
  }

  clear(): void {
    this.waiting.clear();
  }
}

/** The payload bytes of an entry (the parts that can be large). */
export function entryBytes(entry: CommandEntry): number {
  const e = entry as { result?: Result; value?: Uint8Array | null; argument?: Uint8Array };
  return (
    (e.result === undefined ? 0 : resultBytes(e.result)) + (e.value?.length ?? 0) + (e.argument?.length ?? 0)
  );
}

export function resultBytes(result: Result): number {
  return "ok" in result ? result.ok.length : result.err.message.length;
}

/** Thrown into a handler whose command was refused before it reached the log. */
export class EntryTooLargeError extends Error {
  readonly code = "OL1015";
  constructor(what: string, bytes: number) {
    super(`${what} is ${bytes} bytes; the limit of a journal entry is ${MAX_ENTRY_BYTES} bytes`);
    this.name = "EntryTooLargeError";
  }
}

/** The terminal 413 an invocation ends with when one of its entries is over the limit. */
export function tooLarge(error: EntryTooLargeError): AttemptOutcome {
  return {
    type: "end",
    result: { err: { code: 413, message: `${error.name} [${error.code}]: ${error.message}` } },
  };
}

/** The key's state, sent eagerly up to {@link EAGER_STATE_MAX_BYTES} (`complete` says if all of it). */
export function eagerState(store: PartitionStore, service: string, key: string): EagerState {
  const values = new Map<string, Uint8Array>();
  let size = 0;
  for (const [name, value] of store.listState(service, key)) {
    size += Buffer.byteLength(name) + value.length;
    if (size > EAGER_STATE_MAX_BYTES) return { values, complete: false };
    values.set(name, value);
  }
  return { values, complete: true };
}

/**
 * Why a call or send must not reach the log, or undefined. As in Restate, a call or send to a
 * handler that is not registered is not journaled: the calling attempt fails (retryable, the
 * reason in its status) and the invocation retries by its policy, so it goes on by itself once
 * the service is registered.
 */
export function unregisteredTarget(
  entry: CommandEntry,
  isRegistered: (service: string, handler: string) => boolean,
): string | undefined {
  if (entry.type !== "call" && entry.type !== "send") return undefined;
  const { service, handler } = entry.target;
  if (isRegistered(service, handler)) return undefined;
  return `cannot ${entry.type === "call" ? "call" : "send to"} ${service}/${handler}: the service handler ${service}/${handler} is not registered`;
}

/** The record of an attempt's outcome. */
export function outcomeRecord(id: string, epoch: number, outcome: AttemptOutcome): RecordBody {
  return outcome.type === "end"
    ? { type: "end", invocationId: id, attemptEpoch: epoch, result: outcome.result }
    : {
        type: "attempt_failed",
        invocationId: id,
        attemptEpoch: epoch,
        message: outcome.message,
        ...(outcome.retryAfterMs === undefined ? {} : { retryAfterMs: outcome.retryAfterMs }),
        ...(outcome.stack === undefined ? {} : { stack: outcome.stack.slice(0, MAX_STACK_CHARS) }),
      };
}

/**
 * Appends an attempt's outcome. If the append fails (disk full, I/O), it is tried again with a
 * growing pause until `stopped()`: until it is durable the invocation stays `invoked` with
 * this epoch.
 */
export function proposeOutcome(
  host: InvokerHost,
  body: RecordBody,
  stopped: () => boolean,
  failures = 0,
): void {
  host.propose(body).catch((e: unknown) => {
    if (stopped()) return;
    const delay = Math.min(100 * 2 ** failures, 10_000);
    const id = (body as { invocationId: string }).invocationId;
    host.logger.error(
      { ...invocationFields(id, host.store.getStatus(id)), err: e, retryInMs: delay },
      `could not append the outcome of an attempt of ${id}; trying again in ${delay} ms`,
    );
    host.clock.setTimeout(() => proposeOutcome(host, body, stopped, failures + 1), delay);
  });
}
