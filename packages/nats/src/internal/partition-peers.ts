/**
 * {@link PartitionPeers} on NATS request/reply: one subject per partition,
 * `<stream>-peers.p.<partition>` (outside the stream's `<stream>.>` subjects, so JetStream never
 * stores them), which only the partition's leader subscribes to, in one queue group so that
 * during a handover one node answers (the one that no longer leads answers "retry").
 */
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { LogError, PeerUnavailableError, type PartitionPeers } from "onelog/internal";
import { isClosed, isNoResponders, isTransient, messageOf } from "./nats-errors.js";

export class NatsPartitionPeers implements PartitionPeers {
  readonly #nc: NatsConnection;
  readonly #prefix: string;

  /** `stream`: the log's stream name; subjects are `<stream>-peers.p.<partition>`. */
  constructor(connection: NatsConnection, stream: string) {
    this.#nc = connection;
    this.#prefix = `${stream}-peers.p.`;
  }

  async request(partition: number, body: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    try {
      const reply = await this.#nc.request(this.#prefix + partition, body, { timeout: timeoutMs });
      return reply.data;
    } catch (error) {
      // Nobody subscribed (no leader yet, or it is moving) or nobody answered in time: the
      // request may be sent again (peers.ts, invariant 2).
      if (isTransient(error)) {
        throw new PeerUnavailableError(
          partition,
          `partition ${partition}: no leader answered (${messageOf(error)})`,
          !isNoResponders(error),
        );
      }
      if (isClosed(error))
        throw new LogError("closed", `partition ${partition}: the NATS connection is closed`);
      throw new LogError("io", `partition ${partition}: asking its leader failed: ${messageOf(error)}`, {
        cause: error,
      });
    }
  }

  async serve(
    partition: number,
    answer: (body: Uint8Array) => Promise<Uint8Array>,
  ): Promise<() => Promise<void>> {
    const sub: Subscription = this.#nc.subscribe(this.#prefix + partition, {
      queue: "leader",
      callback: (error, msg) => {
        if (error !== null) return;
        answer(msg.data).then(
          (reply) => msg.respond(reply),
          () => {}, // `answer` does not reject; a reply lost here is asked again (invariant 2)
        );
      },
    });
    // Once the server has the subscription, requests sent from now on reach this node.
    await this.#nc.flush();
    return async () => {
      sub.unsubscribe();
    };
  }
}
