/**
 * The cluster's {@link Log}: every partition in one JetStream stream, one subject per partition,
 * replicated by JetStream (R3 in production). See docs/cluster.md.
 *
 * Layout, for a stream `S` with subject prefix `X` (by default the stream's name):
 * - `X.log.<p>`: partition p's entries. One message holds the entries of one or more append
 *   calls (all calls waiting for that partition when its previous publish was acknowledged: the
 *   group commit), framed by entry-codec.ts; headers `Onelog-Lsn` (first LSN), `Onelog-Count`
 *   (entries), `Onelog-Crc` (CRC32 of the body), `Onelog-Writer` (the writer's token for this
 *   message) and `Nats-Msg-Id` (`<subject>:<first LSN>`).
 * - `X.trim.<p>`: partition p's trim point, one message kept by `Nats-Rollup: sub`.
 * - `X.meta`: the log's format and partition count, written once by whoever creates the log.
 *
 * Invariants (besides the ones of {@link Log}, which cite as Log.1 … Log.6):
 * 1. LSNs are consecutive per partition across every writer in the cluster: a message is
 *    published with `expect.lastSubjectSequence` = the stream sequence of the last message this
 *    writer knows on the subject, and its first LSN is one above that message's last. Its message
 *    id names the partition and that first LSN (`<subject>:<lsn>`), so JetStream's deduplication
 *    stores at most one message per first LSN: nats-server 2.9 lets concurrent publishes with
 *    the same subject expectation all pass on a replicated stream (the check does not see
 *    proposals in flight), but not two publishes with one message id. A writer that lost the race
 *    (wrong last sequence, or "duplicate" with another writer's `Onelog-Writer` token) learns the
 *    new last message and publishes again with new LSNs, so no LSN is given twice and none is
 *    skipped.
 * 2. At most one publish per partition is in flight in this log: the next one's expectation is
 *    the previous one's acknowledged sequence. Appends waiting meanwhile share the next message
 *    (up to the server's max_payload), in call order; one call's entries are never split, so an
 *    append is atomic (Log.1) without JetStream's atomic batches, which nats-server 2.9 lacks.
 * 3. An append resolves only once JetStream acknowledged its message: stored on a quorum of the
 *    stream's replicas. That is the durability (Log.1); nats-server 2.9 does not fsync each message.
 * 4. A publish whose outcome is unknown (timeout, no stream leader) is retried with the same
 *    message id and expectation. If it had landed, JetStream either answers "duplicate" (its
 *    dedup window) or "wrong last sequence"; then the log finds its message by its
 *    `Onelog-Writer` token on the subject and resolves with the LSNs it got. So a retried append
 *    is stored once.
 * 5. The trim point is recorded before any message is purged, and the last message of a
 *    partition's subject is never purged: it carries the tail, so LSNs never restart (Log.4).
 *    Readers skip entries at or below the trim point, whether or not they were purged yet.
 * 6. Every message's body is checked against its CRC before its entries are yielded; a
 *    mismatch, or a gap in LSNs not explained by the trim point, fails the reader with "io".
 */
import { headers, nuid, type MsgHdrs, type NatsConnection } from "@nats-io/transport-node";
import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
  type MsgRequest,
  type Consumer,
  type ConsumerMessages,
  type StoredMsg,
} from "@nats-io/jetstream";
import { DataFormatError, LogError } from "onelog/internal";
import type { Log, LogEntry, LogPosition, StoredEntry } from "onelog/internal";
import { bodyChecksum, decodeEntries, encodeEntries, encodedSize } from "./entry-codec.js";
import { publishIfLast } from "./cas.js";
import {
  hedged,
  isClosed,
  isPlacementPending,
  isStorageFull,
  isTimeout,
  isTransient,
  isWrongLastSequence,
  messageOf,
  retrying,
} from "./nats-errors.js";

/** The layout of the stream (subjects, headers, frames). A stream with another one is refused. */
export const JETSTREAM_LOG_FORMAT = 1;

const HDR_LSN = "Onelog-Lsn";
const HDR_COUNT = "Onelog-Count";
const HDR_CRC = "Onelog-Crc";
const HDR_WRITER = "Onelog-Writer";
/** What message headers take at most, besides the body (kept free under max_payload). */
const HEADER_ROOM_BYTES = 512;
const MAX_PRODUCER_CHARS = 128;
const PRODUCER = new RegExp(`^[A-Za-z0-9._-]{1,${MAX_PRODUCER_CHARS}}$`);
/** What a reader's waits resolve to once its signal aborted or the log closed. */
const ENDED = Symbol("ended");
/** A reopening reader asks again each this fraction of the request timeout (see `#hedgeMs`). */
const HEDGES_PER_TIMEOUT = 5;
/** How many messages a tailing reader's consumer buffers. */
const READ_BUFFER_MESSAGES = 64;

