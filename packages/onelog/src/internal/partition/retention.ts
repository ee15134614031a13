/**
 * How long a completed invocation is kept: its completion retention (status and result: what
 * duplicates, attach/output and history read) and its journal retention. Restate 1.7's rules,
 * as observed on restate-server 1.7.12 (docs/compatibility.md):
 *
 * - an invocation from the ingress, one with an idempotency key, and a workflow's run keep
 *   their status for the handler's idempotency retention (a workflow run: its workflow
 *   retention) — so an idempotency key's dedup window stays exactly that — and their journal
 *   for the journal retention, capped at the completion retention;
 * - any other invocation (a call or send from a handler, without a key) keeps both for the
 *   journal retention.
 *
 * Resolved where the Invoke record is made (the ingress, or the outbox shipper for invocations
 * from handlers) and carried in it, so changing a handler's options never changes invocations
 * already accepted.
 */
import { DEFAULTS } from "@onelog/sdk/internal";

/** The two retentions of one invocation, in ms. */
export interface Retention {
  /** Status and result. 0: forgotten at completion. */
  readonly retentionMs: number;
  /** The journal; never more than `retentionMs`. */
  readonly journalRetentionMs: number;
}

/** What the retention of an invocation depends on. */
export interface RetentionInputs {
  /** The handler's kind: a workflow's run keeps its status for the workflow retention. */
  readonly kind: string;
  /** The handler's idempotency retention (for a workflow run, its workflow retention). */
  readonly idempotencyRetentionMs: number;
  /** The handler's journal retention; absent: `DEFAULTS.journalRetentionMs`. */
  readonly journalRetentionMs?: number;
}

/**
 * The retentions of a new invocation of handler `h`.
 *
 * @example
 * retentionOf(h, { fromIngress: true, keyed: false }); // { retentionMs: 86400000, journalRetentionMs: 86400000 }
 */
export function retentionOf(
  h: RetentionInputs,
  origin: { readonly fromIngress: boolean; readonly keyed: boolean },
): Retention {
  const journal = h.journalRetentionMs ?? DEFAULTS.journalRetentionMs;
  if (origin.fromIngress || origin.keyed || h.kind === "workflow") {
    return {
      retentionMs: h.idempotencyRetentionMs,
      journalRetentionMs: Math.min(journal, h.idempotencyRetentionMs),
    };
  }
  return { retentionMs: journal, journalRetentionMs: journal };
}
