/**
 * Where a server's CPU went: summarizes a `.cpuprofile` written by `npm run bench -- --profile`
 * (bench/results/profiles/, one per server; the `.0.001` file of a process is its main thread).
 * Each sample is charged to the nearest frame in this repository's code (engine, SDK, examples,
 * bench), else to what Node was doing (GC, idle, HTTP, …); native SQLite work is charged to the
 * engine file that called it.
 *
 *   node --import tsx bench/profile-summary.ts bench/results/profiles/CPU.….0.001.cpuprofile
 */
import type { Profile, ProfileNode } from "./cpuprofile.js";
import { readFileSync } from "node:fs";

/** The place a frame is charged to, or undefined to look further up the stack. */
function placeOf(frame: ProfileNode["callFrame"]): string | undefined {
  // Sources under tsx, or the compiled packages (dist) of `--runtime compiled`.
  const repo = /\/(packages\/[^/]+\/(?:src|dist)\/.+|examples\/.+|bench\/.+)$/.exec(frame.url);
  if (repo !== null) {
    return repo[1]!
      .replace(/^packages\/([^/]+)\/(?:src|dist)\/(internal\/)?/, "$1: ")
      .replace(/\.js$/, ".ts");
  }
  return undefined;
}

/** What Node was doing when no frame of the repository is on the stack. */
function runtimeOf(leaf: ProfileNode["callFrame"]): string {
  const name = leaf.functionName;
  if (name === "(garbage collector)" || name === "(idle)" || name === "(program)") return name;
  if (/node:(_http|http|net|stream|internal\/(http|stream|net))/.test(leaf.url) || name === "writev") {
    return "node: http and sockets";
  }
  if (/undici|llhttp/.test(leaf.url)) return "node: http and sockets";
  return "node: other (timers, promises, module loading)";
}

function summarize(profile: Profile): [string, number][] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const totals = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    const leaf = byId.get(id)!;
    let place: string | undefined;
    for (let cur: number | undefined = id; cur !== undefined && place === undefined; cur = parent.get(cur)) {
      place = placeOf(byId.get(cur)!.callFrame);
    }
    place ??= runtimeOf(leaf.callFrame);
    totals.set(place, (totals.get(place) ?? 0) + dt);
  });
  return [...totals].sort((a, b) => b[1] - a[1]);
}

const [file, usArg] = process.argv.slice(2);
if (file === undefined) {
  console.error(
    "usage: node --import tsx bench/profile-summary.ts <file.cpuprofile> [main-thread µs per request]",
  );
  process.exit(2);
}
// With the main thread's CPU per request (e.g. the bench's server µs/req), each share becomes µs.
const usPerRequest = usArg === undefined ? undefined : Number(usArg);
const rows = summarize(JSON.parse(readFileSync(file, "utf8")) as Profile);
const total = rows.reduce((sum, [, t]) => sum + t, 0);
const busy = rows.filter(([place]) => place !== "(idle)").reduce((sum, [, t]) => sum + t, 0);
console.log(`${(total / 1e6).toFixed(1)} s sampled, ${((100 * busy) / total).toFixed(0)}% busy`);
console.log(
  usPerRequest === undefined
    ? "| where | % of busy |\n| --- | --: |"
    : "| where | % of busy | µs per request |\n| --- | --: | --: |",
);
for (const [place, t] of rows) {
  if (place === "(idle)" || t / busy < 0.005) continue;
  const share = t / busy;
  console.log(
    `| ${place} | ${(100 * share).toFixed(1)} |${usPerRequest === undefined ? "" : ` ${(share * usPerRequest).toFixed(0)} |`}`,
  );
}