/** Options of {@link JetStreamLog}. */
export interface JetStreamLogOptions {
  /** The connection to use; the log never closes it. */
  readonly connection: NatsConnection;
  /** The number of partitions; must match what the stream was created with. */
  readonly partitions: number;
  /** The stream's name (default "onelog"). */
  readonly stream?: string;
  /** The subjects' prefix (default: the stream's name). Streams may not share subjects. */
  readonly subjectPrefix?: string;
  /** Replicas of a stream this log creates (default 1; 3 in production). An existing stream keeps its own. */
  readonly replicas?: number;
  /** JetStream's duplicate window for message ids, for a stream this log creates (default 2 min). */
  readonly duplicateWindowMs?: number;
  /** Timeout of one JetStream request (default 5 s). */
  readonly requestTimeoutMs?: number;
  /** How long an append retries a publish whose outcome is unknown before it fails "io" (default 30 s). */
  readonly appendRetryMs?: number;
  /** Largest message body, in bytes (default and maximum: the server's max_payload less header room). */
  readonly maxMessageBytes?: number;
  /** Prefix of this log's message ids (default: a random id). Unique per writer. */
  readonly producer?: string;
}

interface PendingAppend {
  readonly entries: readonly LogEntry[];
  readonly bytes: number;
  readonly resolve: (lsns: number[]) => void;
  readonly reject: (error: LogError) => void;
}

interface PartitionState {
  readonly index: number;
  readonly subject: string;
  readonly trimSubject: string;
  /** Stream sequence of the last message on the subject that this writer knows (undefined: ask). */
  lastSeq: number | undefined;
  /** The last LSN in that message (0 if the subject is empty). */
  lastLsn: number;
  /** Highest durable LSN this log knows; only grows (Log.5). */
  tailLsn: number;
  /** Highest trim point this log knows; only grows. */
  trimmedLsn: number;
  readonly queue: PendingAppend[];
  publishing: boolean;
  scheduled: boolean;
}

/** Where one message sits: its stream sequence and the LSNs it carries. */
interface Placed {
  readonly seq: number;
  readonly firstLsn: number;
  readonly count: number;
}

/**
 * A {@link Log} on a JetStream stream. Construction is synchronous; the stream is created (or
 * checked) in the background and every method waits for that. {@link JetStreamLog.open} waits
 * for it up front, so a misconfigured cluster fails at startup.
 *
 * An append resolves once JetStream acknowledged it (stored on a quorum of replicas); retried
 * publishes are deduplicated by message id (invariant 4). An append whose outcome stays unknown
 * for `appendRetryMs` rejects with LogError "io": it may still have been stored, which the
 * `(producer, seq)` dedup in records covers, as for any retried append.
 *
 * @example
 * const nc = await connect({ servers: ["nats://127.0.0.1:4222"] });
 * const log = await JetStreamLog.open({ connection: nc, partitions: 24, replicas: 3 });
 * const [lsn] = await log.append(3, [{ header: {}, payload }]);
 * for await (const batch of log.read(3, lsn!, signal)) apply(batch);
 */
export class JetStreamLog implements Log {
  readonly partitions: number;
  readonly #nc: NatsConnection;
  readonly #stream: string;
  readonly #prefix: string;
  readonly #replicas: number;
  readonly #duplicateWindowMs: number;
  readonly #timeoutMs: number;
  readonly #appendRetryMs: number;
  /**
   * A reader reopening after a nats-server died asks again, each fifth of the request timeout,
   * while nobody answered: requests that only the stream's leader answers (a message get) go
   * unanswered until their timeout while it is elected, consumer creates placed on the dead
   * server forever, and the next try may be answered at once.
   */
  readonly #hedgeMs: number;
  readonly #producer: string;
  readonly #parts: PartitionState[];
  readonly #ready: Promise<{ js: JetStreamClient; jsm: JetStreamManager; maxMessageBytes: number }>;
  readonly #maxMessageBytesOption: number | undefined;
  readonly #readers = new Set<() => void>();
  readonly #idleWaiters = new Set<() => void>();
  #messages = 0;
  #closed = false;
  #stats = { commits: 0, records: 0, maxRecordsPerCommit: 0 };

