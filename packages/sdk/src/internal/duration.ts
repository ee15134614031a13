/**
 * The one duration type of the public API: a number of milliseconds, or an object of parts
 * (`{ seconds: 5 }`, `{ minutes: 1, seconds: 30 }`), as the Restate SDK takes it.
 */
export type Duration =
  | number
  | {
      readonly days?: number;
      readonly hours?: number;
      readonly minutes?: number;
      readonly seconds?: number;
      readonly milliseconds?: number;
    };

/** Converts a {@link Duration} to milliseconds; throws a TypeError on a negative or non-finite value. */
export function durationMs(d: Duration): number {
  const ms =
    typeof d === "number"
      ? d
      : (d.days ?? 0) * 86_400_000 +
        (d.hours ?? 0) * 3_600_000 +
        (d.minutes ?? 0) * 60_000 +
        (d.seconds ?? 0) * 1000 +
        (d.milliseconds ?? 0);
  if (!Number.isFinite(ms) || ms < 0) throw new TypeError(`invalid duration: ${JSON.stringify(d)}`);
  return ms;
}
