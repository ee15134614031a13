/**
 * The format versions of everything onelog writes to disk or to a log, in one place.
 *
 * Bumping one is a one-line change here. What follows from a bump, without further edits:
 * - `RECORD_FORMAT`: every record payload starts with this byte ({@link encodeRecord} in
 *   partition/codec.ts); a payload with another first byte is refused (never misread).
 * - `STORE_FORMAT`: `store.db` carries it as `PRAGMA user_version`; another value is refused.
 * - `LOG_FORMAT`: `log.db` carries it in its `log_meta` table; another value is refused.
 * - The data directory's `meta.json` records all three; {@link openDataDir} refuses a directory
 *   whose formats differ from these with {@link DataFormatError} (OL1022, docs/errors/OL1022.md)
 *   before any file is opened, so an older data directory is refused cleanly, not misread.
 *
 * Version 1 is what onelog wrote before format versions existed (no marker anywhere: a record
 * payload starting with a msgpack map, a `store.db` with `user_version` 0 and tables, a
 * `meta.json` with `"format": 1`). Readers detect that shape and name it "version 1".
 */

/** The encoding of a record payload (the partition's codec: version byte + msgpack). */
export const RECORD_FORMAT = 2;
/** The tables of the partition store (`store.db`), and of its snapshots. */
export const STORE_FORMAT = 2;
/** The layout of the SQLite log (`log.db`): columns, header encoding, checksums. */
export const LOG_FORMAT = 2;
/** The layout of the data directory itself (which files, `meta.json`'s fields). */
export const DATA_DIR_FORMAT = 2;

/**
 * Data this onelog cannot read: a data directory, store, log or record written by an older (or
 * newer) onelog. Code OL1022; the message names the thing, the version found and the version
 * this onelog reads, and docs/errors/OL1022.md says what to do. Thrown before anything is read,
 * so nothing is misread and nothing is changed on disk.
 *
 * @example
 * try { await onelog.start({ services }); } catch (e) { if (e instanceof DataFormatError) … }
 */
export class DataFormatError extends Error {
  readonly code = "OL1022";
  constructor(
    /** What was refused: "data directory /x/.onelog", "store /x/store.db", "log entry at LSN 7". */
    readonly subject: string,
    /** The format it has: a version, or "unknown" when it is not onelog's at all. */
    readonly found: number | "unknown",
    /** The format this onelog reads. */
    readonly expected: number,
    /** What to do, when there is more to say than the error page. */
    hint?: string,
  ) {
    super(
      `${subject} has format ${found === "unknown" ? "unknown (not written by onelog)" : found}; ` +
        `this onelog reads format ${expected}` +
        (typeof found === "number" && found < expected
          ? " — it was written by an older onelog"
          : typeof found === "number"
            ? " — it was written by a newer onelog"
            : "") +
        `. ${hint ?? "Refused without reading or changing it"} (OL1022, see docs/errors/OL1022.md)`,
    );
    this.name = "DataFormatError";
  }
}