  constructor(options: JetStreamLogOptions) {
    if (!Number.isInteger(options.partitions) || options.partitions < 1) {
      throw new RangeError(`JetStreamLog: partitions must be a positive integer, got ${options.partitions}`);
    }
    const replicas = options.replicas ?? 1;
    if (!Number.isInteger(replicas) || replicas < 1 || replicas > 5) {
      throw new RangeError(`JetStreamLog: replicas must be an integer from 1 to 5, got ${replicas}`);
    }
    // The producer goes into every message's Onelog-Writer header, inside HEADER_ROOM_BYTES.
    if (options.producer !== undefined && !PRODUCER.test(options.producer)) {
      throw new RangeError(
        `JetStreamLog: producer must be 1 to ${MAX_PRODUCER_CHARS} letters, digits, '.', '-' and '_', got ${JSON.stringify(options.producer)}`,
      );
    }
    this.partitions = options.partitions;
    this.#nc = options.connection;
    this.#stream = options.stream ?? "onelog";
    this.#prefix = options.subjectPrefix ?? this.#stream;
    this.#replicas = replicas;
    this.#duplicateWindowMs = options.duplicateWindowMs ?? 120_000;
    this.#timeoutMs = options.requestTimeoutMs ?? 5000;
    this.#appendRetryMs = options.appendRetryMs ?? 30_000;
    this.#hedgeMs = Math.max(500, this.#timeoutMs / HEDGES_PER_TIMEOUT);
    this.#producer = options.producer ?? nuid.next();
    this.#maxMessageBytesOption = options.maxMessageBytes;
    this.#parts = Array.from({ length: options.partitions }, (_, index) => ({
      index,
      subject: `${this.#prefix}.log.${index}`,
      trimSubject: `${this.#prefix}.trim.${index}`,
      lastSeq: undefined,
      lastLsn: 0,
      tailLsn: 0,
      trimmedLsn: 0,
      queue: [],
      publishing: false,
      scheduled: false,
    }));
    this.#ready = this.#init();
    // Surfaced by every method that awaits it; not an unhandled rejection meanwhile.
    this.#ready.catch(() => undefined);
  }

  /**
   * Creates the log and waits until its stream exists and matches: rejects with an Error if the
   * stream was created with another partition count, DataFormatError (OL1022) if it has another
   * layout, and LogError "io" if JetStream cannot be reached.
   *
   * @example
   * const log = await JetStreamLog.open({ connection: nc, partitions: 24, replicas: 3 });
   */
  static async open(options: JetStreamLogOptions): Promise<JetStreamLog> {
    const log = new JetStreamLog(options);
    await log.ready();
    return log;
  }

  /** Resolves once the stream exists and was checked; rejects as {@link JetStreamLog.open} does. */
  async ready(): Promise<void> {
    await this.#ready;
  }

  /** Messages published (commits), the entries they carried, and the most in one message. */
  get stats(): { readonly commits: number; readonly records: number; readonly maxRecordsPerCommit: number } {
    return { ...this.#stats };
  }

  append(partition: number, entries: readonly LogEntry[]): Promise<number[]> {
    const part = this.#part(partition);
    if (this.#closed)
      return Promise.reject(new LogError("closed", `log closed: append to partition ${partition}`));
    if (entries.length === 0) return Promise.resolve([]);
    const bytes = encodedSize(entries);
    return new Promise<number[]>((resolve, reject) => {
      part.queue.push({ entries, bytes, resolve, reject });
      this.#schedule(part);
    });
  }

  read(partition: number, fromLsn: number, signal: AbortSignal): AsyncIterable<readonly StoredEntry[]> {
    return this.#reader(this.#part(partition), fromLsn, signal);
  }

  /** Asks JetStream for the partition's last message and trim point (Log.5). */
  async findTail(partition: number): Promise<LogPosition> {
    const part = this.#part(partition);
    if (this.#closed) throw new LogError("closed", `log closed: findTail of partition ${partition}`);
    await this.#position(part);
    return { tailLsn: part.tailLsn, trimmedLsn: part.trimmedLsn };
  }

  /**
   * Records the trim point (clamped to the tail), then purges the messages whose entries are all
   * at or below it, except the partition's last message (invariant 5). Rejects with LogError
   * "closed" after close, "io" if the trim point could not be recorded.
   */
  async trim(partition: number, upToLsn: number): Promise<void> {
    const part = this.#part(partition);
    if (this.#closed) throw new LogError("closed", `log closed: trim of partition ${partition}`);
    const { js, jsm } = await this.#api();
    const last = await this.#position(part);
    const upTo = Math.min(Math.floor(upToLsn), part.tailLsn);
    if (upTo <= part.trimmedLsn) return;
    try {
      // Invariant 5: the trim point first, by compare-and-set on its subject (cas.ts), so it only
      // grows: only one trimmer wins each step, and the loser reads again.
      for (;;) {
        const current = await jsm.streams.getMessage(this.#stream, { last_by_subj: part.trimSubject });
        if (current !== null && trimPointOf(current) >= upTo) break;
        const h = headers();
        h.set("Nats-Rollup", "sub");
        const written = await publishIfLast(js, part.trimSubject, String(upTo), current?.seq ?? 0, {
          timeoutMs: this.#timeoutMs,
          headers: h,
        });
        if (written !== undefined) break;
      }
      part.trimmedLsn = Math.max(part.trimmedLsn, upTo);
      if (last === undefined) return;
      const keepFrom = await this.#seqFor(part, upTo + 1);
      const purgeBelow = Math.min(keepFrom, last.seq);
      if (purgeBelow > 1) await jsm.streams.purge(this.#stream, { filter: part.subject, seq: purgeBelow });
    } catch (error) {
      throw toLogError(error, `trim of partition ${partition} up to ${upTo}`);
    }
  }

  /**
   * Publishes every pending append, then ends readers; later calls reject with LogError
   * "closed". The connection stays open (it belongs to the caller). Closing twice is harmless.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    while (this.#parts.some((p) => p.publishing || p.scheduled || p.queue.length > 0)) {
      await new Promise<void>((resolve) => this.#idleWaiters.add(resolve));
    }
    for (const stop of [...this.#readers]) stop();
  }

  #part(partition: number): PartitionState {
    const part = Number.isInteger(partition) ? this.#parts[partition] : undefined;
    if (part === undefined) {
      throw new RangeError(`JetStreamLog: no partition ${partition} (the log has ${this.partitions})`);
    }
    return part;
  }

  async #api(): Promise<{ js: JetStreamClient; jsm: JetStreamManager; maxMessageBytes: number }> {
    try {
      return await this.#ready;
    } catch (error) {
      if (error instanceof LogError || error instanceof DataFormatError) throw error;
      if (error instanceof Error && !(error instanceof JetStreamApiError)) throw error;
      throw toLogError(error, `open of stream ${this.#stream}`);
    }
  }

  async #init(): Promise<{ js: JetStreamClient; jsm: JetStreamManager; maxMessageBytes: number }> {
    const jsm = await jetstreamManager(this.#nc, { timeout: this.#timeoutMs });
    const js = jetstream(this.#nc, { timeout: this.#timeoutMs });
    const subjects = `${this.#prefix}.>`;
    let info;
    try {
      info = await this.#retrying(() => jsm.streams.info(this.#stream), isTransient);
    } catch (error) {
      if (!(error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound))
        throw error;
      try {
        info = await this.#retrying(
          () =>
            jsm.streams.add({
              name: this.#stream,
              description: `onelog log (${this.partitions} partitions)`,
              subjects: [subjects],
              storage: StorageType.File,
              retention: RetentionPolicy.Limits,
              discard: DiscardPolicy.Old,
              num_replicas: this.#replicas,
              duplicate_window: this.#duplicateWindowMs * 1_000_000,
              allow_rollup_hdrs: true,
              deny_delete: true,
            }),
          isPlacementPending,
        );
      } catch (addError) {
        // Another node created it meanwhile: use theirs (it may not answer here for a moment).
        info = await this.#retrying(() => jsm.streams.info(this.#stream), settling).catch(() =>
          Promise.reject(addError),
        );
      }
    }
    if (!(info.config.subjects ?? []).includes(subjects)) {
      throw new Error(
        `stream ${this.#stream} does not take the subjects ${subjects} (it has ${JSON.stringify(info.config.subjects)}); ` +
          "pick another stream name or subject prefix",
      );
    }
    await this.#checkMeta(js, jsm);
    const serverMax = this.#nc.info?.max_payload ?? 1024 * 1024;
    const maxMessageBytes = Math.min(this.#maxMessageBytesOption ?? Infinity, serverMax - HEADER_ROOM_BYTES);
    return { js, jsm, maxMessageBytes };
  }

  /**
   * Runs `fn` again while it fails in a way that passes (`retryable`: JetStream cannot place the
   * stream yet, a stream just created elsewhere does not answer here yet), for as long as an
   * append retries.
   */
  async #retrying<T>(fn: () => Promise<T>, retryable: (error: unknown) => boolean): Promise<T> {
    const deadline = Date.now() + this.#appendRetryMs;
    for (;;) {
      try {
        return await fn();
      } catch (error) {
        if (!retryable(error) || Date.now() > deadline) throw error;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  /** Writes the log's format and partition count once; refuses a stream that has others. */
  async #checkMeta(js: JetStreamClient, jsm: JetStreamManager): Promise<void> {
    const subject = `${this.#prefix}.meta`;
    for (;;) {
      const stored = await this.#retrying(
        () => jsm.streams.getMessage(this.#stream, { last_by_subj: subject }),
        settling,
      );
      if (stored !== null) {
        const meta = stored.json<{ format?: unknown; partitions?: unknown }>();
        const format = typeof meta.format === "number" ? meta.format : "unknown";
        if (format !== JETSTREAM_LOG_FORMAT) {
          throw new DataFormatError(`JetStream log ${this.#stream}`, format, JETSTREAM_LOG_FORMAT);
        }
        if (meta.partitions !== this.partitions) {
          throw new Error(
            `JetStream log ${this.#stream} was created with ${String(meta.partitions)} partitions, opened with ` +
              `${this.partitions}: records would land in other partitions; open it with the same count`,
          );
        }
        return;
      }
      // Compare-and-set (cas.ts): racing first writers store one meta; the others read it.
      await this.#retrying(
        () =>
          publishIfLast(
            js,
            subject,
            JSON.stringify({ format: JETSTREAM_LOG_FORMAT, partitions: this.partitions }),
            0,
          ),
        settling,
      );
    }
  }

  #schedule(part: PartitionState): void {
    if (part.publishing || part.scheduled) return;
    part.scheduled = true;
    // Appends made in this turn of the event loop share the first message (the group commit).
    setImmediate(() => {
      part.scheduled = false;
      void this.#pump(part);
    });
  }

  /** Publishes the partition's queue, one message at a time (invariant 2). */
  async #pump(part: PartitionState): Promise<void> {
    if (part.publishing) return;
    part.publishing = true;
    try {
      let api;
      try {
        api = await this.#api();
      } catch (error) {
        const logError = toLogError(error, `append to partition ${part.index}`);
        for (const item of part.queue.splice(0)) item.reject(logError);
        return;
      }
      while (part.queue.length > 0) {
        const batch: PendingAppend[] = [];
        let bytes = 0;
        while (
          part.queue.length > 0 &&
          (batch.length === 0 || bytes + part.queue[0]!.bytes <= api.maxMessageBytes)
        ) {
          const item = part.queue.shift()!;
          batch.push(item);
          bytes += item.bytes;
        }
        if (bytes > api.maxMessageBytes) {
          batch[0]!.reject(
            new LogError(
              "io",
              `append to partition ${part.index}: ${bytes} bytes do not fit one JetStream message ` +
                `(at most ${api.maxMessageBytes}); raise the nats-server's max_payload`,
            ),
          );
          continue;
        }
        await this.#publish(part, batch, api.js);
      }
    } finally {
      part.publishing = false;
      if (part.queue.length > 0) this.#schedule(part);
      for (const wake of [...this.#idleWaiters]) {
        this.#idleWaiters.delete(wake);
        wake();
      }
    }
  }

  /** Publishes one message with the batch's entries; settles every append in it (invariants 1, 3, 4). */
  async #publish(part: PartitionState, batch: readonly PendingAppend[], js: JetStreamClient): Promise<void> {
    const entries = batch.flatMap((item) => item.entries);
    const body = encodeEntries(entries);
    const crc = bodyChecksum(body);
    const token = `${this.#producer}.${++this.#messages}`;
    const deadline = Date.now() + this.#appendRetryMs;
    /** Set once an attempt's outcome is unknown: it may have landed (invariant 4). */
    let uncertain = false;
    let attempt = 0;
    for (;;) {
      try {
        if (part.lastSeq === undefined) await this.#refreshLast(part);
        const firstLsn = part.lastLsn + 1;
        const h = headers();
        h.set(HDR_LSN, String(firstLsn));
        h.set(HDR_COUNT, String(entries.length));
        h.set(HDR_CRC, String(crc));
        h.set(HDR_WRITER, token);
        const ack = await js.publish(part.subject, body, {
          msgID: `${part.subject}:${firstLsn}`,
          expect: { lastSubjectSequence: part.lastSeq ?? 0 },
          headers: h,
          timeout: this.#timeoutMs,
        });
        if (!ack.duplicate) {
          const placed = { seq: ack.seq, firstLsn, count: entries.length };
          this.#landed(part, placed);
          this.#settle(batch, firstLsn);
          return;
        }
        // A message with this first LSN is stored: an earlier attempt of ours that landed, or
        // another writer's — one that won the race, or one this writer did not know of yet
        // (JetStream checks the message id before the expectation) (invariant 1). Its token says
        // which. Purged since (trimmed), it is not the subject's last message, so only a writer
        // that never sent this message before can be sure it was not its own.
        const { jsm } = await this.#api();
        const stored = await jsm.streams.getMessage(this.#stream, { seq: ack.seq });
        if (stored === null && uncertain) {
          throw new LogError(
            "io",
            `stream ${this.#stream}: LSN ${firstLsn} of partition ${part.index} was taken by a message ` +
              `since trimmed; this append's earlier attempt may have been it`,
          );
        }
        if (stored !== null) this.#landed(part, placedOf(stored, this.#stream));
        if (stored?.header.get(HDR_WRITER) === token) {
          this.#settle(batch, firstLsn);
          return;
        }
        await this.#refreshLast(part);
        continue;
      } catch (caught) {
        let error: unknown = caught;
        if (isWrongLastSequence(error)) {
          // Someone appended first (or an uncertain attempt of ours landed): catch up and retry.
          try {
            const ours = uncertain ? await this.#scanFor(part, token) : await this.#refreshLast(part);
            if (ours !== undefined) {
              this.#settle(batch, ours.firstLsn);
              return;
            }
            continue;
          } catch (inner) {
            error = inner;
          }
        }
        if (isTransient(error) && Date.now() < deadline) {
          uncertain = true;
          await new Promise((r) => setTimeout(r, Math.min(1000, 50 * 2 ** attempt++)));
          continue;
        }
        // Given up: what this log knew of the subject may be stale now.
        part.lastSeq = undefined;
        const logError = toLogError(error, `append of ${entries.length} entries to partition ${part.index}`);
        for (const item of batch) item.reject(logError);
        return;
      }
    }
  }

  #settle(batch: readonly PendingAppend[], firstLsn: number): void {
    let lsn = firstLsn;
    let count = 0;
    for (const item of batch) {
      item.resolve(item.entries.map(() => lsn++));
      count += item.entries.length;
    }
    this.#stats.commits += 1;
    this.#stats.records += count;
    this.#stats.maxRecordsPerCommit = Math.max(this.#stats.maxRecordsPerCommit, count);
  }

  /** Notes a message known to be on the subject. */
  #landed(part: PartitionState, placed: Placed): void {
    const lastLsn = placed.firstLsn + placed.count - 1;
    if (part.lastSeq === undefined || placed.seq > part.lastSeq) {
      part.lastSeq = placed.seq;
      part.lastLsn = lastLsn;
    }
    part.tailLsn = Math.max(part.tailLsn, lastLsn);
  }

  /** Learns the subject's last message (a conditional publish lost, or nothing was known yet). */
  async #refreshLast(part: PartitionState): Promise<undefined> {
    const { jsm } = await this.#api();
    const last = await jsm.streams.getMessage(this.#stream, { last_by_subj: part.subject });
    if (last === null) {
      // Never written (the last message is never purged, invariant 5): LSNs go on from the trim point.
      part.lastSeq = 0;
      part.lastLsn = await this.#trimPoint(part);
      return undefined;
    }
    const placed = placedOf(last, this.#stream);
    part.lastSeq = placed.seq;
    part.lastLsn = placed.firstLsn + placed.count - 1;
    part.tailLsn = Math.max(part.tailLsn, part.lastLsn);
    return undefined;
  }

  /**
   * After an uncertain attempt lost its expectation: walks the subject's messages after the last
   * one known, looking for this message's token, and learns the new last message (invariant 4).
   */
  async #scanFor(part: PartitionState, token: string): Promise<Placed | undefined> {
    const { jsm } = await this.#api();
    let found: Placed | undefined;
    let seq = (part.lastSeq ?? 0) + 1;
    for (;;) {
      const msg = await nextBySubject(jsm, this.#stream, seq, part.subject);
      if (msg === null) break;
      const placed = placedOf(msg, this.#stream);
      if (msg.header.get(HDR_WRITER) === token) found = placed;
      this.#landed(part, placed);
      seq = msg.seq + 1;
    }
    return found;
  }

  /** The partition's trim point as recorded in JetStream (and remembered: it only grows). */
  async #trimPoint(part: PartitionState): Promise<number> {
    const { jsm } = await this.#api();
    const msg = await jsm.streams.getMessage(this.#stream, { last_by_subj: part.trimSubject });
    if (msg !== null) part.trimmedLsn = Math.max(part.trimmedLsn, trimPointOf(msg));
    return part.trimmedLsn;
  }

  /** Refreshes tail and trim point from JetStream; returns the subject's last message, if any. */
  async #position(part: PartitionState): Promise<Placed | undefined> {
    try {
      const { jsm } = await this.#api();
      // While JetStream elects a stream leader (a server died, the stream is new) it times out
      // or answers 503: ask again, as appends do, rather than fail a processor's start.
      const [last] = await retrying(
        () =>
          Promise.all([
            jsm.streams.getMessage(this.#stream, { last_by_subj: part.subject }),
            this.#trimPoint(part),
          ]),
        this.#appendRetryMs,
      );
      const placed = last === null ? undefined : placedOf(last, this.#stream);
      if (placed !== undefined) part.tailLsn = Math.max(part.tailLsn, placed.firstLsn + placed.count - 1);
      part.tailLsn = Math.max(part.tailLsn, part.trimmedLsn);
      return placed;
    } catch (error) {
      throw toLogError(error, `position of partition ${part.index}`);
    }
  }

  /**
   * The stream sequence to read from to see LSN `lsn`: the first message on the subject whose
   * last LSN is ≥ lsn, found by binary search over stream sequences (`next_by_subj`); one past the
   * subject's last message when there is none yet.
   */
  async #seqFor(part: PartitionState, lsn: number): Promise<number> {
    const { jsm } = await this.#api();
    const get = async (seq: number): Promise<Placed | undefined> => {
      const msg = await nextBySubject(jsm, this.#stream, seq, part.subject);
      return msg === null ? undefined : placedOf(msg, this.#stream);
    };
    const lastMsg = await jsm.streams.getMessage(this.#stream, { last_by_subj: part.subject });
    if (lastMsg === null) return 1;
    const last = placedOf(lastMsg, this.#stream);
    if (last.firstLsn + last.count - 1 < lsn) return last.seq + 1;
    const first = await get(1);
    if (first === undefined || first.firstLsn + first.count - 1 >= lsn) return first?.seq ?? last.seq;
    // The answer lies in [lo, hi]; `best` is the subject's first message at or after `hi`, and
    // ends at or above lsn.
    let lo = first.seq + 1;
    let hi = last.seq;
    let best = last;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const probe = await get(mid);
      if (probe === undefined)
        throw new LogError("io", `stream ${this.#stream}: message ${last.seq} vanished`);
      if (probe.firstLsn + probe.count - 1 >= lsn) {
        best = probe;
        hi = mid;
      } else {
        lo = probe.seq + 1;
      }
    }
    // Every message before `lo` ends below lsn, and none lies between `hi` and `best`.
    return best.seq;
  }

  /**
   * Creates a reader's ordered consumer on the partition's subject from stream sequence `startSeq`.
   * JetStream puts an R1 consumer on a random server of the stream's group, a dead one included
   * (nats-server 2.9 does not check): that consumer is never created, nobody answers, and the
   * request would time out after `requestTimeoutMs`. So it is hedged (`#hedgeMs`), each
   * attempt under another name, so placed again; the first consumer created is used and every
   * other one deleted: once created, or by name once its request timed out (a consumer placed
   * on a dead server stays in JetStream's metadata until deleted). `wanted` false (the reader
   * ended): a consumer created after all is deleted too.
   */
  #consumerFrom(
    api: { js: JetStreamClient; jsm: JetStreamManager },
    part: PartitionState,
    startSeq: number,
    wanted: () => boolean,
  ): Promise<Consumer> {
    const stream = this.#stream;
    const remove = (consumer: Consumer): void => void consumer.delete().catch(() => undefined);
    const ended = (): LogError => new LogError("closed", `reader of partition ${part.index} ended`);
    const attempt = async (): Promise<Consumer> => {
      const prefix = nuid.next();
      try {
        const consumer = await api.js.consumers.get(stream, {
          name_prefix: prefix,
          filter_subjects: part.subject,
          opt_start_seq: startSeq,
        });
        if (!wanted()) {
          remove(consumer);
          throw ended();
        }
        return consumer;
      } catch (error) {
        // The client names an ordered consumer's first incarnation `<prefix>_1`.
        if (isTimeout(error)) void api.jsm.consumers.delete(stream, `${prefix}_1`).catch(() => undefined);
        throw error;
      }
    };
    return hedged(attempt, { intervalMs: this.#hedgeMs, wanted, discard: remove });
  }

  async *#reader(
    part: PartitionState,
    fromLsn: number,
    signal: AbortSignal,
  ): AsyncGenerator<readonly StoredEntry[]> {
    let next = Math.max(1, Math.floor(fromLsn));
    // Every wait below races against this, so a reader ends as soon as its signal aborts or the
    // log closes, even in the middle of a JetStream request.
    // Not Promise.race against one long-lived promise: each race leaves a reaction on it that
    // keeps the race's result (a message) reachable until the reader ends.
    let isEnded = false;
    const waiting = new Set<() => void>();
    const endReader = (): void => {
      isEnded = true;
      for (const wake of [...waiting]) wake();
    };
    signal.addEventListener("abort", endReader, { once: true });
    this.#readers.add(endReader);
    const until = <T>(promise: Promise<T>): Promise<T | typeof ENDED> => {
      promise.catch(() => undefined);
      if (isEnded) return Promise.resolve(ENDED);
      return new Promise<T | typeof ENDED>((resolve, reject) => {
        const wake = (): void => resolve(ENDED);
        waiting.add(wake);
        promise.then(
          (v) => (waiting.delete(wake), resolve(v)),
          (e: unknown) => (waiting.delete(wake), reject(e)),
        );
      });
    };
    /** The reopen's requests are hedged while this reader lives (`#hedgeMs`). */
    const hedge = { intervalMs: this.#hedgeMs, wanted: () => !isEnded };
    try {
      while (!signal.aborted && !this.#closed) {
        let messages: ConsumerMessages;
        let consumer: { delete(): Promise<unknown> };
        try {
          const api = await until(this.#api());
          if (api === ENDED) return;
          const trimmed = await until(hedged(() => this.#trimPoint(part), hedge));
          if (trimmed === ENDED) return;
          next = Math.max(next, trimmed + 1);
          const from = next;
          const startSeq = await until(hedged(() => this.#seqFor(part, from), hedge));
          if (startSeq === ENDED) return;
          const got = await until(this.#consumerFrom(api, part, startSeq, hedge.wanted));
          if (got === ENDED) return;
          consumer = got;
          // Short pulls with 1 s heartbeats: a reader whose server died notices within seconds
          // (the ordered consumer then recreates itself on another server), not after 30 s.
          const opened = await until(
            got.consume({ max_messages: READ_BUFFER_MESSAGES, expires: 5000, idle_heartbeat: 1000 }),
          );
          if (opened === ENDED) {
            void got.delete().catch(() => undefined);
            return;
          }
          messages = opened;
          endOnMissedHeartbeats(opened, this.#nc);
        } catch (error) {
          if (signal.aborted || this.#closed) return;
          if (isTransient(error)) {
            await until(new Promise((r) => setTimeout(r, 200)));
            continue;
          }
          throw toLogError(error, `read of partition ${part.index} from LSN ${next}`);
        }
        const iterator = messages[Symbol.asyncIterator]();
        try {
          for (;;) {
            const step = await until(iterator.next());
            if (step === ENDED || step.done === true) break;
            const msg = step.value;
            const hdrs = msg.headers;
            const placed = placedOfHeaders(hdrs, msg.seq, this.#stream);
            const lastLsn = placed.firstLsn + placed.count - 1;
            if (lastLsn < next) continue;
            if (placed.firstLsn > next) {
              // Invariant 6: a gap is only fine if it was trimmed away.
              const trimmed = await until(this.#trimPoint(part));
              if (trimmed === ENDED) break;
              if (trimmed < placed.firstLsn - 1) {
                throw new LogError(
                  "io",
                  `log partition ${part.index}: LSNs ${next}…${placed.firstLsn - 1} missing (trimmed up to ${trimmed})`,
                );
              }
              next = placed.firstLsn;
            }
            const body = msg.data;
            if (String(bodyChecksum(body)) !== hdrs?.get(HDR_CRC)) {
              throw new LogError(
                "io",
                `log partition ${part.index}, LSNs ${placed.firstLsn}…${lastLsn}: checksum mismatch (stream sequence ${msg.seq})`,
              );
            }
            let entries: LogEntry[];
            try {
              entries = decodeEntries(body, placed.count);
            } catch (error) {
              throw new LogError(
                "io",
                `log partition ${part.index}, LSNs ${placed.firstLsn}…${lastLsn}: ${messageOf(error)}`,
              );
            }
            const skip = next - placed.firstLsn;
            const batch = entries.slice(skip).map((entry, i) => ({
              lsn: next + i,
              header: entry.header,
              payload: entry.payload,
            }));
            next = lastLsn + 1;
            part.tailLsn = Math.max(part.tailLsn, lastLsn);
            yield batch;
            if (signal.aborted || this.#closed) break;
          }
        } catch (error) {
          if (signal.aborted || this.#closed) return;
          if (error instanceof LogError) throw error;
          if (!isTransient(error)) throw toLogError(error, `read of partition ${part.index} at LSN ${next}`);
        } finally {
          // The ephemeral consumer goes with its reader (else JetStream keeps it for its 5 min
          // inactivity threshold); if its server is gone, that threshold removes it.
          // close() may wait for the pull in flight to expire; the delete need not.
          void messages.close().catch(() => undefined);
          void consumer.delete().catch(() => undefined);
        }
        // The consumer ended without being asked to (its server went away): follow from `next` again.
        if (!signal.aborted && !this.#closed) await until(new Promise((r) => setTimeout(r, 100)));
      }
    } finally {
      signal.removeEventListener("abort", endReader);
      this.#readers.delete(endReader);
    }
  }
}

/**
 * Ends a reader's consumer once it missed two heartbeats (its server died, or the stream's leader
 * with it): the reader then opens a new one from where it is, retrying every 200 ms while the
 * stream elects a leader. Left to itself, the client checks the consumer with a backoff of the
 * pull's expiry (5 s) after each failed check, and the reader stalled for 10 s and more after a
 * nats-server was killed (tests/cluster/nats-kill.test.ts). It also ends the consumer when the
 * connection reconnects (to another server): a consumer whose server died for good never came back,
 * and its reader stalled (tests/cluster/jetstream-log.test.ts, "a nats-server killed for good").
 */
function endOnMissedHeartbeats(messages: ConsumerMessages, nc: NatsConnection): void {
  void (async () => {
    for await (const status of messages.status()) {
      if (status.type === "heartbeats_missed") {
        await messages.close().catch(() => undefined);
        return;
      }
    }
  })().catch(() => undefined);
  // After a reconnect the client checks its consumer with CONSUMER.INFO and stops the heartbeat
  // monitor until that succeeds; for a consumer on a server that died it never does ("consumer
  // is offline"), so a reopen from `next` is the only way on.
  const connection = nc.status();
  void (async () => {
    for await (const status of connection) {
      if (status.type === "reconnect") {
        await messages.close().catch(() => undefined);
        return;
      }
    }
  })().catch(() => undefined);
  // The client's status iterator has stop() (typed as a plain AsyncIterable): it ends the loop
  // above and drops the listener, once the messages close for any reason.
  void messages.closed().finally(() => (connection as { stop?: () => void }).stop?.());
}

/**
 * The subject's first message at or after stream sequence `seq` (STREAM.MSG.GET with
 * `next_by_subj`, which nats-server 2.9 answers; the client types it for direct gets only).
 */
function nextBySubject(jsm: JetStreamManager, stream: string, seq: number, subject: string) {
  return jsm.streams.getMessage(stream, { seq, next_by_subj: subject } as unknown as MsgRequest);
}

function placedOfHeaders(h: MsgHdrs | undefined, seq: number, stream: string): Placed {
  const firstLsn = Number(h?.get(HDR_LSN));
  const count = Number(h?.get(HDR_COUNT));
  if (!Number.isSafeInteger(firstLsn) || firstLsn < 1 || !Number.isSafeInteger(count) || count < 0) {
    throw new LogError("io", `stream ${stream}, message ${seq}: no valid ${HDR_LSN}/${HDR_COUNT} headers`);
  }
  return { seq, firstLsn, count };
}

function placedOf(msg: StoredMsg, stream: string): Placed {
  return placedOfHeaders(msg.header, msg.seq, stream);
}

function trimPointOf(msg: StoredMsg): number {
  const value = Number(msg.string());
  return Number.isSafeInteger(value) && value >= 0 ? value : 0;
}

function toLogError(error: unknown, what: string): LogError {
  if (error instanceof LogError) return error;
  const code = isStorageFull(error) ? "disk_full" : "io";
  const why = isClosed(error) ? "the NATS connection is closed" : messageOf(error);
  return new LogError(code, `log ${what} failed: ${why}`, { cause: error });
}

/**
 * A stream another node created a moment ago may not answer on this node's server yet (its
 * replicas are still electing a leader: "stream not found", no responders, a timeout).
 */
function settling(error: unknown): boolean {
  return (
    isTransient(error) ||
    (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound)
  );
}
