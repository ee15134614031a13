/**
 * Compare-and-set on one subject of a JetStream stream: the log's trim point and meta, the
 * leases, the deployment registry.
 *
 * Invariant: of writes that expect the same last sequence, at most one is stored. JetStream's
 * `expect: { lastSubjectSequence }` alone does not give that on a replicated stream in
 * nats-server 2.9 (racing publishes with one expectation may all succeed: bench/nats-cas-probe.ts),
 * so each write also carries the message id `<subject>:<expected>`, and the stream's duplicate
 * window keeps a second write of that id out.
 */
import type { MsgHdrs } from "@nats-io/transport-node";
import type { JetStreamClient } from "@nats-io/jetstream";
import { isWrongLastSequence } from "./nats-errors.js";

/**
 * Publishes `data` to `subject` if the subject's last message is still sequence `expected` (0:
 * none yet). Resolves with the new message's sequence, or undefined when another write got there
 * first (nothing of this one stored — unless it is this writer's own earlier try of the same
 * write, which only a caller that retries can tell, by reading back). Other failures reject.
 *
 * @example
 * const seq = await publishIfLast(js, "$KV.leases.lease.3", value, revision);
 * if (seq === undefined) { … someone else wrote lease 3 … }
 */
export async function publishIfLast(
  js: JetStreamClient,
  subject: string,
  data: string | Uint8Array,
  expected: number,
  options: { readonly timeoutMs?: number; readonly headers?: MsgHdrs } = {},
): Promise<number | undefined> {
  try {
    const ack = await js.publish(subject, data, {
      msgID: `${subject}:${expected}`,
      expect: { lastSubjectSequence: expected },
      ...(options.timeoutMs === undefined ? {} : { timeout: options.timeoutMs }),
      ...(options.headers === undefined ? {} : { headers: options.headers }),
    });
    return ack.duplicate ? undefined : ack.seq;
  } catch (error) {
    if (isWrongLastSequence(error)) return undefined;
    throw error;
  }
}
