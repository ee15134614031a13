/**
 * The workloads `npm run bench -- --scaling` adds to Greeter.greet, Counter.add and Flow.run
 * (bench/workloads.ts): what each request sends to the scaling services
 * (bench/scaling-services.ts) and how every answer is checked.
 */
import { greeting } from "./answers.js";
import { stepsOutput } from "./scaling-services.js";
import { fixed } from "./stats.js";
import type { HttpWorkload } from "./workloads.js";

/** Keys the state-size workload spreads its requests over, as Counter.add does. */
export const BLOB_KEYS = 100;

/** What the driver sends and checks, and a name for the tables. */
export type Workload = Pick<HttpWorkload, "request" | "checker"> & { readonly name: string };

function expectJson(status: number, body: string, expected: unknown): string | undefined {
  const want = JSON.stringify(expected);
  if (status !== 200 || body !== want) return `expected 200 ${want}, got ${status} ${body.slice(0, 200)}`;
  return undefined;
}

/** `Blob.put` of a value of `size` bytes over BLOB_KEYS keys; each key's answers must be 1..n, as Counter.add's. */
export function blobWorkload(size: number): Workload {
  return {
    name: `Blob.put ${sizeLabel(size)}`,
    request: (i, tag) => ({ path: `/Blob/${tag}-k${i % BLOB_KEYS}/put`, body: String(size) }),
    checker: () => {
      const seen = Array.from({ length: BLOB_KEYS }, () => [] as number[]);
      return {
        check: (i, status, body) => {
          const value = Number(body);
          if (status !== 200 || !Number.isInteger(value) || body !== String(value)) {
            return `expected 200 and an integer, got ${status} ${body.slice(0, 200)}`;
          }
          seen[i % BLOB_KEYS]!.push(value);
          return undefined;
        },
        finish: () =>
          seen.flatMap((values, key) => {
            values.sort((a, b) => a - b);
            const bad = values.findIndex((v, j) => v !== j + 1);
            return bad === -1
              ? []
              : [
                  `key k${key}: answers are not 1..${values.length}: at position ${bad + 1} got ${values[bad]}`,
                ];
          }),
      };
    },
  };
}

/** `Steps.run` with `steps` steps, a new workflow id per request. */
export function stepsWorkload(steps: number): Workload {
  return {
    name: `Steps.run ×${steps}`,
    request: (i, tag) => ({ path: `/Steps/${tag}-${i}/run`, body: JSON.stringify({ n: i, steps }) }),
    checker: (tag) => ({
      check: (i, status, body) => expectJson(status, body, stepsOutput(`${tag}-${i}`, { n: i, steps })),
      finish: () => [],
    }),
  };
}

/** `Ephemeral.greet`: Greeter's answer from a service that keeps nothing once it answered. */
export const ephemeralWorkload: Workload = {
  name: "Ephemeral.greet",
  request: (i, tag) => ({ path: "/Ephemeral/greet", body: JSON.stringify(`${tag}-${i}`) }),
  checker: (tag) => ({
    check: (i, status, body) => expectJson(status, body, greeting(`${tag}-${i}`)),
    finish: () => [],
  }),
};

export function sizeLabel(bytes: number): string {
  return bytes >= 1024 * 1024
    ? `${fixed(bytes / 1024 / 1024, 0)} MB`
    : bytes >= 1024
      ? `${fixed(bytes / 1024, 0)} KB`
      : `${bytes} B`;
}
