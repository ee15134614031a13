// Helpers for the admin, SQL, metrics, CLI and tracing tests: servers on temp data dirs and free
// ports, small HTTP calls, polling, and a Prometheus text parser.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import * as onelog from "onelog";

export const silent: onelog.Logger = { debug() {}, info() {}, warn() {}, error() {} };

const tmpDirs: string[] = [];

/** A new temporary directory, removed by {@link removeTmpDirs}. */
export function tmpDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `onelog-${prefix}-`));
  tmpDirs.push(dir);
  return dir;
}

export function removeTmpDirs(): void {
  for (const dir of tmpDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

/** onelog.start() on a temp data dir, free ports, a silent logger. */
export function startServer(
  services: readonly onelog.AnyDefinition[],
  more: Partial<onelog.StartOptions> = {},
): Promise<onelog.OnelogServer> {
  return onelog.start({
    services,
    dataDir: tmpDir("data"),
    ingressPort: 0,
    adminPort: 0,
    logger: silent,
    ...more,
  });
}

export type Reply = { status: number; headers: Headers; body: any; text: string };

/** One HTTP request; a JSON body is sent as JSON, a string as it is. */
export async function http(
  method: string,
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const res = await fetch(url, {
    method,
    headers: {
      ...(body === undefined || typeof body === "string" ? {} : { "content-type": "application/json" }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  let parsed: unknown = text;
  if (text !== "" && (res.headers.get("content-type") ?? "").includes("json")) parsed = JSON.parse(text);
  return { status: res.status, headers: res.headers, body: parsed, text };
}

/** `POST /query` and the rows; fails the test on an error answer. */
export async function query(adminUrl: string, sql: string, params?: unknown[]): Promise<any[]> {
  const r = await http("POST", `${adminUrl}/query`, {
    query: sql,
    ...(params === undefined ? {} : { params }),
  });
  assert.equal(r.status, 200, `query failed: ${r.text}`);
  return r.body.rows as any[];
}

/** Polls `probe` until it returns something other than undefined/false; fails after `limitMs`. */
export async function eventually<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  limitMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + limitMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      assert.fail(
        `never happened: ${what}${last === undefined ? "" : ` (last error: ${last instanceof Error ? last.message : JSON.stringify(last)})`}`,
      );
    await new Promise((r) => setTimeout(r, 20));
  }
}

export { freePort } from "../support/free-port.js";

/** One sample of a Prometheus text exposition. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Parses the Prometheus text format (what /metrics answers). */
export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    assert.ok(m !== null, `not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

/** The value of one sample, or undefined. */
export function sample(
  samples: readonly Sample[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    ?.value;
}
