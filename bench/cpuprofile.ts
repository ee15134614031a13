// The parts of V8's `.cpuprofile` format (written by `node --cpu-prof`) that
// bench/profile-summary.ts and bench/flamegraph.ts read.

export interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}

export interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}
