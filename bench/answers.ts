/**
 * The answers the HTTP workloads expect, shared by the driver's checks, the bare-HTTP baseline
 * and every copy of the services (bench/services.ts for onelog, bench/restate-services.ts for
 * the Restate SDK). Plain functions with no imports, so a process that loads them loads no SDK.
 */

/** What a `Flow.run` request carries. */
export interface FlowInput {
  readonly n: number;
}

/** What `Flow.run` answers. */
export interface FlowOutput {
  readonly id: string;
  readonly total: number;
}

/** The answer `Flow.run` gives for an id and input, also computed by the driver to verify it. */
export function flowOutput(id: string, input: FlowInput): FlowOutput {
  return { id, total: (input.n + 1) * 2 };
}

/** The answer `Greeter.greet` gives for a name (examples/greeter.ts). */
export function greeting(name: string): string {
  return `Hello, ${name}!`;
}
