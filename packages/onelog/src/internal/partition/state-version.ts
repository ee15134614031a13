/**
 * The version of one object key's or workflow's state: a hash of its names and values, so an
 * operator's edit can say which state it was made against (admin `GET /state` answers it,
 * `PATCH /state` with `If-Match` refuses with 412 when the state has changed since). Apply
 * computes it when the patch is applied, so the check and the write are one step of the log.
 * Deterministic: the same entries give the same version on every replay and in every process.
 */
import { createHash } from "node:crypto";

const encoder = new TextEncoder();

/**
 * The version of a key's state from its entries (in any order): 16 hex digits.
 *
 * @example
 * stateVersion([["count", enc("5")]]); // "3f1c…" — the same for the same names and values
 */
export function stateVersion(entries: readonly (readonly [string, Uint8Array])[]): string {
  const named = entries.map(([name, value]) => [encoder.encode(name), value] as const);
  // Names in byte order, the same whichever store listed them.
  named.sort(([a], [b]) => Buffer.compare(a, b));
  const h = createHash("sha256");
  for (const [name, value] of named) {
    h.update(u32(name.length)).update(name).update(u32(value.length)).update(value);
  }
  return h.digest("hex").slice(0, 16);
}

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}
