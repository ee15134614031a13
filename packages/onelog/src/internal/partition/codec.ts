/**
 * The record codec: turns a partition's records into log entries (a payload plus the small
 * header the log carries) and back. The log never sees a record type (log/log.ts); this module
 * is the only place that knows how a record is laid out in bytes.
 *
 * Layout: the payload is the msgpack array `[RECORD_FORMAT, at, body]` (msgpackr, maps with
 * record structures off, so the bytes are self-describing and stable across processes). Its
 * first two bytes are therefore `0x93` (an array of 3) and the format version, so a reader checks
 * the version before decoding anything, and the encoder writes it without copying the payload.
 * `at` (the proposer's clock) is in the payload, not the log header: only apply reads it, and the
 * log has no use for it. The leader epoch and the dedup key are in the log header, where a log
 * may act on them (fencing, deduplication) without decoding.
 *
 * A payload written before format versions (format 1: the msgpack map `{ header, body }`, first
 * bytes 0xde 0x00 0x02) or by a newer onelog is refused with a DataFormatError (OL1022), never misread.
 */
import { Packr } from "msgpackr";
import { DataFormatError, RECORD_FORMAT } from "../format-versions.js";
import type { DedupKey, EntryHeader, LogEntry, StoredEntry } from "../log/log.js";
import type { LogRecord, ProposedRecord, RecordBody, RecordHeader } from "./records.js";

// Measured (docs/architecture.md, "Measured sizes"): an `end` effect is 124 bytes, `cancel` 85;
// the body's field names are still about half of every payload.
const packr = new Packr({ useRecords: false, moreTypes: false, bundleStrings: false });

/** msgpack's fixarray marker for 3 elements: the first byte of every payload of this format. */
const ARRAY_OF_3 = 0x93;

/**
 * Encodes a record into a log entry: the payload (format version, time, body) and the header
 * (leader epoch, dedup). Throws if the body cannot be encoded (a value msgpack has no type for).
 *
 * @example
 * await log.append(p, [encodeRecord({ header: { at: clock.now() }, body })]);
 */
export function encodeRecord(record: ProposedRecord): LogEntry {
  const { at, leaderEpoch, dedup } = record.header;
  const payload = packr.pack([RECORD_FORMAT, at, record.body]);
  return { header: entryHeader(leaderEpoch, dedup), payload };
}

/** No header at all: shared, since headers are read-only once made (Log.2). */
const NO_HEADER: EntryHeader = Object.freeze({});

// Explicit branches rather than conditional spreads: this runs twice per record on the hot path.
function entryHeader(leaderEpoch: number | undefined, dedup: DedupKey | undefined): EntryHeader {
  if (leaderEpoch === undefined) return dedup === undefined ? NO_HEADER : { dedup };
  return dedup === undefined ? { leaderEpoch } : { leaderEpoch, dedup };
}

/** The format version a payload declares: 1 for a pre-version payload, "unknown" for garbage. */
export function recordFormatOf(payload: Uint8Array): number | "unknown" {
  const first = payload[0];
  if (first === ARRAY_OF_3 && payload.length > 1 && payload[1]! <= 0x7f) return payload[1]!;
  // Format 1 was the msgpack map { header, body }: msgpackr writes it as a map16 of 2 entries
  // (0xde 0x00 0x02); a fixmap of 2 (0x82) is the same map from another encoder.
  if ((first === 0xde && payload[1] === 0 && payload[2] === 2) || first === 0x82) return 1;
  return "unknown";
}

/**
 * Decodes an entry read from the log into a record. Throws DataFormatError (OL1022) when the
 * payload has another format version, and an Error when its bytes do not decode.
 *
 * @example
 * for await (const batch of log.read(p, from, signal)) records.push(...batch.map(decodeRecord));
 */
export function decodeRecord(entry: StoredEntry): LogRecord {
  const payload = entry.payload;
  if (payload[0] !== ARRAY_OF_3 || payload[1] !== RECORD_FORMAT) {
    throw new DataFormatError(`log entry at LSN ${entry.lsn}`, recordFormatOf(payload), RECORD_FORMAT);
  }
  const [, at, body] = packr.unpack(payload) as [number, number, RecordBody];
  const { leaderEpoch, dedup } = entry.header;
  let header: RecordHeader;
  if (leaderEpoch === undefined) header = dedup === undefined ? { at } : { at, dedup };
  else header = dedup === undefined ? { at, leaderEpoch } : { at, leaderEpoch, dedup };
  return { lsn: entry.lsn, header, body };
}
