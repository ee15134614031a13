/**
 * The cluster's {@link Leadership}: a lease per partition in a JetStream KV bucket, taken and
 * renewed by compare-and-set on the key's revision (docs/cluster.md).
 *
 * Keys of the bucket:
 * - `lease.<p>`: `{ node, incarnation, base }` — who holds partition p (`node: null` once
 *   released). Taken with `create` (no key yet) or `update(key, value, revision)`.
 * - `node.<id>`: `{ node, incarnation }` — a node's heartbeat, rewritten every `renewEveryMs`
 *   and deleted on a clean close. A node is live while its heartbeat is fresher than `leaseMs`.
 *
 * The leader epoch of a grant is the revision of the write that took the lease, plus the key's
 * `base` — 0, unless the data knew a higher epoch than the bucket's revisions (a bucket created
 * anew under an old log): then `base` lifts every later epoch of that partition above it.
 *
 * Invariants (besides Leadership.1–3):
 * 1. A grant exists only after its compare-and-set succeeded: no two writes ever succeed on the
 *    same revision, so no two grants of a partition share an epoch, and every take or renewal
 *    builds on the revision the writer saw: a lease write is cas.ts's compare-and-set on the
 *    key's subject (expected revision and a message id naming it; on a replicated bucket,
 *    nats-server 2.9's own check alone lets racing writes on one revision both succeed).
 * 2. Epochs grow per partition: a take at revision `cur` writes `base ≥ max(previous base,
 *    lastEpoch − cur)` and gets revision `> cur`, so its epoch `revision + base` exceeds both the
 *    previous grant's (`≤ cur + previous base`) and `lastEpoch` (Leadership.1).
 * 3. The holder's grant ends (its `revoked` aborts) as soon as it sees another incarnation's
 *    write on its lease, when a renewal fails the compare-and-set, or when `leaseMs` passed since
 *    it sent its last successful renewal. Other nodes treat a lease as expired only `leaseMs`
 *    after they *saw* its last revision, which is never earlier than the holder sent it: the
 *    holder stops first (on clocks that run at the same rate). Safety does not rest on this: a
 *    deposed leader's late appends carry an older epoch, which apply drops.
 *    One exception to "a renewal fails the compare-and-set": the lease at a higher revision than
 *    the holder knows, carrying exactly what this grant's renewals write (this incarnation, this
 *    node, this base), is a renewal of this grant that was stored but whose PubAck was lost (the
 *    request timed out). Only this process writes its incarnation, and every write builds on the
 *    revision before it, so nobody else wrote the lease since the holder's last known revision:
 *    the holder adopts that revision (when a renewal's compare-and-set fails and it reads the key
 *    back, or when the watch shows it) and keeps its grant. The grant's epoch is the take's and
 *    does not change; the expiry still counts from the last renewal whose ack arrived (earlier
 *    than the adopted one was sent), so the holder still stops first.
 * 4. Placement is a function of what a node sees (live nodes, lease holders): each live node may
 *    hold ⌊P/N⌋ or ⌈P/N⌉ partitions; holders keep what they hold up to that, and only the rest
 *    moves (to the nodes with the fewest). A holder over its share releases the extra leases,
 *    so partitions move when a node joins or leaves, and no more than necessary.
 * 5. A holder hands a lease over only to a node it has seen live for `joinGraceMs`: a joining
 *    node takes nothing during its own join grace, so a lease released to it sooner would leave
 *    the partition without a leader until the grace ended. The joiner looks again the moment its
 *    grace ends.
 */
