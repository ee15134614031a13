/**
 * The cluster's node channel (onelog's `ClusterNodes`, docs/cluster.md#admin-on-every-node) on
 * NATS request/reply: node `n` serves the subject `<stream>-nodes.<n>`, which lies outside the
 * log stream's `<stream>.>` subjects, so nothing of it is stored.
 *
 * A body is JSON, split into chunks below the server's `max_payload` (an admin answer can hold
 * tens of MB of rows). A request's chunks are published to the node's subject with the reply
 * subject of a fresh inbox and headers `Onelog-Request` (an id), `Onelog-Chunk` and
 * `Onelog-Chunks`; the answer's chunks come back to that inbox, with `Onelog-Outcome: ok` or
 * `error` (the handler's message). A node nothing serves is told at once by the server's
 * no-responders status (503).
 *
 * Invariants:
 * 1. A request settles exactly once: with the answer, the handler's error, no responders, or a
 *    timeout; its inbox subscription ends when it does.
 * 2. `requestMany` asks every node live by the leases bucket's heartbeats (the leadership's
 *    view) and resolves when each answered or failed; every node without an answer is in
 *    `missing`.
 * 3. A responder drops a request whose chunks did not all arrive within the assembly timeout,
 *    so partial requests never pile up.
 */
import {
  createInbox,
  headers,
  type Msg,
  type NatsConnection,
  type Subscription,
} from "@nats-io/transport-node";
import {
  NodeRequestError,
  type ClusterNodes,
  type NodeAnswers,
  type NodeRequestHandler,
  type NodeRequestOptions,
} from "onelog/internal";

/** Options of {@link NatsNodeRequests}. */
export interface NatsNodeRequestsOptions {
  readonly connection: NatsConnection;
  /** The log's stream name: the channel's subjects are `<stream>-nodes.<node>`. */
  readonly stream: string;
  /** This node's id. */
  readonly node: string;
  /** Who is live and who leads what (the node's KvLeadership, once started). */
  readonly view: () => { liveNodes: string[]; leaderOf(partition: number): string | undefined } | undefined;
  /** Default timeout of a request (10 s). */
  readonly timeoutMs?: number;
}

const HEADER_ROOM = 4096;
const ASSEMBLY_TIMEOUT_MS = 60_000;

interface Assembly {
  readonly chunks: (Uint8Array | undefined)[];
  received: number;
  readonly timer: NodeJS.Timeout;
}

/**
 * {@link ClusterNodes} on NATS request/reply; see the header.
 *
 * @example
 * const nodes = new NatsNodeRequests({ connection: nc, stream: "onelog", node: "node-1", view: () => leadership });
 * const stop = nodes.serve(async (body) => ({ pong: body }));
 * const { answers, missing } = await nodes.requestMany({ ping: 1 }, { timeoutMs: 2000 });
 */
export class NatsNodeRequests implements ClusterNodes {
  readonly node: string;
  readonly #nc: NatsConnection;
  readonly #stream: string;
  readonly #view: NatsNodeRequestsOptions["view"];
  readonly #timeoutMs: number;
  #sub: Subscription | undefined;
  #handler: NodeRequestHandler | undefined;
  readonly #assemblies = new Map<string, Assembly>();
  #nextId = 0;

  constructor(o: NatsNodeRequestsOptions) {
    this.node = o.node;
    this.#nc = o.connection;
    this.#stream = o.stream;
    this.#view = o.view;
    this.#timeoutMs = o.timeoutMs ?? 10_000;
  }

  liveNodes(): string[] {
    return this.#view()?.liveNodes ?? [this.node];
  }

  leaderOf(partition: number): string | undefined {
    return this.#view()?.leaderOf(partition);
  }

