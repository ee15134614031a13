/**
 * Partition snapshots in the JetStream object store: each leader periodically writes its
 * partition's store (with the applied LSN it covers) as object `partition-<p>`; a node taking a
 * partition over restores the latest one and replays the log from `appliedLsn + 1`; the log is
 * trimmed up to a snapshot's applied LSN only once that snapshot is stored (docs/cluster.md).
 *
 * Invariants:
 * 1. One object per partition, replaced by each newer snapshot: the object store writes a new
 *    object's chunks first and its meta entry last, so a reader sees the old snapshot whole or
 *    the new one whole, never a mix.
 * 2. A put skips a snapshot with a lower applied LSN than the stored one (a deposed leader's
 *    late write). The check and the write are two steps, so a put that checked before a newer
 *    one was stored can still land after it: the log is trimmed only up to the snapshot stored
 *    when it trims (embedded/cluster.ts, invariant 2), so the trim point stays covered.
 * 3. The applied LSN, partition and store format travel in the object's description, checked
 *    on read together with the object store's SHA-256 digest of the bytes.
 * 4. A read never waits for good: a snapshot replaced while it is read loses its chunks (the
 *    object store purges them), and the client's reader would wait for them forever. A read
 *    that has not finished in its time (a base plus its size at 1 MB/s) is cancelled and made
 *    again, of the object that is there then.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { Objm, type ObjectResult, type ObjectStore } from "@nats-io/obj";
import type { PartitionSnapshot } from "onelog/internal";
import { retrying } from "./nats-errors.js";

/** How long a snapshot read may take: this, plus its size at READ_BYTES_PER_MS (invariant 4). */
const READ_BASE_MS = 5_000;
const READ_BYTES_PER_MS = 1_000;
/** Reads of a partition's latest snapshot before `latest` gives up. */
const READ_TRIES = 5;

/** Options of {@link JetStreamSnapshots}. */
export interface JetStreamSnapshotsOptions {
  /** The connection to use; never closed by this. */
  readonly connection: NatsConnection;
  /** The object store bucket (default "onelog-snapshots"). */
  readonly bucket?: string;
  /** Replicas of a bucket this node creates (default 1; 3 in production). */
  readonly replicas?: number;
  /** How long each call retries while JetStream answers slowly (timeouts, 503) (default 30 s). */
  readonly retryMs?: number;
  /** How long a snapshot read may take besides its size at 1 MB/s (default 5 s; invariant 4). */
  readonly readBaseMs?: number;
}

interface Description {
  readonly partition: number;
  readonly appliedLsn: number;
  readonly format: number;
}

/**
 * The latest snapshot of each partition, in a JetStream object store bucket.
 *
 * @example
 * const snapshots = await JetStreamSnapshots.open({ connection: nc, replicas: 3 });
 * const stored = await snapshots.put(await store.snapshot());   // then: log.trim(p, stored.appliedLsn)
 * const latest = await snapshots.latest(p);                     // then: stores.restore(latest)
 */
export class JetStreamSnapshots {
  readonly #os: ObjectStore;
  readonly #retryMs: number;
  readonly #readBaseMs: number;

  private constructor(os: ObjectStore, retryMs: number, readBaseMs: number) {
    this.#os = os;
    this.#retryMs = retryMs;
    this.#readBaseMs = readBaseMs;
  }

  /** Opens (or creates) the bucket. Rejects if JetStream cannot be reached. */
  static async open(options: JetStreamSnapshotsOptions): Promise<JetStreamSnapshots> {
    const retryMs = options.retryMs ?? 30_000;
    const os = await retrying(
      () =>
        new Objm(options.connection).create(options.bucket ?? "onelog-snapshots", {
          replicas: options.replicas ?? 1,
          description: "onelog partition snapshots",
        }),
      retryMs,
    );
    return new JetStreamSnapshots(os, retryMs, options.readBaseMs ?? READ_BASE_MS);
  }

