// Proves reading a partition's latest snapshot from the JetStream object store (packages/nats snapshots.ts, invariant 4) never waits for good, on a real nats-server: a snapshot whose chunks are gone (as when a newer snapshot replaces it while it is read, and the object store purges the old chunks) fails the read after its tries, and the newer one reads whole; so does one whose bytes do not match its digest (damaged); and reads racing a writer that replaces the snapshot again and again all end with a whole snapshot, the one their description names.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import { JetStreamSnapshots } from "../../packages/nats/src/index.js";
import { natsSkip, startNats, type NatsCluster } from "./nats-harness.js";

const skip = natsSkip();
const BUCKET = "snap-test";

/** A snapshot of partition 0 whose bytes all equal `lsn % 251` (so a whole one is recognisable). */
function snapshot(lsn: number, size: number) {
  return { partition: 0, appliedLsn: lsn, format: 1, bytes: new Uint8Array(size).fill(lsn % 251) };
}

void describe("partition snapshots in the object store", { skip, timeout: 120_000 }, () => {
  let nats: NatsCluster;
  let nc: NatsConnection;
  before(async () => {
    nats = await startNats({ servers: 1 });
    nc = await connect({ servers: nats.urls });
  });
  after(async () => {
    await nc?.close();
    await nats?.stop();
  });

  it("a snapshot whose chunks are gone fails its read in bounded time; a newer one reads whole", async () => {
    const snapshots = await JetStreamSnapshots.open({ connection: nc, bucket: BUCKET, readBaseMs: 300 });
    await snapshots.put(snapshot(10, 200_000));
    // Purge the object's chunks, leaving its meta entry: what a reader of a replaced snapshot meets.
    const os = await new Objm(nc).open(BUCKET);
    const info = await os.info("partition-0");
    assert.ok(info !== null);
    const jsm = await jetstreamManager(nc);
    await jsm.streams.purge(`OBJ_${BUCKET}`, { filter: `$O.${BUCKET}.C.${info.nuid}` });
    const started = performance.now();
    await assert.rejects(snapshots.latest(0), /not read whole in 5 tries/);
    const tookMs = performance.now() - started;
    assert.ok(tookMs < 10_000, `the read gave up after ${Math.round(tookMs)} ms`);
    await snapshots.put(snapshot(20, 200_000));
    const latest = await snapshots.latest(0);
    assert.equal(latest?.appliedLsn, 20);
    assert.ok(
      latest.bytes.every((b) => b === 20),
      "the newer snapshot, whole",
    );
  });

  it("a snapshot whose bytes do not match its digest fails its read after its tries; a newer one reads whole", async () => {
    const bucket = `${BUCKET}-damaged`;
    const snapshots = await JetStreamSnapshots.open({ connection: nc, bucket, readBaseMs: 300 });
    await snapshots.put(snapshot(10, 1_000));
    // Replace the object's one chunk with other bytes of the same length: a damaged object.
    const os = await new Objm(nc).open(bucket);
    const info = await os.info("partition-0");
    assert.ok(info !== null);
    assert.equal(info.chunks, 1);
    const chunkSubject = `$O.${bucket}.C.${info.nuid}`;
    const jsm = await jetstreamManager(nc);
    await jsm.streams.purge(`OBJ_${bucket}`, { filter: chunkSubject });
    await jetstream(nc).publish(chunkSubject, new Uint8Array(1_000).fill(99));
    await assert.rejects(snapshots.latest(0), /5 reads failed, the last with: .*digest/i);
    await snapshots.put(snapshot(20, 1_000));
    const latest = await snapshots.latest(0);
    assert.equal(latest?.appliedLsn, 20);
    assert.ok(
      latest.bytes.every((b) => b === 20),
      "the newer snapshot, whole",
    );
  });

  it("reads racing a writer that keeps replacing the snapshot each end with a whole one", async () => {
    const snapshots = await JetStreamSnapshots.open({
      connection: nc,
      bucket: `${BUCKET}-race`,
      readBaseMs: 300,
    });
    await snapshots.put(snapshot(1, 1_000_000));
    let writing = true;
    const writer = (async () => {
      for (let lsn = 2; writing; lsn++) await snapshots.put(snapshot(lsn, 1_000_000));
    })();
    try {
      for (let i = 0; i < 20; i++) {
        const got = await snapshots.latest(0);
        assert.ok(got !== undefined);
        assert.equal(got.bytes.length, 1_000_000);
        assert.ok(
          got.bytes.every((b) => b === got.appliedLsn % 251),
          `read ${i}: the bytes are those of the snapshot at LSN ${got.appliedLsn}`,
        );
      }
    } finally {
      writing = false;
      await writer;
    }
  });
});
