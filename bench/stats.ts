/** Small numeric helpers of the bench: percentiles and formatting. */

/** Latency percentiles of a set of requests (or appends), in ms. */
export interface Latency {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

/** The q-quantile (0 < q ≤ 1) of ascending values by the nearest-rank method; NaN if empty. */
export function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1]!;
}

/** Latency percentiles of unsorted samples in ms. */
export function latencyOf(samples: readonly number[]): Latency {
  const sorted = Float64Array.from(samples).sort();
  return {
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    maxMs: sorted.length === 0 ? NaN : sorted[sorted.length - 1]!,
  };
}

/** A number with thousands separators and no decimals (`12,345`), or `–` for NaN. */
export function int(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "–";
}

/** A number with `digits` decimals, or `–` for NaN. */
export function fixed(n: number, digits: number): string {
  return Number.isFinite(n) ? n.toFixed(digits) : "–";
}

/** Bytes as MB (10^6 bytes, the unit of the targets) with one decimal. */
export function mb(bytes: number): string {
  return fixed(bytes / 1e6, 1);
}

/** A ratio as a percentage (`48%`). */
export function pct(ratio: number): string {
  return Number.isFinite(ratio) ? `${Math.round(ratio * 100)}%` : "–";
}