  /**
   * Stores a snapshot as its partition's latest, unless the stored one covers more (invariant 2).
   * Resolves with the applied LSN the stored snapshot now covers: the log may be trimmed up to it.
   */
  async put(
    snapshot: PartitionSnapshot,
  ): Promise<{ readonly appliedLsn: number; readonly sizeBytes: number }> {
    const name = objectName(snapshot.partition);
    const current = await this.#info(name);
    const stored = current === null || current.deleted ? undefined : descriptionOf(current.description);
    if (stored !== undefined && stored.appliedLsn >= snapshot.appliedLsn) {
      return { appliedLsn: stored.appliedLsn, sizeBytes: current?.size ?? 0 };
    }
    const description: Description = {
      partition: snapshot.partition,
      appliedLsn: snapshot.appliedLsn,
      format: snapshot.format,
    };
    const info = await retrying(
      () => this.#os.putBlob({ name, description: JSON.stringify(description) }, snapshot.bytes),
      this.#retryMs,
    );
    return { appliedLsn: snapshot.appliedLsn, sizeBytes: info.size };
  }

  /**
   * The latest snapshot of a partition, or undefined if none was stored. Rejects if its
   * description is not onelog's, or if it could not be read whole and matching its digest in
   * {@link READ_TRIES} tries (invariant 4).
   */
  async latest(partition: number): Promise<PartitionSnapshot | undefined> {
    const name = objectName(partition);
    for (let tries = 1; ; tries++) {
      const got = await retrying(() => this.#os.get(name), this.#retryMs);
      if (got === null) return undefined;
      // The description of the object being read, not of one read before (it may be replaced).
      const description = descriptionOf(got.info.description);
      if (description === undefined || description.partition !== partition) {
        void got.data.cancel().catch(() => {});
        throw new Error(
          `snapshot ${name}: its description ${JSON.stringify(got.info.description)} is not onelog's`,
        );
      }
      const withinMs = this.#readBaseMs + got.info.size / READ_BYTES_PER_MS;
      let bytes: Uint8Array | undefined;
      try {
        bytes = await readWithin(got, withinMs);
      } catch (error) {
        // A digest that does not match: damaged, or (rarely) replaced under the read. Read again;
        // damage that stays fails after READ_TRIES.
        if (tries >= READ_TRIES) {
          throw new Error(`snapshot ${name}: ${READ_TRIES} reads failed, the last with: ${String(error)}`);
        }
        continue;
      }
      if (bytes !== undefined) {
        return { partition, appliedLsn: description.appliedLsn, format: description.format, bytes };
      }
      if (tries >= READ_TRIES) {
        throw new Error(
          `snapshot ${name}: not read whole in ${READ_TRIES} tries of ${Math.round(withinMs)} ms`,
        );
      }
      // Replaced while it was read: read the newer one.
    }
  }

  #info(name: string) {
    return retrying(() => this.#os.info(name), this.#retryMs);
  }

  /** The applied LSN of a partition's stored snapshot (0 where there is none), from its description alone. */
  async appliedLsn(partition: number): Promise<number> {
    const info = await this.#info(objectName(partition));
    return info === null || info.deleted ? 0 : (descriptionOf(info.description)?.appliedLsn ?? 0);
  }
}

function objectName(partition: number): string {
  return `partition-${partition}`;
}

function descriptionOf(text: string | undefined): Description | undefined {
  if (text === undefined) return undefined;
  try {
    const d = JSON.parse(text) as Partial<Description>;
    if (
      Number.isSafeInteger(d.partition) &&
      Number.isSafeInteger(d.appliedLsn) &&
      Number.isSafeInteger(d.format) &&
      (d.appliedLsn ?? -1) >= 0
    ) {
      return d as Description;
    }
  } catch {
    // Not ours.
  }
  return undefined;
}

/**
 * The object's bytes, or undefined if they did not all arrive within `ms` (the read is cancelled).
 * Rejects if they arrived and fail the object store's digest check.
 */
async function readWithin(got: ObjectResult, ms: number): Promise<Uint8Array | undefined> {
  const reader = got.data.getReader();
  const chunks: Uint8Array[] = [];
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), ms)));
  try {
    for (;;) {
      const next = await Promise.race([reader.read(), late]);
      if (next === "late") {
        void reader.cancel().catch(() => {});
        return undefined;
      }
      if (next.done) break;
      if (next.value.length > 0) chunks.push(next.value);
    }
  } finally {
    clearTimeout(timer);
  }
  const error = await got.error;
  if (error) throw error;
  return Buffer.concat(chunks);
}
