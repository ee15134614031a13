/**
 * The log lines about an attempt's failure: every one names the invocation (id and target) and
 * the attempt, says what happens next (the retry count, the delay before the next attempt, or
 * the pause or kill the retry policy ends with), and carries the error's stack once.
 */
import { backoffMs } from "../partition/apply.js";
import type { Target } from "../partition/records.js";
import type { InvocationStatus } from "../partition/store/store.js";
import type { Logger } from "./logger.js";

/** `Service/handler`, or `Object/key/handler`: how an invocation's target is written in logs. */
export function targetText(t: Target): string {
  return t.key === undefined ? `${t.service}/${t.handler}` : `${t.service}/${t.key}/${t.handler}`;
}

/** The fields every log line about an invocation carries. */
export function invocationFields(invocationId: string, status: InvocationStatus | undefined): object {
  return status === undefined
    ? { invocationId }
    : {
        invocationId,
        target: targetText(status.target),
        service: status.target.service,
        handler: status.target.handler,
      };
}

/**
 * Logs, once, that an invocation ended with a terminal failure (its handler's TerminalError), with
 * its target and id, as Restate does. Never throws.
 */
export function logTerminalFailure(
  logger: Logger,
  invocationId: string,
  status: InvocationStatus | undefined,
  failure: { readonly code: number; readonly message: string },
): void {
  const target = status === undefined ? "?" : targetText(status.target);
  logger.warn(
    { ...invocationFields(invocationId, status), code: failure.code },
    `invocation ${target} ${invocationId} failed: [${failure.code}] ${failure.message}`,
  );
}

/** Invocations whose "not registered" line was written, per logger (one line per invocation). */
const toldNotRegistered = new WeakMap<Logger, Set<string>>();

/** What an attempt's failure is, for {@link logAttemptFailed}. */
export interface AttemptFailure {
  readonly invocationId: string;
  readonly attemptEpoch: number;
  readonly message: string;
  readonly stack?: string | undefined;
  readonly retryAfterMs?: number | undefined;
  /** False when no handler for the target is registered in this process. */
  readonly registered: boolean;
}

/**
 * Logs a failed attempt at warn, once: with its stack, the retry count it leads to and the next
 * delay as apply will compute them from `status` (the row before the failure is applied). An
 * invocation whose service is not registered here is logged once per invocation, not at every
 * retry. Never throws.
 *
 * @example
 * logAttemptFailed(logger, store.getStatus(id), { invocationId: id, attemptEpoch: 3, message, registered: true });
 */
export function logAttemptFailed(
  logger: Logger,
  status: InvocationStatus | undefined,
  f: AttemptFailure,
): void {
  const fields: Record<string, unknown> = {
    ...invocationFields(f.invocationId, status),
    attemptEpoch: f.attemptEpoch,
    error: f.message,
  };
  if (f.stack !== undefined) fields.stack = f.stack;
  let next = "";
  if (status !== undefined) {
    const retryCount = status.retryCount + 1;
    fields.retryCount = retryCount;
    const max = status.retry.maxAttempts;
    if (max !== null && retryCount >= max) {
      next = `; ${retryCount} of ${max} attempts used: the invocation is ${status.retry.onMaxAttempts === "kill" ? "killed" : "paused"}`;
      fields.then = status.retry.onMaxAttempts;
    } else {
      const delay = f.retryAfterMs ?? backoffMs(status.retry, retryCount);
      fields.nextRetryInMs = delay;
      next = `; retry ${retryCount}${max === null ? "" : ` of ${max - 1}`} in ${delay} ms`;
    }
  }
  const target = status === undefined ? f.invocationId : `${targetText(status.target)} (${f.invocationId})`;
  if (!f.registered) {
    let told = toldNotRegistered.get(logger);
    if (told === undefined) toldNotRegistered.set(logger, (told = new Set()));
    if (told.has(f.invocationId)) return;
    told.add(f.invocationId);
    if (told.size > 10_000) told.delete(told.values().next().value!);
    logger.warn(
      fields,
      `invocation ${target}: its service is not registered in this process, so every attempt fails${next} (the retry policy goes on; said once per invocation). Start the program that serves it, or cancel or kill it`,
    );
    return;
  }
  logger.warn(fields, `attempt ${f.attemptEpoch} of ${target} failed: ${f.message}${next}`);
}
