/**
 * `GET /invocations/{id}`: one invocation's status and journal as the admin API shows them.
 * Field names are snake_case and, where Restate's `sys_invocation` has the column, its name
 * (`id`, `target_service_name`, `status`, `retry_count`, `journal_size`, `created_at`, …), so
 * the description reads like the `GET /invocations` rows and the SQL view. Times are ISO 8601
 * text in UTC, as in the SQL view.
 */
import type { JournalEntry } from "@onelog/sdk/internal";
import { targetText } from "../ops/attempt-log.js";
import type { HandlerKind } from "../partition/records.js";
import type { InvocationState, InvocationStatus } from "../partition/store/store.js";
import { describeRetryPolicy, formatDuration, type RetryPolicyDescription } from "./registry.js";
import { showBytes, showJournal, type ShownEntry, type ShownValue } from "./values.js";

/** What `GET /invocations/{id}` answers. Absent values are null, never left out. */
export interface InvocationDescription {
  readonly id: string;
  /** `Service/handler` or `Service/key/handler`. */
  readonly target: string;
  readonly target_service_name: string;
  readonly target_service_key: string | null;
  readonly target_handler_name: string;
  readonly handler_kind: HandlerKind;
  readonly status: InvocationState;
  /** Attempts started so far. */
  readonly attempt_epoch: number;
  /** Failed attempts since the start or the last resume. */
  readonly retry_count: number;
  /** Entries in the journal, the input included. */
  readonly journal_size: number;
  /** Commands in the journal, the input included. */
  readonly journal_commands_size: number;
  /** Completion ids that have their notification in the journal. */
  readonly completed: readonly number[];
  /** Signal ids that have their notification in the journal. */
  readonly signals: readonly number[];
  /** Completion ids of sleeps whose timer has not fired. */
  readonly sleeps: readonly number[];
  /** For a suspended invocation: what resumes it (the cancel signal 1 always does). */
  readonly waiting_on: {
    readonly completion_ids: readonly number[];
    readonly signal_ids: readonly number[];
    /** Named signals (`ctx.signal(name)`) it waits for; absent when none. */
    readonly signal_names?: readonly string[];
  } | null;
  /** Invocations waiting durably for its result (callers and attachers). */
  readonly callers: readonly string[];
  /** `ingress`, or `service` when another invocation's call or send made it. */
  readonly invoked_by: "ingress" | "service";
  /** The invocation whose call or send made it. */
  readonly invoked_by_id: string | null;
  readonly invoked_by_target: string | null;
  readonly idempotency_key: string | null;
  readonly retry_policy: RetryPolicyDescription;
  /** How long the status and result are kept once completed (docs/admin.md#history). */
  readonly completion_retention: string;
  /** How long the journal is kept once completed; null for invocations from before history. */
  readonly journal_retention: string | null;
  readonly last_failure: string | null;
  /** Server mode: the deployment its journal was made with (every later attempt goes there). */
  readonly pinned_deployment_id: string | null;
  readonly pinned_service_protocol_version: number | null;
  /** The last failed attempts, oldest first (at most 10): attempt epoch, time, error. */
  readonly failures: readonly {
    readonly attempt: number;
    readonly at: string;
    readonly message: string;
    readonly stack: string | null;
  }[];
  readonly next_retry_at: string | null;
  readonly created_at: string;
  /** The LSN of the record that created it: the order invocations arrived in their partition. */
  readonly created_lsn: number;
  readonly modified_at: string;
  readonly completed_at: string | null;
  /** `success` or `failure` once completed, else null. */
  readonly completion_result: "success" | "failure" | null;
  /** A successful result's bytes as UTF-8 text. */
  readonly output: string | null;
  /** A successful result as a {@link ShownValue}. */
  readonly output_value: ShownValue | null;
  readonly failure: { readonly code: number; readonly message: string } | null;
  /** The journal (kept after completion for the journal retention), each entry with its time and attempt. */
  readonly journal: readonly (ShownEntry & {
    /** When it was appended; null for entries from before onelog recorded it. */
    readonly appended_at: string | null;
    /** The attempt that proposed it (commands, step results); null for the engine's notifications. */
    readonly attempt: number | null;
  })[];
}

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

/** Describes an invocation from its status row, its journal and the journal's times and attempts. */
export function describeInvocation(
  s: InvocationStatus,
  journal: readonly JournalEntry[],
  meta: readonly { readonly at: number | null; readonly attempt: number | null }[] = [],
): InvocationDescription {
  const result = s.result;
  const ok = result !== undefined && "ok" in result ? result.ok : undefined;
  return {
    id: s.invocationId,
    target: targetText(s.target),
    target_service_name: s.target.service,
    target_service_key: s.target.key ?? null,
    target_handler_name: s.target.handler,
    handler_kind: s.handlerKind,
    status: s.state,
    attempt_epoch: s.attemptEpoch,
    retry_count: s.retryCount,
    journal_size: s.journalLength,
    journal_commands_size: s.commandCount,
    completed: s.completed ?? [],
    signals: s.signals ?? [],
    sleeps: s.sleeps ?? [],
    waiting_on:
      s.waitingOn === undefined
        ? null
        : {
            completion_ids: s.waitingOn.completionIds,
            signal_ids: s.waitingOn.signalIds,
            ...(s.waitingOn.signalNames === undefined ? {} : { signal_names: s.waitingOn.signalNames }),
          },
    callers: (s.sinks ?? []).map((c) => c.invocationId),
    invoked_by: s.invokedBy === undefined ? "ingress" : "service",
    invoked_by_id: s.invokedBy?.invocationId ?? null,
    invoked_by_target: s.invokedBy === undefined ? null : targetText(s.invokedBy.target),
    idempotency_key: s.idempotencyKey ?? null,
    retry_policy: describeRetryPolicy(s.retry),
    completion_retention: formatDuration(s.retentionMs),
    journal_retention: s.journalRetentionMs === undefined ? null : formatDuration(s.journalRetentionMs),
    last_failure: s.lastFailure ?? null,
    pinned_deployment_id: s.pinnedDeployment?.deploymentId ?? null,
    pinned_service_protocol_version: s.pinnedDeployment?.protocolVersion ?? null,
    failures: (s.failures ?? []).map((f) => ({
      attempt: f.attempt,
      at: iso(f.at)!,
      message: f.message,
      stack: f.stack ?? null,
    })),
    next_retry_at: iso(s.nextRetryAt),
    created_at: iso(s.createdAt)!,
    created_lsn: s.createdLsn,
    modified_at: iso(s.modifiedAt)!,
    completed_at: iso(s.completedAt),
    completion_result: result === undefined ? null : "ok" in result ? "success" : "failure",
    output: ok === undefined ? null : Buffer.from(ok).toString("utf8"),
    output_value: ok === undefined ? null : showBytes(ok),
    failure: result !== undefined && "err" in result ? { ...result.err } : null,
    journal: showJournal(journal).map((e, i) => ({
      ...e,
      appended_at: iso(meta[i]?.at ?? undefined),
      attempt: meta[i]?.attempt ?? null,
    })),
  };
}
