/**
 * A flame graph of a `.cpuprofile` (from `npm run bench -- --profile`) as an SVG picture: each
 * box is a function, as wide as the share of the busy time spent in it and what it called, on
 * top of its caller. Idle time is left out; boxes are coloured by the layer they belong to (the
 * same places bench/profile-summary.ts charges samples to), and a box's tooltip gives its
 * function, file and share. docs/benchmarks.md shows the pictures this writes.
 *
 *   node --import tsx bench/flamegraph.ts <file.cpuprofile> <out.svg> [title]
 */
import { readFileSync, writeFileSync } from "node:fs";
import type { Profile, ProfileNode } from "./cpuprofile.js";

/** A merged frame of the graph: the same function under the same caller path is one box. */
interface Box {
  readonly name: string;
  readonly file: string;
  total: number;
  readonly children: Map<string, Box>;
}

const WIDTH = 1200;
const ROW = 16;
const MIN_PX = 0.3;

/** The repository-relative file of a frame, or its runtime place. */
function fileOf(url: string): string {
  const repo = /\/(packages\/[^/]+\/(?:src|dist)\/.+|examples\/.+|bench\/.+)$/.exec(url);
  if (repo !== null) return repo[1]!;
  const dep = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (dep !== null) return dep[1]!;
  if (url.startsWith("node:")) return url;
  return url === "" ? "(native)" : url.replace(/^.*\//, "");
}

/** The layer a box is coloured by. */
function colourOf(file: string, name: string): string {
  if (name === "(garbage collector)") return "#b0b0b0";
  if (/internal\/partition\/store\//.test(file)) return "#e4572e";
  if (/internal\/log\//.test(file)) return "#f3a712";
  if (/internal\/http\/|^node:(_http|http|net)/.test(file)) return "#29335c";
  if (/packages\/sdk\//.test(file)) return "#669bbc";
  if (/invoker\//.test(file)) return "#8e7dbe";
  if (/partition\//.test(file)) return "#a8c686";
  if (/^(examples|bench)\//.test(file)) return "#2a9d8f";
  if (/^packages\//.test(file)) return "#c9ada7";
  return "#dddddd";
}

function build(profile: Profile): Box {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const root: Box = { name: "all", file: "", total: 0, children: new Map() };
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    const stack: ProfileNode[] = [];
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur))
      stack.push(byId.get(cur)!);
    stack.reverse();
    const leaf = stack[stack.length - 1]!.callFrame.functionName;
    if (leaf === "(idle)" || leaf === "(program)") return;
    root.total += dt;
    let box = root;
    for (const node of stack) {
      const { functionName, url, lineNumber } = node.callFrame;
      if (functionName === "(root)") continue;
      const name = functionName === "" ? "(anonymous)" : functionName;
      const file = fileOf(url);
      const key = `${name}\0${file}:${lineNumber + 1}`;
      let child = box.children.get(key);
      if (child === undefined) {
        child = {
          name,
          file: url === "" ? file : `${file}:${lineNumber + 1}`,
          total: 0,
          children: new Map(),
        };
        box.children.set(key, child);
      }
      child.total += dt;
      box = child;
    }
  });
  return root;
}

const escape = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** Renders the boxes, callers at the bottom (a flame graph). */
function render(root: Box, title: string): string {
  let depth = 0;
  const measure = (b: Box, d: number): void => {
    depth = Math.max(depth, d);
    for (const c of b.children.values()) if ((c.total / root.total) * WIDTH >= MIN_PX) measure(c, d + 1);
  };
  measure(root, 0);
  const height = (depth + 1) * ROW + 40;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" font-family="Verdana, sans-serif" font-size="10">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="4" y="16" font-size="13">${escape(title)}</text>`,
  ];
  const draw = (b: Box, x: number, d: number): void => {
    const w = (b.total / root.total) * WIDTH;
    if (w < MIN_PX) return;
    const y = height - (d + 1) * ROW;
    const share = ((100 * b.total) / root.total).toFixed(1);
    out.push(
      `<g><title>${escape(`${b.name} ${b.file} — ${share}% of busy time`)}</title>` +
        `<rect x="${x.toFixed(2)}" y="${y}" width="${w.toFixed(2)}" height="${ROW - 1}" fill="${colourOf(b.file, b.name)}"/>` +
        (w > 40
          ? `<text x="${(x + 2).toFixed(2)}" y="${y + ROW - 4}" fill="${d === 0 ? "#000" : "#111"}">${escape(
              `${b.name} ${share}%`.slice(0, Math.floor(w / 6)),
            )}</text>`
          : "") +
        `</g>`,
    );
    let cx = x;
    for (const c of [...b.children.values()].sort((p, q) => q.total - p.total)) {
      draw(c, cx, d + 1);
      cx += (c.total / root.total) * WIDTH;
    }
  };
  draw(root, 0, 0);
  const legend: [string, string][] = [
    ["store", "#e4572e"],
    ["log", "#f3a712"],
    ["HTTP", "#29335c"],
    ["SDK", "#669bbc"],
    ["invoker", "#8e7dbe"],
    ["partition", "#a8c686"],
    ["handlers", "#2a9d8f"],
    ["GC", "#b0b0b0"],
    ["runtime, deps", "#dddddd"],
  ];
  legend.forEach(([label, colour], i) => {
    const x = WIDTH - 9 * 120 + i * 120;
    out.push(
      `<rect x="${x}" y="6" width="10" height="10" fill="${colour}"/><text x="${x + 14}" y="15">${label}</text>`,
    );
  });
  out.push("</svg>");
  return out.join("\n");
}

const [file, outFile, title] = process.argv.slice(2);
if (file === undefined || outFile === undefined) {
  console.error("usage: node --import tsx bench/flamegraph.ts <file.cpuprofile> <out.svg> [title]");
  process.exit(2);
}
const root = build(JSON.parse(readFileSync(file, "utf8")) as Profile);
writeFileSync(outFile, render(root, title ?? `${file}: ${(root.total / 1e6).toFixed(2)} s busy`) + "\n");
console.log(`wrote ${outFile}: ${(root.total / 1e6).toFixed(2)} s of busy time`);
