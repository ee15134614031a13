/**
 * The HTTP workloads: their names and ingress paths are fixed so results compare across
 * versions. Each request is numbered; a workload says what to send for request i and checks
 * every answer (status and body), also the ones of the warm-up.
 */
import { flowOutput, greeting } from "./answers.js";

/** Checks the answers of one run of a workload. */
export interface Checker {
  /** Checks one answer; returns what is wrong with it, or undefined. */
  check(i: number, status: number, body: string): string | undefined;
  /** Checks what only all answers together show; returns the problems found. */
  finish(): string[];
}

export interface HttpWorkload {
  readonly name: "Greeter.greet" | "Counter.add" | "Flow.run";
  /** The path pattern, for the report. */
  readonly path: string;
  /** The path and JSON body of request i of a run tagged `tag` (unique per run). */
  request(i: number, tag: string): { readonly path: string; readonly body: string };
  checker(tag: string): Checker;
}

/** Keys `Counter.add` spreads its requests over. */
export const COUNTER_KEYS = 100;

function expectJson(status: number, body: string, expected: unknown): string | undefined {
  const want = JSON.stringify(expected);
  if (status !== 200 || body !== want) return `expected 200 ${want}, got ${status} ${body.slice(0, 200)}`;
  return undefined;
}

const greet: HttpWorkload = {
  name: "Greeter.greet",
  path: "POST /Greeter/greet",
  request: (i, tag) => ({ path: "/Greeter/greet", body: JSON.stringify(`${tag}-${i}`) }),
  checker: (tag) => ({
    check: (i, status, body) => expectJson(status, body, greeting(`${tag}-${i}`)),
    finish: () => [],
  }),
};

/**
 * Request i adds 1 to key i mod K (keys fresh per run). The answers of one key must be exactly
 * 1, 2, …, n in some order: none lost, none counted twice.
 */
const add: HttpWorkload = {
  name: "Counter.add",
  path: "POST /Counter/{key}/add",
  request: (i, tag) => ({ path: `/Counter/${tag}-k${i % COUNTER_KEYS}/add`, body: "1" }),
  checker: () => {
    const seen = Array.from({ length: COUNTER_KEYS }, () => [] as number[]);
    return {
      check: (i, status, body) => {
        const value = Number(body);
        if (status !== 200 || !Number.isInteger(value) || body !== String(value)) {
          return `expected 200 and an integer, got ${status} ${body.slice(0, 200)}`;
        }
        seen[i % COUNTER_KEYS]!.push(value);
        return undefined;
      },
      finish: () => {
        const problems: string[] = [];
        seen.forEach((values, key) => {
          values.sort((a, b) => a - b);
          const bad = values.findIndex((v, j) => v !== j + 1);
          if (bad !== -1) {
            problems.push(
              `key k${key}: answers are not 1..${values.length}: at position ${bad + 1} got ${values[bad]}`,
            );
          }
        });
        return problems;
      },
    };
  },
};

const run: HttpWorkload = {
  name: "Flow.run",
  path: "POST /Flow/{id}/run",
  request: (i, tag) => ({ path: `/Flow/${tag}-${i}/run`, body: JSON.stringify({ n: i }) }),
  checker: (tag) => ({
    check: (i, status, body) => expectJson(status, body, flowOutput(`${tag}-${i}`, { n: i })),
    finish: () => [],
  }),
};

export const HTTP_WORKLOADS: readonly HttpWorkload[] = [greet, add, run];
