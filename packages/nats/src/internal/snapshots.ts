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
 * 2. A snapshot is never replaced by one with a lower applied LSN (a deposed leader's late
 *    write is skipped), so the log's trim point, which follows the stored snapshot, is covered.
 * 3. The applied LSN, partition and store format travel in the object's description, checked
 *    on read together with the object store's SHA-256 digest of the bytes.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { Objm, type ObjectStore } from "@nats-io/obj";
import type { PartitionSnapshot } from "onelog/internal";
import { retrying } from "./nats-errors.js";

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

  private constructor(os: ObjectStore, retryMs: number) {
    this.#os = os;
    this.#retryMs = retryMs;
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
    return new JetStreamSnapshots(os, retryMs);
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
   * The latest snapshot of a partition, or undefined if none was stored. Rejects if the object
   * is damaged (its digest or description does not match).
   */
  async latest(partition: number): Promise<PartitionSnapshot | undefined> {
    const name = objectName(partition);
    const info = await this.#info(name);
    if (info === null || info.deleted) return undefined;
    const description = descriptionOf(info.description);
    if (description === undefined || description.partition !== partition) {
      throw new Error(
        `snapshot ${name}: its description ${JSON.stringify(info.description)} is not onelog's`,
      );
    }
    // getBlob checks the object store's SHA-256 digest and rejects on a mismatch.
    const bytes = await retrying(() => this.#os.getBlob(name), this.#retryMs);
    if (bytes === null) return undefined;
    return { partition, appliedLsn: description.appliedLsn, format: description.format, bytes };
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
