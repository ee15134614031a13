// Shared helpers of the integration tests that start onelog in-process and talk to it over HTTP.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after } from "node:test";
import type * as onelog from "onelog";

/** A logger that drops everything. */
export const silent: onelog.Logger = { debug() {}, info() {}, warn() {}, error() {} };

const tmpDirs: string[] = [];
after(() => {
  for (const dir of tmpDirs) fs.rmSync(dir, { recursive: true, force: true });
});

/** A new temp directory, removed when the test file ends. */
export function tmpDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tmpDirs.push(dir);
  return dir;
}

export type Reply = { status: number; headers: Headers; body: any };

/** Status, headers and the body, parsed when it is JSON. */
export async function read(res: Response): Promise<Reply> {
  const text = await res.text();
  let body: unknown = text;
  if (text !== "" && (res.headers.get("content-type") ?? "").includes("json")) body = JSON.parse(text);
  return { status: res.status, headers: res.headers, body };
}

/** POSTs a JSON value (undefined: no body) with optional headers. */
export async function post(
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Reply> {
  return read(
    await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    }),
  );
}

export async function get(url: string): Promise<Reply> {
  return read(await fetch(url));
}

/** Polls `probe` until it returns something other than undefined/false; fails after `limitMs`. */
export async function eventually<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  limitMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) assert.fail(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
