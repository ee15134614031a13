/**
 * How log entries travel in JetStream messages: one message carries one or more entries (one
 * append call, or several calls made in one turn of the event loop: the group commit), so that an
 * append is atomic without JetStream's atomic batches (which nats-server 2.9 lacks).
 *
 * A message body is a sequence of frames, one per entry, in LSN order:
 *
 *     u8 flags (1: leaderEpoch present, 2: dedup present)
 *     [f64 leaderEpoch]                                   if flags & 1
 *     [u32 producer length, producer UTF-8, f64 seq]      if flags & 2
 *     u32 payload length, payload bytes
 *
 * Numbers are little-endian; epochs and dedup seqs are integers up to 2^53, exact in an f64. The
 * message's first LSN, entry count and a CRC32 of the body travel in message headers (see
 * jetstream-log.ts), so a reader can place a message without decoding it.
 */
import { crc32 } from "node:zlib";
import type { EntryHeader, LogEntry } from "onelog/internal";

const FLAG_EPOCH = 1;
const FLAG_DEDUP = 2;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** The encoded size of one entry's frame, in bytes. */
function frameSize(entry: LogEntry, producerBytes: number | undefined): number {
  let size = 1 + 4 + entry.payload.byteLength;
  if (entry.header.leaderEpoch !== undefined) size += 8;
  if (producerBytes !== undefined) size += 4 + producerBytes + 8;
  return size;
}

/**
 * Encodes entries into one message body.
 *
 * @example
 * const body = encodeEntries([{ header: { leaderEpoch: 3 }, payload }]);
 */
export function encodeEntries(entries: readonly LogEntry[]): Uint8Array {
  const producers = entries.map((e) =>
    e.header.dedup === undefined ? undefined : encoder.encode(e.header.dedup.producer),
  );
  let size = 0;
  entries.forEach((e, i) => (size += frameSize(e, producers[i]?.byteLength)));
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 0;
  entries.forEach((entry, i) => {
    const { leaderEpoch, dedup } = entry.header;
    const producer = producers[i];
    view.setUint8(at, (leaderEpoch !== undefined ? FLAG_EPOCH : 0) | (dedup !== undefined ? FLAG_DEDUP : 0));
    at += 1;
    if (leaderEpoch !== undefined) {
      view.setFloat64(at, leaderEpoch, true);
      at += 8;
    }
    if (dedup !== undefined && producer !== undefined) {
      view.setUint32(at, producer.byteLength, true);
      at += 4;
      out.set(producer, at);
      at += producer.byteLength;
      view.setFloat64(at, dedup.seq, true);
      at += 8;
    }
    view.setUint32(at, entry.payload.byteLength, true);
    at += 4;
    out.set(entry.payload, at);
    at += entry.payload.byteLength;
  });
  return out;
}

/** The encoded size of entries, without encoding them (to keep a message under max_payload). */
export function encodedSize(entries: readonly LogEntry[]): number {
  let size = 0;
  for (const e of entries) {
    const producer = e.header.dedup?.producer;
    size += frameSize(e, producer === undefined ? undefined : Buffer.byteLength(producer, "utf8"));
  }
  return size;
}

/**
 * Decodes a message body into its entries; `count` is the entry count from the message header.
 * Payloads are views into `body` (no copy): readers treat them as read-only (Log.2). Throws an
 * Error naming the problem if the body does not hold exactly `count` well-formed frames.
 */
export function decodeEntries(body: Uint8Array, count: number): LogEntry[] {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const entries: LogEntry[] = [];
  let at = 0;
  const need = (n: number): void => {
    if (at + n > body.byteLength) throw new Error(`truncated frame ${entries.length + 1} of ${count}`);
  };
  for (let i = 0; i < count; i++) {
    need(1);
    const flags = view.getUint8(at);
    at += 1;
    if ((flags & ~(FLAG_EPOCH | FLAG_DEDUP)) !== 0)
      throw new Error(`unknown flags ${flags} in frame ${i + 1}`);
    let header: EntryHeader = {};
    if ((flags & FLAG_EPOCH) !== 0) {
      need(8);
      header = { leaderEpoch: view.getFloat64(at, true) };
      at += 8;
    }
    if ((flags & FLAG_DEDUP) !== 0) {
      need(4);
      const length = view.getUint32(at, true);
      at += 4;
      need(length + 8);
      const producer = decoder.decode(body.subarray(at, at + length));
      at += length;
      const seq = view.getFloat64(at, true);
      at += 8;
      header = { ...header, dedup: { producer, seq } };
    }
    need(4);
    const length = view.getUint32(at, true);
    at += 4;
    need(length);
    entries.push({ header, payload: body.subarray(at, at + length) });
    at += length;
  }
  if (at !== body.byteLength) throw new Error(`${body.byteLength - at} bytes after the last frame`);
  return entries;
}

/** The checksum a message carries over its body (header `Onelog-Crc`). */
export function bodyChecksum(body: Uint8Array): number {
  return crc32(body);
}