  serve(handler: NodeRequestHandler): () => void {
    this.#handler = handler;
    if (this.#sub === undefined) {
      this.#sub = this.#nc.subscribe(this.#subject(this.node), {
        callback: (error, msg) => {
          if (error === null) this.#received(msg);
        },
      });
    }
    return () => {
      if (this.#handler !== handler) return;
      this.#handler = undefined;
      this.#sub?.unsubscribe();
      this.#sub = undefined;
      for (const a of this.#assemblies.values()) clearTimeout(a.timer);
      this.#assemblies.clear();
    };
  }

  request(node: string, body: unknown, options: NodeRequestOptions = {}): Promise<unknown> {
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    const inbox = createInbox();
    const id = `${this.node}.${(this.#nextId++).toString(36)}`;
    return new Promise<unknown>((resolve, reject) => {
      const chunks: (Uint8Array | undefined)[] = [];
      let received = 0;
      let settled = false;
      // Invariant 1: one way out, which also ends the inbox subscription.
      const settle = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        sub.unsubscribe();
        fn();
      };
      const timer = setTimeout(
        () => settle(() => reject(new NodeRequestError(node, "timeout", `no answer within ${timeoutMs} ms`))),
        timeoutMs,
      );
      const sub = this.#nc.subscribe(inbox, {
        callback: (error, msg) => {
          if (error !== null) {
            settle(() => reject(new NodeRequestError(node, "failed", error.message)));
            return;
          }
          if (msg.headers?.code === 503) {
            settle(() =>
              reject(
                new NodeRequestError(
                  node,
                  "no_responders",
                  "nothing serves its channel (gone, or no admin endpoint)",
                ),
              ),
            );
            return;
          }
          const part = chunkOf(msg);
          if (part === undefined) return;
          if (chunks[part.index] === undefined) received++;
          chunks.length = part.count;
          chunks[part.index] = msg.data;
          if (received < part.count) return;
          const text = Buffer.concat(chunks as Uint8Array[]).toString("utf8");
          const outcome = msg.headers?.get("Onelog-Outcome");
          settle(() => {
            if (outcome === "ok") resolve(text === "" ? undefined : JSON.parse(text));
            else reject(new NodeRequestError(node, "failed", text));
          });
        },
      });
      try {
        this.#publish(this.#subject(node), Buffer.from(JSON.stringify(body) ?? "null"), { reply: inbox, id });
      } catch (e) {
        settle(() =>
          reject(new NodeRequestError(node, "failed", e instanceof Error ? e.message : String(e))),
        );
      }
    });
  }

  async requestMany(body: unknown, options: NodeRequestOptions = {}): Promise<NodeAnswers> {
    const nodes = this.liveNodes(); // invariant 2
    const settled = await Promise.allSettled(nodes.map((n) => this.request(n, body, options)));
    const answers = new Map<string, unknown>();
    const missing: { node: string; failure: NodeRequestError["failure"]; message: string }[] = [];
    settled.forEach((s, i) => {
      const node = nodes[i]!;
      if (s.status === "fulfilled") answers.set(node, s.value);
      else {
        const e = s.reason as unknown;
        missing.push(
          e instanceof NodeRequestError
            ? { node, failure: e.failure, message: e.message }
            : { node, failure: "failed", message: String(e) },
        );
      }
    });
    return { answers, missing };
  }

  #subject(node: string): string {
    return `${this.#stream}-nodes.${node}`;
  }

  /** Publishes `bytes` as chunks below max_payload, each with the chunk headers. */
  #publish(
    subject: string,
    bytes: Uint8Array,
    o: { readonly reply?: string; readonly id?: string; readonly outcome?: "ok" | "error" },
  ): void {
    const size = Math.max(
      1024,
      Math.min(this.#nc.info?.max_payload ?? 1024 * 1024, 1024 * 1024) - HEADER_ROOM,
    );
    const count = Math.max(1, Math.ceil(bytes.byteLength / size));
    for (let i = 0; i < count; i++) {
      const h = headers();
      h.set("Onelog-From", this.node);
      h.set("Onelog-Chunk", String(i));
      h.set("Onelog-Chunks", String(count));
      if (o.id !== undefined) h.set("Onelog-Request", o.id);
      if (o.outcome !== undefined) h.set("Onelog-Outcome", o.outcome);
      this.#nc.publish(subject, bytes.subarray(i * size, (i + 1) * size), {
        headers: h,
        ...(o.reply === undefined ? {} : { reply: o.reply }),
      });
    }
  }

  /** A request's chunk arrived on this node's subject. */
  #received(msg: Msg): void {
    const part = chunkOf(msg);
    const id = msg.headers?.get("Onelog-Request");
    const reply = msg.reply;
    if (part === undefined || id === undefined || id === "" || reply === undefined || reply === "") return;
    let body: Uint8Array;
    if (part.count === 1) body = msg.data;
    else {
      let a = this.#assemblies.get(id);
      if (a === undefined) {
        // Invariant 3.
        const timer = setTimeout(() => this.#assemblies.delete(id), ASSEMBLY_TIMEOUT_MS);
        timer.unref();
        a = { chunks: Array.from({ length: part.count }, () => undefined), received: 0, timer };
        this.#assemblies.set(id, a);
      }
      if (a.chunks[part.index] === undefined) a.received++;
      a.chunks[part.index] = msg.data;
      if (a.received < part.count) return;
      clearTimeout(a.timer);
      this.#assemblies.delete(id);
      body = Buffer.concat(a.chunks as Uint8Array[]);
    }
    const from = msg.headers?.get("Onelog-From") ?? "";
    void this.#answer(body, from, reply);
  }

  async #answer(body: Uint8Array, from: string, reply: string): Promise<void> {
    let out: Uint8Array;
    let outcome: "ok" | "error";
    try {
      const handler = this.#handler;
      if (handler === undefined) throw new Error(`node ${this.node} serves no requests now`);
      const text = Buffer.from(body).toString("utf8");
      const answer = await handler(text === "" ? undefined : JSON.parse(text), from);
      out = Buffer.from(JSON.stringify(answer) ?? "");
      outcome = "ok";
    } catch (e) {
      out = Buffer.from(e instanceof Error ? e.message : String(e));
      outcome = "error";
    }
    try {
      this.#publish(reply, out, { outcome });
    } catch {
      // The connection is closing: the asker times out (invariant 1).
    }
  }
}

function chunkOf(msg: Msg): { index: number; count: number } | undefined {
  const index = Number(msg.headers?.get("Onelog-Chunk"));
  const count = Number(msg.headers?.get("Onelog-Chunks"));
  if (!Number.isInteger(index) || !Number.isInteger(count) || count < 1 || index < 0 || index >= count) {
    return undefined;
  }
  return { index, count };
}
