// Proves the record codec splits a record into what the log carries (leader epoch, dedup header) and an opaque payload that starts with the format version, round-trips every field, and refuses payloads of another format (older, newer, or not onelog's) with DataFormatError instead of misreading them — by encoding and decoding records directly.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Packr } from "msgpackr";
import {
  decodeRecord,
  encodeRecord,
  recordFormatOf,
} from "../../packages/onelog/src/internal/partition/codec.js";
import { DataFormatError, RECORD_FORMAT } from "../../packages/onelog/src/internal/format-versions.js";
import type { ProposedRecord } from "../../packages/onelog/src/internal/partition/records.js";

const invoke: ProposedRecord = {
  header: { at: 1_700_000_000_123, leaderEpoch: 4, dedup: { producer: "p2", seq: 17 } },
  body: {
    type: "invoke",
    invocationId: "inv_0000000000000000000000000000000000000001",
    target: { service: "Account", handler: "deposit", key: "alice" },
    handlerKind: "exclusive",
    argument: new Uint8Array([1, 2, 3, 0, 255]),
    headers: { "content-type": "application/json" },
    retry: {
      initialIntervalMs: 50,
      factor: 2,
      maxIntervalMs: 60_000,
      maxAttempts: null,
      onMaxAttempts: "pause",
    },
    retentionMs: 86_400_000,
  },
};

void describe("record codec", () => {
  void it("puts leader epoch and dedup in the log header, time and body in the payload, and round-trips them", () => {
    const entry = encodeRecord(invoke);
    assert.deepEqual(entry.header, { leaderEpoch: 4, dedup: { producer: "p2", seq: 17 } });
    assert.equal(entry.payload[1], RECORD_FORMAT, "the second byte is the format version");
    assert.equal(recordFormatOf(entry.payload), RECORD_FORMAT);
    const back = decodeRecord({ ...entry, lsn: 9 });
    assert.equal(back.lsn, 9);
    assert.deepEqual(back.header, invoke.header);
    assert.ok(back.body.type === "invoke" && invoke.body.type === "invoke");
    assert.deepEqual(new Uint8Array(back.body.argument), invoke.body.argument);
    assert.deepEqual({ ...back.body, argument: null }, { ...invoke.body, argument: null });
  });

  void it("gives a record without epoch or dedup an empty header and reads it back with only `at`", () => {
    const record: ProposedRecord = { header: { at: 5 }, body: { type: "resume", invocationId: "inv_x" } };
    const entry = encodeRecord(record);
    assert.deepEqual(entry.header, {});
    assert.deepEqual(decodeRecord({ ...entry, lsn: 1 }), { ...record, lsn: 1 });
  });

  void it("refuses a payload with an unknown (newer) version byte with DataFormatError naming the LSN", () => {
    const entry = encodeRecord(invoke);
    const newer = Uint8Array.from(entry.payload);
    newer[1] = RECORD_FORMAT + 1;
    assert.throws(
      () => decodeRecord({ header: entry.header, payload: newer, lsn: 12 }),
      (e: unknown) =>
        e instanceof DataFormatError &&
        e.found === RECORD_FORMAT + 1 &&
        /LSN 12/.test(e.message) &&
        /newer onelog/.test(e.message) &&
        /OL1022/.test(e.message),
    );
  });

  void it("refuses a format-1 payload (onelog before versions: a msgpack map { header, body }) as format 1", () => {
    const v1 = new Packr({ useRecords: false, moreTypes: false, bundleStrings: false }).pack({
      header: { at: 1 },
      body: { type: "resume", invocationId: "inv_x" },
    });
    assert.equal(recordFormatOf(v1), 1);
    assert.throws(
      () => decodeRecord({ header: {}, payload: v1, lsn: 3 }),
      (e: unknown) => e instanceof DataFormatError && e.found === 1 && /older onelog/.test(e.message),
    );
  });

  void it("refuses bytes that are not a onelog record at all", () => {
    assert.throws(
      () => decodeRecord({ header: {}, payload: Buffer.from("hello"), lsn: 1 }),
      (e: unknown) => e instanceof DataFormatError && e.found === "unknown",
    );
    assert.throws(
      () => decodeRecord({ header: {}, payload: new Uint8Array(0), lsn: 1 }),
      (e: unknown) => e instanceof DataFormatError,
    );
  });

  void it("throws on a body msgpack cannot encode, before anything reaches a log", () => {
    const bad = { header: { at: 1 }, body: { type: "resume", invocationId: Symbol("x") } };
    assert.throws(() => encodeRecord(bad as unknown as ProposedRecord));
  });
});
