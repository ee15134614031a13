/**
 * Randomness for the engine's outer parts (new invocation ids). Injected like the {@link Clock}
 * so the deterministic simulator can run the engine from one seed; `apply` never sees it.
 */
import { randomFillSync } from "node:crypto";

export interface Random {
  /** `bytes` random bytes as lowercase hex (2 × bytes characters). */
  hex(bytes: number): string;
}

/** The process's cryptographic randomness, drawn from a pool refilled 4 KiB at a time (one syscall for many ids). */
export function systemRandom(): Random {
  const pool = Buffer.alloc(4096);
  let poolAt = pool.length;
  return {
    hex(bytes: number): string {
      if (bytes > pool.length) throw new RangeError(`at most ${pool.length} random bytes at a time`);
      if (poolAt + bytes > pool.length) {
        randomFillSync(pool);
        poolAt = 0;
      }
      const hex = pool.toString("hex", poolAt, poolAt + bytes);
      poolAt += bytes;
      return hex;
    },
  };
}