import { nuid, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import { Kvm, type KV, type KvEntry } from "@nats-io/kv";
import type { Leadership, LeadershipGrant } from "onelog/internal";
import { publishIfLast } from "./cas.js";
import { isTransient, messageOf } from "./nats-errors.js";

/** Options of {@link KvLeadership}. */
export interface KvLeadershipOptions {
  /** The connection to use; never closed by the leadership. */
  readonly connection: NatsConnection;
  /** This node's id: 1 to 64 letters, digits, `-` and `_`. Stable across restarts of the node. */
  readonly node: string;
  /** How many partitions there are. */
  readonly partitions: number;
  /** The highest epoch the data knows for a partition (the store's leader epoch). */
  readonly lastEpoch: (partition: number) => number;
  /** The KV bucket (default "onelog-leases"). */
  readonly bucket?: string;
  /** Replicas of a bucket this node creates (default 1; 3 in production). */
  readonly replicas?: number;
  /** How long a lease lasts without renewal (default 10 s). */
  readonly leaseMs?: number;
  /** How often leases and the heartbeat are renewed (default leaseMs / 3). */
  readonly renewEveryMs?: number;
  /** How long a new node waits to see the others before it takes free partitions (default renewEveryMs). */
  readonly joinGraceMs?: number;
  /** Timeout of one KV request (default 5 s). */
  readonly requestTimeoutMs?: number;
  /** A monotonic clock in ms (default performance.now). */
  readonly now?: () => number;
  /** Told about leases taken, lost and handed over (default: nothing). */
  readonly onEvent?: (event: LeadershipEvent) => void;
}

/** What {@link KvLeadershipOptions.onEvent} is told. */
export type LeadershipEvent =
  | { readonly type: "taken"; readonly partition: number; readonly epoch: number }
  | { readonly type: "lost"; readonly partition: number; readonly epoch: number; readonly reason: string }
  | { readonly type: "handed_over"; readonly partition: number; readonly epoch: number; readonly to: string };

interface LeaseValue {
  readonly node: string | null;
  readonly incarnation: string;
  readonly base: number;
}

/** A key as this node last saw it, and when (on its own clock). */
interface Seen<T> {
  readonly revision: number;
  readonly value: T;
  readonly seenAt: number;
}

interface Held {
  readonly grant: LeadershipGrant;
  readonly end: AbortController;
  readonly base: number;
  /** The revision of this node's last write on the lease: acknowledged, or adopted (invariant 3). */
  revision: number;
  /** When the last successful renewal was sent (invariant 3). */
  sentAt: number;
  renewing: boolean;
  /** The renewal in flight, if any: a release waits for it, to write on the revision it got. */
  renewal: Promise<void> | undefined;
  /** Ends the grant when the lease runs out without a renewal (invariant 3). */
  expiry: NodeJS.Timeout | undefined;
}

interface Waiter {
  readonly resolve: (grant: LeadershipGrant) => void;
  readonly reject: (error: Error) => void;
}

/** A node id: short, as it is part of message ids, headers and KV values on every request. */
const NODE_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** Throws a RangeError unless `node` is a valid node id (1 to 64 letters, digits, `-` and `_`). */
export function checkNodeId(node: string): void {
  if (!NODE_ID.test(node)) {
    throw new RangeError(`node id must be 1 to 64 letters, digits, - and _, got ${JSON.stringify(node)}`);
  }
}

/**
 * Partition leadership from leases in a JetStream KV bucket. `acquire(p)` resolves once this
 * node holds p's lease: when placement gives p to this node and the lease is free, released,
 * expired, or held by this node id (a restarted process takes its own leases back at once).
 *
 * @example
 * const leadership = await KvLeadership.start({
 *   connection: nc, node: "node-1", partitions: 24, replicas: 3,
 *   lastEpoch: (p) => stores[p].getLeaderEpoch(),
 * });
 * const grant = await leadership.acquire(5, signal);   // waits until node-1 should lead 5
 * grant.revoked.addEventListener("abort", stepDown);
 * await leadership.close();                            // releases every lease
 */
export class KvLeadership implements Leadership {
  readonly node: string;
  readonly partitions: number;
  readonly #nc: NatsConnection;
  readonly #bucket: string;
  readonly #replicas: number;
  readonly #leaseMs: number;
  readonly #renewEveryMs: number;
  readonly #joinGraceMs: number;
  readonly #timeoutMs: number;
  #js: JetStreamClient | undefined;
  readonly #now: () => number;
  readonly #lastEpoch: (partition: number) => number;
  readonly #onEvent: (event: LeadershipEvent) => void;
  readonly #incarnation = nuid.next();
  readonly #ready: Promise<KV>;
  #kv: KV | undefined;
  #readyAt: number | undefined;
  #closed = false;
  #timer: NodeJS.Timeout | undefined;
  #lastHeartbeat = -Infinity;
  #stopWatch: (() => void) | undefined;
  readonly #leases = new Map<number, Seen<LeaseValue>>();
  readonly #members = new Map<string, Seen<{ node: string; incarnation: string }>>();
  /** When this node first saw each member's current incarnation (invariant 5). */
  readonly #memberSince = new Map<string, number>();
  #graceTimer: NodeJS.Timeout | undefined;
  readonly #held = new Map<number, Held>();
  readonly #waiters = new Map<number, Set<Waiter>>();
  readonly #taking = new Set<number>();

  constructor(options: KvLeadershipOptions) {
    checkNodeId(options.node);
    if (!Number.isInteger(options.partitions) || options.partitions < 1) {
      throw new RangeError(`KvLeadership: partitions must be a positive integer, got ${options.partitions}`);
    }
    this.node = options.node;
    this.partitions = options.partitions;
    this.#nc = options.connection;
    this.#bucket = options.bucket ?? "onelog-leases";
    this.#replicas = options.replicas ?? 1;
    this.#leaseMs = options.leaseMs ?? 10_000;
    this.#renewEveryMs = options.renewEveryMs ?? Math.max(1, Math.floor(this.#leaseMs / 3));
    if (this.#renewEveryMs >= this.#leaseMs) {
      throw new RangeError(
        `KvLeadership: renewEveryMs (${this.#renewEveryMs}) must be below leaseMs (${this.#leaseMs})`,
      );
    }
    this.#joinGraceMs = options.joinGraceMs ?? this.#renewEveryMs;
    this.#timeoutMs = options.requestTimeoutMs ?? 5000;
    this.#now = options.now ?? (() => performance.now());
    this.#lastEpoch = options.lastEpoch;
    this.#onEvent = options.onEvent ?? (() => undefined);
    this.#ready = this.#init();
    this.#ready.catch(() => undefined);
  }

  /**
   * Creates the leadership and waits until its bucket is open, its heartbeat written and the
   * current leases read. Rejects if JetStream cannot be reached.
   */
  static async start(options: KvLeadershipOptions): Promise<KvLeadership> {
    const leadership = new KvLeadership(options);
    await leadership.ready();
    return leadership;
  }

  /** Resolves once the bucket is open and the current leases are known. */
  async ready(): Promise<void> {
    await this.#ready;
  }

  /** The partitions this node holds a live grant for, with their epochs. */
  get held(): ReadonlyMap<number, number> {
    return new Map([...this.#held].map(([p, h]) => [p, h.grant.epoch]));
  }

  /** The nodes this node sees as live (its own id included once it is started). */
  get liveNodes(): string[] {
    return this.#liveNodes();
  }

  /**
   * The node holding partition `p`'s lease now, from this node's view: this node while it holds
   * a live grant; another node while its lease was seen renewed within `leaseMs`; undefined when
   * the lease is released, expired, or not known yet.
   */
  leaderOf(partition: number): string | undefined {
    if (this.#readyAt === undefined) return undefined;
    return this.#holderOf(partition, this.#now());
  }

  acquire(partition: number, signal: AbortSignal): Promise<LeadershipGrant> {
    if (!Number.isInteger(partition) || partition < 0 || partition >= this.partitions) {
      return Promise.reject(
        new RangeError(`KvLeadership: no partition ${partition} (there are ${this.partitions})`),
      );
    }
    if (signal.aborted) return Promise.reject(signal.reason as Error);
    if (this.#closed) return Promise.reject(new Error(`leadership of node ${this.node} is closed`));
    return new Promise<LeadershipGrant>((resolve, reject) => {
      const waiters = this.#waiters.get(partition) ?? new Set<Waiter>();
      this.#waiters.set(partition, waiters);
      const onAbort = (): void => {
        waiters.delete(waiter);
        reject(signal.reason as Error);
      };
      const waiter: Waiter = {
        resolve: (grant) => {
          signal.removeEventListener("abort", onAbort);
          resolve(grant);
        },
        reject: (error) => {
          signal.removeEventListener("abort", onAbort);
          reject(error);
        },
      };
      waiters.add(waiter);
      signal.addEventListener("abort", onAbort, { once: true });
      this.#ready.then(
        () => this.#evaluate(),
        (error: unknown) => {
          waiters.delete(waiter);
          waiter.reject(new Error(`leadership of node ${this.node}: ${messageOf(error)}`, { cause: error }));
        },
      );
    });
  }

  /** Ends the grant and releases its lease (others may take it at once). Twice is harmless. */
  async release(grant: LeadershipGrant): Promise<void> {
    const held = this.#held.get(grant.partition);
    if (held?.grant !== grant) return;
    this.#end(grant.partition, held, "released");
    await this.#writeReleased(grant.partition, held);
  }

  /**
   * Ends the live grant of a partition at once, as a lost lease does (operators, tests). The
   * lease is left to expire; this node takes it back at once if it asks again.
   */
  revoke(partition: number): void {
    const held = this.#held.get(partition);
    if (held !== undefined) this.#end(partition, held, "revoked");
  }

  /**
   * Stops renewing, ends every grant and releases its lease, removes this node's heartbeat
   * (so the others rebalance at once), and rejects waiting acquires. Twice is harmless.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // A start still under way finishes first, so its watch and timer are there to be stopped.
    await this.#ready.catch(() => undefined);
    clearInterval(this.#timer);
    clearTimeout(this.#graceTimer);
    this.#stopWatch?.();
    const error = new Error(`leadership of node ${this.node} is closed`);
    for (const waiters of this.#waiters.values()) for (const w of waiters) w.reject(error);
    this.#waiters.clear();
    const held = [...this.#held];
    for (const [p, h] of held) this.#end(p, h, "closed");
    const kv = this.#kv;
    if (kv === undefined) return;
    await Promise.all([
      ...held.map(([p, h]) => this.#writeReleased(p, h)),
      kv.delete(`node.${this.node}`).catch(() => undefined),
    ]);
  }

  async #init(): Promise<KV> {
    const kv = await new Kvm(this.#nc).create(this.#bucket, {
      replicas: this.#replicas,
      history: 1,
      timeout: this.#timeoutMs,
    });
    const status = await kv.status();
    let loaded!: () => void;
    const initial = new Promise<void>((resolve) => (loaded = resolve));
    if (status.values === 0) loaded();
    const watch = await kv.watch({ key: ">" });
    this.#stopWatch = () => watch.stop();
    void (async () => {
      try {
        for await (const entry of watch) {
          this.#saw(entry);
          if (entry.isUpdate) loaded();
          if (this.#readyAt !== undefined) this.#evaluate();
        }
      } catch {
        // The watch ended with the connection; renewals notice, and grants expire (invariant 3).
      } finally {
        loaded();
      }
    })();
    await initial;
    this.#kv = kv;
    await this.#heartbeat();
    this.#readyAt = this.#now();
    // Closed while starting: close() stops the watch once this returns; no timer to leave behind.
    if (!this.#closed) {
      this.#timer = setInterval(() => this.#tick(), this.#renewEveryMs);
      // Invariant 5: a lease released to this node during its grace is taken as the grace ends.
      this.#graceTimer = setTimeout(() => this.#evaluate(), this.#joinGraceMs);
    }
    return kv;
  }

  /** Records a key as seen now (from the watch or a read-back after a lost compare-and-set). */
  #saw(entry: KvEntry): void {
    const now = this.#now();
    if (entry.key.startsWith("lease.")) {
      const partition = Number(entry.key.slice("lease.".length));
      if (!Number.isInteger(partition) || partition < 0 || partition >= this.partitions) return;
      const known = this.#leases.get(partition);
      if (known !== undefined && known.revision >= entry.revision) return;
      const value: LeaseValue =
        entry.operation === "PUT"
          ? leaseOf(entry)
          : { node: null, incarnation: "", base: known?.value.base ?? 0 };
      this.#leases.set(partition, { revision: entry.revision, value, seenAt: now });
      const held = this.#held.get(partition);
      if (held === undefined || entry.revision <= held.revision) return;
      // Invariant 3: another incarnation wrote our lease: it is lost. Our own renewal whose ack
      // was lost: its revision is the one to renew on.
      if (value.incarnation !== this.#incarnation) {
        this.#end(partition, held, `taken over by ${value.node ?? "nobody"} at revision ${entry.revision}`);
      } else {
        this.#adoptOwn(held, entry.revision, value);
      }
    } else if (entry.key.startsWith("node.")) {
      const node = entry.key.slice("node.".length);
      if (entry.operation !== "PUT") {
        this.#members.delete(node);
        this.#memberSince.delete(node);
      } else {
        const known = this.#members.get(node);
        if (known === undefined || known.revision < entry.revision) {
          const value = entry.json<{ node: string; incarnation: string }>();
          const stale = known !== undefined && now - known.seenAt > this.#leaseMs;
          if (known?.value.incarnation !== value.incarnation || stale) this.#memberSince.set(node, now);
          this.#members.set(node, { revision: entry.revision, value, seenAt: now });
        }
      }
    }
  }

  #tick(): void {
    if (this.#closed) return;
    const now = this.#now();
    if (now - this.#lastHeartbeat >= this.#renewEveryMs * 0.9) void this.#heartbeat();
    for (const [partition, held] of this.#held) {
      if (!held.renewing && now - held.sentAt >= this.#renewEveryMs * 0.9) void this.#renew(partition, held);
    }
    this.#evaluate();
  }

  async #heartbeat(): Promise<void> {
    const kv = this.#kv;
    if (kv === undefined || this.#closed) return;
    const sentAt = this.#now();
    try {
      await kv.put(`node.${this.node}`, JSON.stringify({ node: this.node, incarnation: this.#incarnation }));
      this.#lastHeartbeat = sentAt;
    } catch {
      // Retried at the next tick; others count this node as gone after leaseMs.
    }
  }

  #renew(partition: number, held: Held): Promise<void> {
    held.renewal = this.#renewOnce(partition, held);
    return held.renewal;
  }

  async #renewOnce(partition: number, held: Held): Promise<void> {
    const kv = this.#kv;
    if (kv === undefined) return;
    held.renewing = true;
    const key = `lease.${partition}`;
    try {
      for (let retried = false; ; retried = true) {
        const expected = held.revision;
        const sentAt = this.#now();
        try {
          held.revision = await this.#cas(key, this.#leaseValue(held.base), expected);
          held.sentAt = sentAt;
          this.#armExpiry(partition, held);
          return;
        } catch (error) {
          if (!(error instanceof CasLostError)) throw error;
        }
        // Someone wrote the lease since `expected`, or this grant did: an earlier renewal stored
        // whose ack was lost (invariant 3). Read it back to tell.
        const entry = await kv.get(key);
        if (this.#held.get(partition) !== held) return;
        if (entry !== null) {
          this.#saw(entry);
          if (this.#held.get(partition) !== held) return;
          if (entry.operation === "PUT") this.#adoptOwn(held, entry.revision, leaseOf(entry));
        }
        // Ours: renew again on it (once; a second loss is someone else's write).
        if (held.revision > expected && !retried) continue;
        // The compare-and-set on `expected` failed, so the key is past it: a read at or below it
        // came from a replica behind the stream (direct get) and tells nothing. Next tick.
        if (entry !== null && entry.revision <= expected && held.revision === expected) return;
        this.#end(partition, held, "a renewal lost its compare-and-set");
        return;
      }
    } catch {
      // Timed out (perhaps stored: the next try or the watch tells), or JetStream away: retried
      // at the next tick, until the lease runs out (invariant 3).
    } finally {
      held.renewing = false;
    }
  }

  /**
   * Invariant 3's exception: adopts `revision` for the held lease if its value is exactly what
   * this grant's renewals write (a renewal stored whose ack was lost). The epoch and `sentAt`
   * stay as they are.
   */
  #adoptOwn(held: Held, revision: number, value: LeaseValue): void {
    if (
      revision > held.revision &&
      value.incarnation === this.#incarnation &&
      value.node === this.node &&
      value.base === held.base
    ) {
      held.revision = revision;
    }
  }

  /**
   * Invariant 3: the grant ends before the lease could run out in anyone's eyes — leaseMs after
   * the last successful renewal was sent, less a margin for timer lateness.
   */
  #armExpiry(partition: number, held: Held): void {
    clearTimeout(held.expiry);
    const margin = Math.min(this.#renewEveryMs / 2, this.#leaseMs / 10);
    const dueIn = held.sentAt + this.#leaseMs - margin - this.#now();
    held.expiry = setTimeout(
      () => this.#end(partition, held, `not renewed for ${Math.round(this.#now() - held.sentAt)} ms`),
      Math.max(0, dueIn),
    );
  }

  /** Ends a grant locally: its holder stops leading at once. */
  #end(partition: number, held: Held, reason: string): void {
    if (this.#held.get(partition) !== held) return;
    clearTimeout(held.expiry);
    this.#held.delete(partition);
    held.end.abort(new Error(`partition ${partition} epoch ${held.grant.epoch}: ${reason}`));
    this.#onEvent({ type: "lost", partition, epoch: held.grant.epoch, reason });
  }

  async #writeReleased(partition: number, held: Held): Promise<void> {
    const kv = this.#kv;
    if (kv === undefined) return;
    // A renewal in flight would take the revision the release expects (invariant 1: only one of
    // them can be stored): release on the revision it got instead.
    await held.renewal;
    try {
      const value = JSON.stringify({ node: null, incarnation: this.#incarnation, base: held.base });
      await this.#cas(`lease.${partition}`, value, held.revision);
    } catch {
      // Someone else wrote it meanwhile, or JetStream is away: the lease expires by itself.
    }
  }

  /**
   * Invariant 1: writes `value` to `key` if the key's revision is still `revision` (0: never
   * written); resolves with the new revision, rejects with a {@link CasLostError} when
   * another write got there first.
   */
  async #cas(key: string, value: string, revision: number): Promise<number> {
    this.#js ??= jetstream(this.#nc, { timeout: this.#timeoutMs });
    const written = await publishIfLast(this.#js, `$KV.${this.#bucket}.${key}`, value, revision, {
      timeoutMs: this.#timeoutMs,
    });
    if (written === undefined) throw new CasLostError(key, revision);
    return written;
  }

  #leaseValue(base: number): string {
    return JSON.stringify({ node: this.node, incarnation: this.#incarnation, base });
  }

  #liveNodes(): string[] {
    if (this.#readyAt === undefined) return [];
    const now = this.#now();
    const live = new Set<string>([this.node]);
    for (const [node, seen] of this.#members) if (now - seen.seenAt <= this.#leaseMs) live.add(node);
    return [...live].sort();
  }

  /** Whether a lease counts as held by `node` now (from this node's view). */
  #holderOf(partition: number, now: number): string | undefined {
    const held = this.#held.get(partition);
    if (held !== undefined) return this.node;
    const lease = this.#leases.get(partition);
    if (lease === undefined || lease.value.node === null) return undefined;
    if (lease.value.node !== this.node && now - lease.seenAt > this.#leaseMs) return undefined;
    return lease.value.node;
  }

  /** Invariant 4: which live node should hold each partition, from this node's view. */
  #placement(now: number): string[] {
    const live = this.#liveNodes();
    const n = live.length;
    const base = Math.floor(this.partitions / n);
    const extra = this.partitions % n;
    const holding = new Map<string, number[]>(live.map((node) => [node, []]));
    for (let p = 0; p < this.partitions; p++) {
      const holder = this.#holderOf(p, now);
      if (holder !== undefined) holding.get(holder)?.push(p);
    }
    // Who may hold one more: those holding most already (fewest moves), then by name.
    const byHolding = [...live].sort(
      (a, b) => holding.get(b)!.length - holding.get(a)!.length || (a < b ? -1 : 1),
    );
    const cap = new Map(byHolding.map((node, i) => [node, base + (i < extra ? 1 : 0)]));
    const placement: (string | undefined)[] = Array.from({ length: this.partitions }, () => undefined);
    const count = new Map(live.map((node) => [node, 0]));
    for (const node of live) {
      for (const p of holding.get(node)!.slice(0, cap.get(node))) {
        placement[p] = node;
        count.set(node, count.get(node)! + 1);
      }
    }
    for (let p = 0; p < this.partitions; p++) {
      if (placement[p] !== undefined) continue;
      let best: string | undefined;
      for (const node of live) {
        if (count.get(node)! >= cap.get(node)!) continue;
        if (best === undefined || count.get(node)! < count.get(best)!) best = node;
      }
      placement[p] = best ?? this.node;
      if (best !== undefined) count.set(best, count.get(best)! + 1);
    }
    return placement as string[];
  }

  /** Takes the leases this node should hold and someone waits for; hands over the ones it should not. */
  #evaluate(): void {
    if (this.#closed || this.#readyAt === undefined) return;
    const now = this.#now();
    const placement = this.#placement(now);
    const inGrace = now - this.#readyAt < this.#joinGraceMs;
    for (const [partition, waiters] of this.#waiters) {
      if (waiters.size === 0 || this.#taking.has(partition) || placement[partition] !== this.node) continue;
      const lease = this.#leases.get(partition);
      const mine = lease?.value.node === this.node || this.#held.has(partition);
      if (inGrace && !mine) continue;
      if (this.#holderOf(partition, now) !== undefined && !mine) continue;
      void this.#take(partition);
    }
    for (const [partition, held] of this.#held) {
      const to = placement[partition];
      if (to === undefined || to === this.node || inGrace) continue;
      // Invariant 5: not before the receiver's own join grace is over.
      if (now - (this.#memberSince.get(to) ?? now) < this.#joinGraceMs) continue;
      this.#end(partition, held, `handed over to ${to}`);
      this.#onEvent({ type: "handed_over", partition, epoch: held.grant.epoch, to });
      void this.#writeReleased(partition, held);
    }
  }

  /** Takes a partition's lease by compare-and-set (invariants 1, 2) and hands the grant to a waiter. */
  async #take(partition: number): Promise<void> {
    const kv = this.#kv;
    if (kv === undefined) return;
    this.#taking.add(partition);
    try {
      const lease = this.#leases.get(partition);
      const previous = this.#held.get(partition);
      const current = Math.max(lease?.revision ?? 0, previous?.revision ?? 0);
      let lastEpoch: number;
      try {
        lastEpoch = this.#lastEpoch(partition);
      } catch (error) {
        this.#rejectWaiters(
          partition,
          new Error(`partition ${partition}: last epoch unknown: ${messageOf(error)}`),
        );
        return;
      }
      const base = Math.max(lease?.value.base ?? 0, previous?.base ?? 0, lastEpoch - current, 0);
      const sentAt = this.#now();
      let revision: number;
      try {
        const value = this.#leaseValue(base);
        revision =
          current === 0
            ? await this.#cas(`lease.${partition}`, value, 0)
            : await this.#cas(`lease.${partition}`, value, current);
      } catch (error) {
        if (error instanceof CasLostError) {
          // Someone wrote it first: learn what is there now and decide again.
          const entry = await kv.get(`lease.${partition}`).catch(() => null);
          if (entry !== null) this.#saw(entry);
        } else if (!isTransient(error)) {
          this.#rejectWaiters(
            partition,
            new Error(`partition ${partition}: lease not taken: ${messageOf(error)}`),
          );
        }
        return;
      }
      if (this.#closed) return;
      // Leadership.2: a new grant ends the previous one.
      const old = this.#held.get(partition);
      if (old !== undefined) this.#end(partition, old, "a new grant replaced it");
      const waiters = this.#waiters.get(partition);
      const waiter = waiters?.values().next().value;
      const epoch = revision + base;
      if (waiter === undefined) {
        // The waiter gave up meanwhile: let the lease go again.
        await this.#cas(
          `lease.${partition}`,
          JSON.stringify({ node: null, incarnation: this.#incarnation, base }),
          revision,
        ).catch(() => undefined);
        return;
      }
      waiters!.delete(waiter);
      const end = new AbortController();
      const grant: LeadershipGrant = { partition, epoch, node: this.node, revoked: end.signal };
      const held: Held = {
        grant,
        end,
        base,
        revision,
        sentAt,
        renewing: false,
        renewal: undefined,
        expiry: undefined,
      };
      this.#held.set(partition, held);
      this.#armExpiry(partition, held);
      this.#onEvent({ type: "taken", partition, epoch });
      waiter.resolve(grant);
    } finally {
      this.#taking.delete(partition);
    }
    if (this.#waiters.get(partition)?.size) this.#evaluate();
  }

  #rejectWaiters(partition: number, error: Error): void {
    const waiters = this.#waiters.get(partition);
    if (waiters === undefined) return;
    this.#waiters.delete(partition);
    for (const w of waiters) w.reject(error);
  }
}

function leaseOf(entry: KvEntry): LeaseValue {
  try {
    const value = entry.json<Partial<LeaseValue>>();
    return {
      node: typeof value.node === "string" ? value.node : null,
      incarnation: typeof value.incarnation === "string" ? value.incarnation : "",
      base: typeof value.base === "number" && Number.isSafeInteger(value.base) ? value.base : 0,
    };
  } catch {
    return { node: null, incarnation: "", base: 0 };
  }
}

/** A lease write another write on the same revision beat (invariant 1: same message id). */
class CasLostError extends Error {
  constructor(key: string, revision: number) {
    super(`${key}: another write on revision ${revision} was stored first`);
    this.name = "CasLostError";
  }
}
