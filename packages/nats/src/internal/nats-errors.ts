// What a failed JetStream request means to the log: retry it, resolve a conflict, or give up.
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import {
  ClosedConnectionError,
  NoRespondersError,
  RequestError,
  TimeoutError,
} from "@nats-io/transport-node";

/** JetStream's "insufficient storage resources available" (the store of a replica is full). */
const STORAGE_RESOURCES_EXCEEDED = 10047;
/** JetStream's "insufficient resources" (account or server limits). */
const INSUFFICIENT_RESOURCES = 10023;

/** A conditional publish lost: someone else appended to the subject first. */
export function isWrongLastSequence(error: unknown): boolean {
  return (
    error instanceof JetStreamApiError &&
    (error.code === JetStreamApiCodes.StreamWrongLastSequence ||
      error.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/**
 * A failure whose outcome is unknown or passing: the request timed out, nobody answered (a stream
 * leader is being elected), or JetStream said it is temporarily unavailable (503). Retrying the
 * same publish with the same message id and expectation is safe.
 */
export function isTransient(error: unknown): boolean {
  if (error instanceof TimeoutError || error instanceof NoRespondersError) return true;
  if (error instanceof RequestError) return error.isNoResponders() || error.cause instanceof TimeoutError;
  if (error instanceof JetStreamApiError) return error.status === 503 || error.status === 408;
  // The client turns "no responders" on a publish into JetStreamNotEnabled (a class it does not
  // export): while a stream elects a leader, nobody answers its subjects.
  return error instanceof Error && error.name === "JetStreamNotEnabled";
}

/** Nobody answered in time: the request may or may not have been carried out. */
export function isTimeout(error: unknown): boolean {
  return (
    error instanceof TimeoutError || (error instanceof RequestError && error.cause instanceof TimeoutError)
  );
}

/** Nobody subscribes to the subject: the request reached no one. */
export function isNoResponders(error: unknown): boolean {
  return error instanceof NoRespondersError || (error instanceof RequestError && error.isNoResponders());
}

/**
 * JetStream cannot place a replicated stream right now: fewer servers of the cluster are known to
 * be up than it has replicas (one is restarting, or missed heartbeats on a loaded machine). It
 * clears once they are back, so creating the stream is tried again for a while.
 */
export function isPlacementPending(error: unknown): boolean {
  return (
    error instanceof JetStreamApiError &&
    (error.code === 10005 || /no suitable peers for placement/i.test(error.message))
  );
}

/** The connection is closed for good: nothing will succeed any more. */
export function isClosed(error: unknown): boolean {
  return error instanceof ClosedConnectionError;
}

/** JetStream refused for lack of storage: the log reports it as "disk_full". */
export function isStorageFull(error: unknown): boolean {
  return (
    error instanceof JetStreamApiError &&
    (error.code === STORAGE_RESOURCES_EXCEEDED || error.code === INSUFFICIENT_RESOURCES)
  );
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Runs `fn` again while it fails transiently (timeouts, no responders, 503 — JetStream electing
 * a leader for a new or moved asset), every 500 ms for up to `ms`; other errors at once.
 */
export async function retrying<T>(fn: () => Promise<T>, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (error) {
      const transient = isTransient(error) || (error instanceof Error && isTransient(error.cause));
      if (!transient || Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/**
 * Runs `start`, and again every `intervalMs` while no attempt answered and `wanted()` holds, each
 * attempt running to its end (its own request timeout), so at most timeout ÷ interval are in
 * flight: the first to succeed wins, and `discard` gets every later success. For requests that a
 * dead server leaves unanswered until their timeout while a new one may be answered at once.
 * Rejects once an attempt failed for good (not {@link isTransient}), or failed transiently with
 * no other attempt pending (so quick failures, 503 while a leader is elected, reach the caller as
 * fast as without hedging), or when `wanted()` turned false.
 */
export function hedged<T>(
  start: () => Promise<T>,
  options: {
    readonly intervalMs: number;
    readonly wanted: () => boolean;
    readonly discard?: (value: T) => void;
  },
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    let pending = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const settle = (): void => {
      settled = true;
      clearTimeout(timer);
    };
    const launch = (): void => {
      if (settled) return;
      if (!options.wanted()) {
        settle();
        reject(new Error("no longer wanted"));
        return;
      }
      pending++;
      start().then(
        (value) => {
          pending--;
          if (settled) {
            options.discard?.(value);
            return;
          }
          settle();
          resolve(value);
        },
        (error: unknown) => {
          pending--;
          if (settled) return;
          if (!isTransient(error) || pending === 0) {
            settle();
            reject(error);
          }
        },
      );
      timer = setTimeout(launch, options.intervalMs);
    };
    launch();
  });
}
