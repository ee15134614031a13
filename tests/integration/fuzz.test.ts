// Proves the ingress and the admin endpoint hold up against hostile input: fast-check generates arbitrary requests (methods, paths with unicode and malformed percent-encodings, dot and empty segments, delays, idempotency keys, bodies, framing) and raw protocol abuse, sends them over node:net to onelog in a child process (fuzz-server.ts), and checks each answer against a model: rejections are JSON 4xx/5xx that never reach the log, valid calls answer correctly, counters hold exactly what valid calls added, and the child never dies. Replay a failure with FUZZ_SEED=<seed> (fast-check prints seed and path); FUZZ_RUNS=<factor> scales the runs.
import { after, before, describe, it, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import fc from "fast-check";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
/** The child's limit (fuzz-server.ts reads MAX_REQUEST_BYTES): low, so bodies above it are cheap. */
const MAX_REQUEST_BYTES = 64 * 1024;
const YEAR_MS = 365 * 86_400_000;
/** An answer slower than this is a hang. */
const REQUEST_TIMEOUT_MS = 10_000;
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
const RUN_FACTOR = Number(process.env.FUZZ_RUNS ?? "1");
const INV_ID = /^inv_[0-9a-f]{40}$/;
const AWK_ID = /^awk_[0-9a-f]{40}[0-9a-z]{1,8}$/;

function runs<T>(n: number): fc.Parameters<T> {
  return {
    numRuns: Math.max(1, Math.round(n * RUN_FACTOR)),
    includeErrorInReport: true,
    ...(SEED === undefined ? {} : { seed: SEED }),
  };
}

// ---------------------------------------------------------------------------------------------
// The child server

interface Child {
  readonly proc: ChildProcess;
  readonly ingressPort: number;
  readonly adminPort: number;
  readonly stderr: string[];
  readonly exited: Promise<void>;
}

async function startChild(dataDir: string): Promise<Child> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATA_DIR: dataDir,
    MAX_REQUEST_BYTES: String(MAX_REQUEST_BYTES),
  };
  delete env.NODE_TEST_CONTEXT;
  const proc = spawn(
    process.execPath,
    ["--conditions=onelog-source", "--import", "tsx", path.join(REPO, "tests/integration/fuzz-server.ts")],
    { cwd: REPO, env, stdio: ["ignore", "pipe", "pipe"] },
  );
  const stderr: string[] = [];
  createInterface({ input: proc.stderr }).on("line", (l) => stderr.push(l));
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  const [ingressPort, adminPort] = await new Promise<[number, number]>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error("fuzz-server not READY after 30 s"));
    }, 30_000);
    createInterface({ input: proc.stdout }).on("line", (line) => {
      const m = /^READY http:\/\/127\.0\.0\.1:(\d+) http:\/\/127\.0\.0\.1:(\d+)$/.exec(line);
      if (m === null) return;
      clearTimeout(timer);
      resolve([Number(m[1]), Number(m[2])]);
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`fuzz-server exited before READY:\n${stderr.join("\n")}`));
    });
  });
  return { proc, ingressPort, adminPort, stderr, exited };
}

function assertAlive(child: Child): void {
  if (child.proc.exitCode !== null || child.proc.signalCode !== null) {
    assert.fail(
      `the server process died (${child.proc.exitCode ?? child.proc.signalCode}); stderr tail:\n` +
        child.stderr.slice(-20).join("\n"),
    );
  }
}

// ---------------------------------------------------------------------------------------------
// A raw HTTP/1.1 client over node:net: it sends exactly the bytes it is given.

interface Reply {
  readonly status: number;
  readonly headers: ReadonlyMap<string, readonly string[]>;
  readonly body: Buffer;
}

interface Exchange {
  readonly replies: readonly Reply[];
  readonly timedOut: boolean;
  /** A socket error (ECONNRESET, ECONNREFUSED …), if one happened. */
  readonly error: string | undefined;
  /** Bytes after the last complete reply. */
  readonly rest: Buffer;
}

type Write = Buffer | { readonly pauseMs: number };

/**
 * Connects, writes, and collects what comes back until the server closes the connection (every
 * request here but the pipelined ones says `connection: close`) or `timeoutMs` passes.
 * `then`: what the client does after writing — wait for the server to close, half-close (FIN),
 * or reset at once.
 */
function exchange(
  port: number,
  writes: readonly Write[],
  o: { methods: readonly string[]; then?: "wait" | "end" | "destroy"; timeoutMs?: number },
): Promise<Exchange> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    let error: string | undefined;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      socket.destroy();
    }, o.timeoutMs ?? REQUEST_TIMEOUT_MS);
    socket.on("data", (d: Buffer) => chunks.push(d));
    socket.on("error", (e: NodeJS.ErrnoException) => (error ??= e.code ?? e.message));
    socket.on("close", () => {
      clearTimeout(timer);
      const { replies, rest } = parseReplies(Buffer.concat(chunks), o.methods);
      resolve({ replies, timedOut, error, rest });
    });
    socket.once("connect", () => {
      void (async () => {
        for (const w of writes) {
          if (socket.destroyed) return;
          if (Buffer.isBuffer(w)) socket.write(w);
          else await new Promise((r) => setTimeout(r, w.pauseMs));
        }
        if (o.then === "end") socket.end();
        if (o.then === "destroy") socket.destroy();
      })();
    });
  });
}

/** Opens a connection, writes `bytes` and keeps it open until the returned function is called. */
async function hold(port: number, bytes: Buffer): Promise<() => void> {
  const socket = net.connect(port, "127.0.0.1");
  socket.on("error", () => {});
  await new Promise<void>((r) => socket.once("connect", () => r()));
  socket.write(bytes);
  return () => socket.destroy();
}

/** Splits a byte stream into HTTP responses; 1xx interim responses are skipped. */
function parseReplies(buf: Buffer, methods: readonly string[]): { replies: Reply[]; rest: Buffer } {
  const replies: Reply[] = [];
  let at = 0;
  for (;;) {
    const end = buf.indexOf("\r\n\r\n", at);
    if (end < 0) break;
    const lines = buf.subarray(at, end).toString("latin1").split("\r\n");
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "");
    if (m === null) break;
    const status = Number(m[1]);
    const headers = new Map<string, string[]>();
    for (const line of lines.slice(1)) {
      const i = line.indexOf(":");
      const name = line.slice(0, i).trim().toLowerCase();
      headers.set(name, [...(headers.get(name) ?? []), line.slice(i + 1).trim()]);
    }
    let p = end + 4;
    if (status < 200) {
      at = p;
      continue;
    }
    let body: Buffer = Buffer.alloc(0);
    const method = methods[replies.length] ?? "GET";
    if (method === "HEAD" || status === 204 || status === 304) {
      // no body
    } else if ((headers.get("transfer-encoding") ?? []).join(",").toLowerCase().includes("chunked")) {
      const parts: Buffer[] = [];
      for (;;) {
        const le = buf.indexOf("\r\n", p);
        if (le < 0) return { replies, rest: buf.subarray(at) };
        const size = Number.parseInt(buf.subarray(p, le).toString("latin1"), 16);
        p = le + 2;
        if (!(size > 0)) {
          p = Math.min(buf.length, p + 2);
          break;
        }
        parts.push(buf.subarray(p, p + size));
        p += size + 2;
      }
      body = Buffer.concat(parts);
    } else if (headers.has("content-length")) {
      const n = Number(headers.get("content-length")![0]);
      if (p + n > buf.length) return { replies, rest: buf.subarray(at) };
      body = buf.subarray(p, p + n);
      p += n;
    } else {
      body = buf.subarray(p);
      p = buf.length;
    }
    replies.push({ status, headers, body });
    at = p;
  }
  return { replies, rest: buf.subarray(at) };
}

const header = (r: Reply, name: string): string | undefined => r.headers.get(name)?.[0];

function describeReply(r: Reply): string {
  const body = r.body.length > 300 ? `${r.body.subarray(0, 300).toString()}…` : r.body.toString();
  return `${r.status} content-type=${header(r, "content-type") ?? "-"} body=${JSON.stringify(body)}`;
}

// ---------------------------------------------------------------------------------------------
// Requests

/** A body, kept small in counterexamples: big ones are described by their size. */
type Body =
  | { readonly text: string }
  | { readonly bytes: Uint8Array }
  | { readonly big: number; readonly json: boolean };

interface Req {
  readonly method: string;
  /** The request-target as sent (ASCII; non-ASCII is percent-encoded by the generators). */
  readonly target: string;
  /** Header lines besides host, framing and connection; values are sent as latin1. */
  readonly headers: readonly (readonly [string, string])[];
  readonly body: Body;
  /** Send the body chunked, in pieces of these sizes (the rest in one last piece). */
  readonly chunks: readonly number[] | undefined;
}

const EMPTY: Body = { text: "" };

function bodyBytes(b: Body): Buffer {
  if ("text" in b) return Buffer.from(b.text, "utf8");
  if ("bytes" in b) return Buffer.from(b.bytes);
  return b.json ? Buffer.from(`"${"x".repeat(b.big - 2)}"`) : Buffer.alloc(b.big, "x");
}

function encodeReq(req: Req, connection: "close" | "keep-alive" = "close"): Buffer {
  const body = bodyBytes(req.body);
  const lines = [`${req.method} ${req.target} HTTP/1.1`, "host: 127.0.0.1"];
  for (const [k, v] of req.headers) lines.push(`${k}: ${v}`);
  if (req.chunks !== undefined) lines.push("transfer-encoding: chunked");
  else if (body.length > 0 || req.method === "POST") lines.push(`content-length: ${body.length}`);
  lines.push(`connection: ${connection}`, "", "");
  const parts: Buffer[] = [Buffer.from(lines.join("\r\n"), "latin1")];
  if (req.chunks === undefined) parts.push(body);
  else {
    let at = 0;
    const piece = (c: Buffer) =>
      parts.push(Buffer.from(`${c.length.toString(16)}\r\n`), c, Buffer.from("\r\n"));
    for (const size of req.chunks) {
      if (at >= body.length) break;
      const c = body.subarray(at, at + size);
      at += c.length;
      piece(c);
    }
    if (at < body.length) piece(body.subarray(at));
    parts.push(Buffer.from("0\r\n\r\n"));
  }
  return Buffer.concat(parts);
}

/** Sends one request on its own connection; fails the property on a hang or a missing answer. */
async function send(child: Child, port: number, req: Req): Promise<Reply> {
  const ex = await exchange(port, [encodeReq(req)], { methods: [req.method] });
  const shown = `${req.method} ${req.target.length > 200 ? `${req.target.slice(0, 200)}…` : req.target}`;
  assertAlive(child);
  assert.ok(!ex.timedOut, `no answer within ${REQUEST_TIMEOUT_MS} ms (a hang): ${shown}`);
  const trailing = JSON.stringify(ex.rest.toString("latin1").slice(0, 200));
  const why = `socket error ${ex.error ?? "none"}, trailing bytes ${trailing}`;
  assert.equal(ex.replies.length, 1, `expected one answer to ${shown}, got ${ex.replies.length} (${why})`);
  return ex.replies[0]!;
}

/** Percent-encodes every UTF-8 byte except the unreserved characters (lone surrogates become U+FFFD). */
function enc(s: string): string {
  let out = "";
  for (const b of Buffer.from(s, "utf8")) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9\-._~]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

const post = (target: string, body: Body = EMPTY, headers: Req["headers"] = []): Req => ({
  method: "POST",
  target,
  headers,
  body,
  chunks: undefined,
});
const getReq = (target: string): Req => ({
  method: "GET",
  target,
  headers: [],
  body: EMPTY,
  chunks: undefined,
});

// ---------------------------------------------------------------------------------------------
// The oracle: what the documented API (ingress.ts header, docs/errors) says a request is.

type Input = "json" | "binary";
interface ServiceSpec {
  readonly kind: "service" | "object" | "workflow";
  readonly handlers: ReadonlyMap<string, Input>;
  readonly private: boolean;
}
const spec = (kind: ServiceSpec["kind"], handlers: Record<string, Input>, hidden = false): ServiceSpec => ({
  kind,
  handlers: new Map(Object.entries(handlers)),
  private: hidden,
});
/** What fuzz-server.ts serves. */
const SERVICES: ReadonlyMap<string, ServiceSpec> = new Map([
  ["Echo", spec("service", { echo: "json", bytes: "binary" })],
  ["Counter", spec("object", { add: "json", get: "json" })],
  ["Flow", spec("workflow", { run: "json", peek: "json" })],
  ["Hidden", spec("service", { peek: "json" }, true)],
]);

interface Target {
  readonly service: string;
  readonly handler: string;
  readonly key: string | undefined;
}

interface Call extends Target {
  readonly send: boolean;
  readonly idempotencyKey: string | undefined;
  readonly delayMs: number;
  readonly body: Buffer;
}

type Expect =
  /** Refused before anything reaches the log: a JSON 4xx/5xx. */
  | { readonly kind: "reject"; readonly why: string }
  | { readonly kind: "call"; readonly call: Call }
  | { readonly kind: "health" }
  /** Documented, but its effect is not modelled (awakeable completions): any well-formed answer. */
  | { readonly kind: "loose"; readonly why: string }
  /** Not sent: the documentation leaves it open, it would block by design, or it hits a bug reported below. */
  | { readonly kind: "skip"; readonly why: string };

const reject = (why: string): Expect => ({ kind: "reject", why });
const skip = (why: string): Expect => ({ kind: "skip", why });

/**
 * The path as the server's URL parser sees it: dot segments (also percent-encoded ones, which
 * RFC 3986 §6.2.2.2 makes equivalent) removed as RFC 3986 §5.2.4 says; empty segments kept.
 */
function normalizePath(raw: string): string {
  const input = raw.slice(1).split("/");
  const out: string[] = [];
  input.forEach((s, i) => {
    const d = s.replace(/%2e/gi, ".");
    const last = i === input.length - 1;
    if (d === "..") {
      out.pop();
      if (last) out.push("");
    } else if (d === ".") {
      if (last) out.push("");
    } else out.push(s);
  });
  return `/${out.join("/")}`;
}

/** The decoded non-empty segments, or undefined when one is not valid percent-encoded UTF-8. */
function segmentsOf(rawPath: string): string[] | undefined {
  try {
    return normalizePath(rawPath)
      .split("/")
      .filter((s) => s !== "")
      .map(decodeURIComponent);
  } catch {
    return undefined;
  }
}

function splitTarget(target: string): { rawPath: string; query: URLSearchParams } {
  const q = target.indexOf("?");
  return {
    rawPath: q < 0 ? target : target.slice(0, q),
    query: new URLSearchParams(q < 0 ? "" : target.slice(q + 1)),
  };
}

type Delay =
  { readonly kind: "ms"; readonly ms: number } | { readonly kind: "bad" } | { readonly kind: "open" };
const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `?delay=` per docs/errors/OL1006.md: whole ms, or numbers with units ms|s|m|h|d (decimals allowed), at most a year. */
function parseDelay(text: string): Delay {
  if (/\s/.test(text)) return { kind: "open" }; // whitespace handling is not documented
  if (/^\d+$/.test(text)) return Number(text) <= YEAR_MS ? { kind: "ms", ms: Number(text) } : { kind: "bad" };
  if (!/^(\d+(\.\d+)?(ms|s|m|h|d))+$/.test(text)) return { kind: "bad" };
  let total = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) total += Number(m[1]) * UNIT_MS[m[2]!]!;
  return total <= YEAR_MS ? { kind: "ms", ms: Math.round(total) } : { kind: "bad" };
}

/** The idempotency key, false when it is bad (OL1005), undefined when absent. HTTP strips whitespace around values. */
function idempotencyOf(headers: Req["headers"]): string | false | undefined {
  const values = headers.filter(([k]) => k.toLowerCase() === "idempotency-key").map(([, v]) => v);
  if (values.length === 0) return undefined;
  if (values.length > 1) return false;
  const v = values[0]!.replace(/^[ \t]+|[ \t]+$/g, "");
  return /^[\x21-\x7e]{1,256}$/.test(v) ? v : false;
}

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

function isJson(bytes: Buffer): boolean {
  try {
    JSON.parse(new TextDecoder().decode(bytes));
    return true;
  } catch {
    return false;
  }
}

function targetOf(segs: readonly string[]): Target | string {
  const svc = SERVICES.get(segs[0] ?? "");
  if (svc === undefined) return "unknown service";
  const keyed = svc.kind !== "service";
  if (segs.length !== (keyed ? 3 : 2)) return "wrong number of segments";
  const handler = segs[keyed ? 2 : 1]!;
  if (!svc.handlers.has(handler)) return "unknown handler";
  if (svc.private) return "private service";
  return { service: segs[0]!, handler, key: keyed ? segs[1]! : undefined };
}

function classifyInvoke(req: Req, segs: readonly string[], send: boolean, query: URLSearchParams): Expect {
  if (req.method !== "POST" && req.method !== "GET") return reject(`${req.method} on an invocation path`);
  const t = targetOf(segs);
  if (typeof t === "string") return reject(t);
  const idempotencyKey = idempotencyOf(req.headers);
  if (idempotencyKey === false) return reject("bad idempotency-key");
  const delayText = query.get("delay");
  let delayMs = 0;
  if (delayText !== null) {
    if (!send) return reject("delay on a call");
    const d = parseDelay(delayText);
    if (d.kind === "bad") return reject("bad delay");
    if (d.kind === "open") return skip("delay with whitespace (undocumented)");
    delayMs = d.ms;
  }
  const body = bodyBytes(req.body);
  if (body.length > MAX_REQUEST_BYTES) return reject("body over maxRequestBytes");
  const input = SERVICES.get(t.service)!.handlers.get(t.handler)!;
  if (input === "json" && body.subarray(0, 3).equals(BOM)) {
    return skip("JSON body after a byte order mark (RFC 8259 §8.1: a parser may ignore it or refuse it)");
  }
  if (input === "json" && body.length > 0 && !isJson(body)) return reject("body is not JSON");
  return { kind: "call", call: { ...t, send, idempotencyKey, delayMs, body } };
}

function classify(req: Req, model: Model): Expect {
  const { rawPath, query } = splitTarget(req.target);
  if (!rawPath.startsWith("/")) return reject("not an origin-form target");
  const segs = segmentsOf(rawPath);
  if (segs === undefined) return reject("bad percent-encoding");
  if (segs[0] === "restate") {
    const [kind, ...rest] = segs.slice(1);
    switch (kind) {
      case "call":
      case "send":
        return classifyInvoke(req, rest, kind === "send", query);
      case "invocation": {
        if (req.method !== "GET") return reject("attach/output take GET");
        const what = rest[rest.length - 1];
        if (what !== "attach" && what !== "output") return reject("not attach/output");
        if (rest.length === 2) {
          if (!INV_ID.test(rest[0]!)) return reject("not an invocation id");
          return model.ids.has(rest[0]!)
            ? skip("attach to a known invocation")
            : reject("unknown invocation");
        }
        if (rest.length !== 4 && rest.length !== 5) return reject("attach/output path shape");
        const t = targetOf(rest.slice(0, -2));
        if (typeof t === "string") return reject(t);
        return model.idem.has(idemKey(t, rest[rest.length - 2]!))
          ? skip("attach to a known idempotent invocation")
          : reject("unknown idempotency key");
      }
      case "workflow": {
        if (req.method !== "GET") return reject("workflow attach/output take GET");
        const [name, id, what] = rest;
        if (rest.length !== 3 || (what !== "attach" && what !== "output")) return reject("path shape");
        if (name !== "Flow") return reject("unknown workflow");
        return model.workflows.has(id!)
          ? skip("attach to a known workflow run")
          : reject("unknown workflow run");
      }
      case "awakeables": {
        const [id, what] = rest;
        if (rest.length !== 2 || (what !== "resolve" && what !== "reject")) return reject("path shape");
        if (req.method !== "POST") return reject("awakeables take POST");
        if (!AWK_ID.test(id!)) return reject("not an awakeable id");
        if (bodyBytes(req.body).length > MAX_REQUEST_BYTES) return reject("body over maxRequestBytes");
        return { kind: "loose", why: "completion of an awakeable nobody waits for" };
      }
      case "health":
        if (rest.length === 0 && (req.method === "GET" || req.method === "HEAD")) return { kind: "health" };
        return reject("health takes GET or HEAD and no suffix");
      default:
        return reject("unknown /restate path");
    }
  }
  const svc = SERVICES.get(segs[0] ?? "");
  const arity = svc === undefined || svc.kind === "service" ? 2 : 3;
  const isSend = segs.length === arity + 1 && segs[arity] === "send";
  return classifyInvoke(req, isSend ? segs.slice(0, arity) : segs, isSend, query);
}

// ---------------------------------------------------------------------------------------------
// The model: what the server's state must be after the valid calls it answered.

interface Answer {
  readonly status: number;
  readonly contentType: string | undefined;
  readonly body: Buffer;
}

type Predicted =
  | { readonly kind: "exact"; readonly answer: Answer }
  /** 200 with a JSON body equal to one of these (a shared handler may run before or after queued sends). */
  | { readonly kind: "json"; readonly anyOf: readonly unknown[] }
  /** 200 with a JSON number (a counter a delayed send made unpredictable). */
  | { readonly kind: "number" }
  /** The handler's TerminalError: this status, JSON {code: status, message}. */
  | { readonly kind: "error"; readonly status: number }
  | { readonly kind: "accepted"; readonly status: "Accepted" | "PreviouslyAccepted" };

interface CounterState {
  value: number;
  /** Amounts of sends not yet known to have run, in log order. */
  pending: number[];
  /** False once a delayed send targets the key: when it runs is not modelled. */
  exact: boolean;
}

type IdemEntry =
  | { readonly kind: "done"; readonly answer: Answer }
  | { readonly kind: "sent"; readonly predicted: Predicted }
  | { readonly kind: "delayed" };

interface WorkflowState {
  readonly input: unknown;
  readonly delayed: boolean;
  settled: boolean;
}

const idemKey = (t: Target, key: string) => `${t.service}\0${t.handler}\0${t.key ?? ""}\0${key}`;
const normalizeJson = (v: unknown): unknown => JSON.parse(JSON.stringify(v ?? null));
const parseBody = (b: Buffer): unknown =>
  b.length === 0 ? undefined : JSON.parse(new TextDecoder().decode(b));

class Model {
  readonly counters = new Map<string, CounterState>();
  readonly idem = new Map<string, IdemEntry>();
  readonly workflows = new Map<string, WorkflowState>();
  readonly ids = new Set<string>();
  /** Counter keys touched since the last state check. */
  readonly touched = new Set<string>();

  counter(key: string): CounterState {
    let c = this.counters.get(key);
    if (c === undefined) {
      c = { value: 0, pending: [], exact: true };
      this.counters.set(key, c);
    }
    return c;
  }

  /** What a valid call must answer, and how the model changes once it did; undefined: would block by design. */
  predict(c: Call): { predicted: Predicted; learn: (r: Reply) => void } | undefined {
    const nothing = () => {};
    if (c.service === "Flow" && c.handler === "run") {
      // A workflow's run is once per workflow id, whatever the idempotency key.
      const key = c.key!;
      const wf = this.workflows.get(key);
      const input: unknown = parseBody(c.body) ?? null;
      if (c.send) {
        return {
          predicted: { kind: "accepted", status: wf === undefined ? "Accepted" : "PreviouslyAccepted" },
          learn: () => {
            if (wf === undefined) this.workflows.set(key, { input, delayed: c.delayMs > 0, settled: false });
          },
        };
      }
      // A second request-response call of the run is a conflict, as in Restate (attach gives the result).
      if (wf !== undefined) return { predicted: { kind: "error", status: 409 }, learn: nothing };
      return {
        predicted: {
          kind: "json",
          anyOf: [normalizeJson({ workflowId: key, input })],
        },
        learn: () => {
          this.workflows.set(key, { input, delayed: false, settled: true });
        },
      };
    }
    const ik = c.idempotencyKey === undefined ? undefined : idemKey(c, c.idempotencyKey);
    const prior = ik === undefined ? undefined : this.idem.get(ik);
    if (prior !== undefined) {
      if (c.send) return { predicted: { kind: "accepted", status: "PreviouslyAccepted" }, learn: nothing };
      if (prior.kind === "delayed") return undefined;
      return {
        predicted: prior.kind === "done" ? { kind: "exact", answer: prior.answer } : prior.predicted,
        learn: nothing,
      };
    }
    const fresh = this.handlerEffect(c);
    if (c.send) {
      return {
        predicted: { kind: "accepted", status: "Accepted" },
        learn: () => {
          fresh.onSend(c.delayMs);
          if (ik !== undefined)
            this.idem.set(
              ik,
              c.delayMs > 0 ? { kind: "delayed" } : { kind: "sent", predicted: fresh.predicted },
            );
        },
      };
    }
    return {
      predicted: fresh.predicted,
      learn: (r) => {
        fresh.onCall();
        if (ik !== undefined) {
          this.idem.set(ik, {
            kind: "done",
            answer: { status: r.status, contentType: header(r, "content-type"), body: r.body },
          });
        }
      },
    };
  }

  private handlerEffect(c: Call): {
    predicted: Predicted;
    onCall: () => void;
    onSend: (delayMs: number) => void;
  } {
    const none = () => {};
    switch (`${c.service}/${c.handler}`) {
      case "Echo/echo": {
        const v = parseBody(c.body);
        const body = v === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(v));
        return {
          predicted: { kind: "exact", answer: { status: 200, contentType: "application/json", body } },
          onCall: none,
          onSend: none,
        };
      }
      case "Echo/bytes":
        return {
          predicted: {
            kind: "exact",
            answer: { status: 200, contentType: "application/octet-stream", body: c.body },
          },
          onCall: none,
          onSend: none,
        };
      case "Counter/add": {
        const n = parseBody(c.body);
        if (typeof n !== "number" || !Number.isSafeInteger(n)) {
          return { predicted: { kind: "error", status: 400 }, onCall: none, onSend: none };
        }
        this.touched.add(c.key!);
        const s = this.counter(c.key!);
        const total = s.value + s.pending.reduce((a, b) => a + b, 0) + n;
        return {
          predicted: s.exact ? { kind: "json", anyOf: [total] } : { kind: "number" },
          onCall: () => {
            s.value = total;
            s.pending = [];
          },
          onSend: (delayMs) => {
            if (delayMs > 0) s.exact = false;
            else s.pending.push(n);
          },
        };
      }
      case "Counter/get": {
        this.touched.add(c.key!);
        const s = this.counter(c.key!);
        const possible = [s.value];
        for (const p of s.pending) possible.push(possible[possible.length - 1]! + p);
        return {
          predicted: s.exact ? { kind: "json", anyOf: possible } : { kind: "number" },
          onCall: none,
          onSend: none,
        };
      }
      case "Flow/peek": {
        const wf = this.workflows.get(c.key!);
        const anyOf = wf === undefined ? [null] : wf.settled ? [wf.input] : [null, wf.input];
        return { predicted: { kind: "json", anyOf: anyOf.map(normalizeJson) }, onCall: none, onSend: none };
      }
      default:
        throw new Error(`no model for ${c.service}/${c.handler}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Checks on answers

/** A refusal: 4xx/5xx, JSON `{code, message}` with a non-empty message, no invocation id, and not OL1000 (a bug by docs/errors/OL1000.md). */
function assertRejected(r: Reply, what: string, method: string): void {
  assert.ok(r.status >= 400 && r.status <= 599, `${what}: expected a 4xx/5xx, got ${describeReply(r)}`);
  assert.match(header(r, "content-type") ?? "", /^application\/json/, `${what}: ${describeReply(r)}`);
  assert.equal(header(r, "x-restate-id"), undefined, `${what}: a refusal names an invocation`);
  if (method === "HEAD") return;
  let body: any;
  try {
    body = JSON.parse(r.body.toString("utf8"));
  } catch {
    assert.fail(`${what}: body is not JSON: ${describeReply(r)}`);
  }
  assert.ok(typeof body === "object" && body !== null, `${what}: ${describeReply(r)}`);
  assert.ok(typeof body.onelog_code === "string", `${what}: ${describeReply(r)}`);
  assert.ok(typeof body.message === "string" && body.message.length > 0, `${what}: ${describeReply(r)}`);
  assert.notEqual(
    body.onelog_code,
    "OL1000",
    `${what}: an internal error for client input: ${describeReply(r)}`,
  );
}

function jsonOf(r: Reply, what: string): unknown {
  assert.match(header(r, "content-type") ?? "", /^application\/json/, `${what}: ${describeReply(r)}`);
  if (r.body.length === 0) return undefined;
  try {
    return JSON.parse(r.body.toString("utf8"));
  } catch {
    return assert.fail(`${what}: body is not JSON: ${describeReply(r)}`);
  }
}

function assertPredicted(p: Predicted, r: Reply, what: string): void {
  const shown = `${what}: got ${describeReply(r)}`;
  switch (p.kind) {
    case "exact":
      assert.equal(r.status, p.answer.status, shown);
      assert.equal(header(r, "content-type"), p.answer.contentType, shown);
      assert.ok(
        r.body.equals(p.answer.body),
        `${shown}, expected body ${JSON.stringify(p.answer.body.toString())}`,
      );
      break;
    case "json": {
      assert.equal(r.status, 200, shown);
      const v = jsonOf(r, what);
      assert.ok(
        p.anyOf.some((x) => isDeepStrictEqualJson(v, x)),
        `${shown}, expected one of ${JSON.stringify(p.anyOf)}`,
      );
      break;
    }
    case "number":
      assert.equal(r.status, 200, shown);
      assert.equal(typeof jsonOf(r, what), "number", shown);
      break;
    case "error": {
      assert.equal(r.status, p.status, shown);
      const v = jsonOf(r, what) as any;
      assert.equal(v?.code, p.status, shown);
      assert.ok(typeof v?.message === "string" && v.message.length > 0, shown);
      break;
    }
    case "accepted": {
      assert.equal(r.status, 202, shown);
      const v = jsonOf(r, what) as any;
      assert.match(String(v?.invocationId), INV_ID, shown);
      assert.equal(v.status, p.status, shown);
      assert.equal(header(r, "x-restate-id"), v.invocationId, shown);
      break;
    }
  }
  if (p.kind !== "accepted" && r.status < 300) assert.match(header(r, "x-restate-id") ?? "", INV_ID, shown);
}

function isDeepStrictEqualJson(a: unknown, b: unknown): boolean {
  try {
    assert.deepStrictEqual(a, b);
    return true;
  } catch {
    return false;
  }
}

/** Requests not sent (or refusals accepted in place of an answer), by reason: reported as diagnostics. */
const skipped = new Map<string, number>();
const countSkip = (e: Expect) => {
  if (e.kind === "skip") skipped.set(e.why, (skipped.get(e.why) ?? 0) + 1);
};

/**
 * RFC 3986 lets a server resolve dot segments or not, and Node 20's URL parser (ada 2.9.2) keeps
 * those that follow a segment starting with a dot (`/a/.x/./b`): a path with dot segments may be
 * refused instead of being read as its normalized form. Refusing is the safe side, so it passes.
 */
function refusedDotPath(req: Req, r: Reply): boolean {
  const dotty = splitTarget(req.target)
    .rawPath.split("/")
    .some((seg) => /^(\.|%2e){1,2}$/i.test(seg));
  if (!dotty || r.status < 400 || r.status > 499) return false;
  // A HEAD answer has no body to carry the code: its JSON content type is all there is.
  const headOnly =
    req.method === "HEAD" && r.body.length === 0 && /json/.test(String(r.headers.get("content-type")?.[0]));
  const code = headOnly
    ? "OL(HEAD)"
    : (() => {
        try {
          return (JSON.parse(r.body.toString()) as { onelog_code?: unknown }).onelog_code;
        } catch {
          return undefined;
        }
      })();
  if (typeof code !== "string" || !code.startsWith("OL")) return false;
  skipped.set(
    "dot-segment path refused (allowed)",
    (skipped.get("dot-segment path refused (allowed)") ?? 0) + 1,
  );
  return true;
}

/** Sends a request the oracle classified (unless it is a skip) and checks the answer against the model. */
async function sendChecked(child: Child, model: Model, req: Req, expect: Expect): Promise<void> {
  const what = `${req.method} ${req.target.slice(0, 200)} (${expect.kind}${"why" in expect ? `: ${expect.why}` : ""})`;
  switch (expect.kind) {
    case "skip":
      return;
    case "reject":
      return assertRejected(await send(child, child.ingressPort, req), what, req.method);
    case "health": {
      const r = await send(child, child.ingressPort, req);
      if (refusedDotPath(req, r)) return assertRejected(r, what, req.method);
      assert.equal(r.status, 200, `${what}: ${describeReply(r)}`);
      if (req.method === "GET") assert.ok(Array.isArray((jsonOf(r, what) as any).services), what);
      return;
    }
    case "loose": {
      const r = await send(child, child.ingressPort, req);
      if (r.status === 202) return;
      return assertRejected(r, what, req.method);
    }
    case "call": {
      const p = model.predict(expect.call);
      if (p === undefined) return;
      const r = await send(child, child.ingressPort, req);
      if (refusedDotPath(req, r)) return assertRejected(r, what, req.method);
      assertPredicted(p.predicted, r, what);
      const id = header(r, "x-restate-id");
      if (id !== undefined) model.ids.add(id);
      p.learn(r);
      return;
    }
  }
}

/** Polls `probe` until it returns something; fails after `limitMs` with `what()` (evaluated then). */
async function eventually<T>(
  what: () => string,
  probe: () => Promise<T | undefined>,
  limitMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`never happened: ${what()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function counterValue(child: Child, key: string): Promise<number> {
  const r = await send(child, child.ingressPort, post(`/Counter/${enc(key)}/get`));
  assert.equal(r.status, 200, `get ${key}: ${describeReply(r)}`);
  return JSON.parse(r.body.toString("utf8")) as number;
}

/** Property 2: every counter the run touched holds exactly what the valid calls (and settled sends) added. */
async function checkCounters(child: Child, model: Model): Promise<void> {
  for (const key of model.touched) {
    const s = model.counter(key);
    if (!s.exact) continue;
    const expected = s.value + s.pending.reduce((a, b) => a + b, 0);
    let seen: number | undefined;
    await eventually(
      () => `counter ${JSON.stringify(key)} reaches ${expected} (it holds ${seen})`,
      async () => {
        seen = await counterValue(child, key);
        return seen === expected ? true : undefined;
      },
    );
    s.value = expected;
    s.pending = [];
  }
  model.touched.clear();
}

interface Lsns {
  readonly applied: number;
  readonly tail: number;
}

async function lsns(child: Child): Promise<Lsns> {
  const r = await send(child, child.adminPort, getReq("/health"));
  const h = JSON.parse(r.body.toString("utf8")) as {
    partitions: { applied_lsn: number; tail_lsn: number }[];
  };
  return {
    applied: h.partitions.reduce((a, p) => a + p.applied_lsn, 0),
    tail: h.partitions.reduce((a, p) => a + p.tail_lsn, 0),
  };
}

/** Waits until everything appended is applied and nothing new arrives for a moment. */
async function quiesce(child: Child): Promise<Lsns> {
  let prev = await lsns(child);
  return eventually(
    () => "the log is quiet",
    async () => {
      await new Promise((r) => setTimeout(r, 50));
      const now = await lsns(child);
      const quiet = now.applied === now.tail && now.tail === prev.tail;
      prev = now;
      return quiet ? now : undefined;
    },
  );
}

// ---------------------------------------------------------------------------------------------
// Generators

const REAL_NAMES = (
  "Echo echo bytes Counter add get Flow run peek Hidden send restate call invocation workflow awakeables " +
  "health attach output resolve reject counter ECHO"
).split(" ");
/** Counter keys reused across runs (decoded form). */
const KEYS = ["k0", "k1", "k2", "ключ", "a b", "x/y", "😀", "%", "...", "__proto__"];
const MALFORMED =
  "% %% %E0%A4%A %E0%A4 %ZZ %C3 %FF %ED%A0%80 %C0%AF %F4%90%80%80 %0 %g0 a% %E0%A4%A%E0%A4%A".split(" ");

const pchars = fc.stringMatching(/^[A-Za-z0-9\-._~!$&'()*+,;=:@]{0,12}$/);
const unicodeSeg = fc.string({ unit: "grapheme", maxLength: 8 }).map(enc);
const binarySeg = fc.string({ unit: "binary", maxLength: 6 }).map(enc);
const malformedSeg = fc.constantFrom(...MALFORMED);
const dotSeg = fc.constantFrom("", ".", "..", "%2e", "%2E%2e", ".%2e", "%2e.", "...");
const longSeg = fc.integer({ min: 256, max: 8000 }).map((n) => "L".repeat(n));
const specialSeg = fc.constantFrom(
  "%2F",
  "a%2Fb",
  "%00",
  "%20",
  "+",
  "constructor",
  "toString",
  "%5C",
  ";",
  "send",
);
const segment = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...REAL_NAMES) },
  { weight: 3, arbitrary: fc.constantFrom(...KEYS).map(enc) },
  { weight: 2, arbitrary: pchars },
  { weight: 2, arbitrary: unicodeSeg },
  { weight: 1, arbitrary: binarySeg },
  { weight: 2, arbitrary: malformedSeg },
  { weight: 2, arbitrary: dotSeg },
  { weight: 1, arbitrary: longSeg },
  { weight: 1, arbitrary: specialSeg },
);
const keySeg = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...KEYS).map(enc) },
  { weight: 3, arbitrary: fc.string({ unit: "grapheme", minLength: 1, maxLength: 10 }).map(enc) },
  { weight: 1, arbitrary: pchars },
  { weight: 1, arbitrary: malformedSeg },
  { weight: 1, arbitrary: dotSeg },
  { weight: 1, arbitrary: longSeg },
);

const randomPath = fc
  .tuple(fc.array(segment, { maxLength: 7 }), fc.boolean())
  .map(([segs, trailing]) => `/${segs.join("/")}${trailing ? "/" : ""}`);

const HANDLER_NAMES: Readonly<Record<string, readonly string[]>> = {
  Echo: ["echo", "bytes"],
  Counter: ["add", "get"],
  Flow: ["run", "peek"],
  Hidden: ["peek"],
};
/** Near-valid invocation paths: right names, then mutations of arity, case, dots and slashes. */
const structuredPath = fc
  .record({
    prefix: fc.constantFrom("", "", "", "/restate/call", "/restate/send"),
    service: fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom("Echo", "Counter", "Flow") },
      { weight: 1, arbitrary: fc.constantFrom("Hidden", "counter", "Nope", "") },
    ),
    key: keySeg,
    handlerIndex: fc.nat(3),
    shape: fc.constantFrom("right", "right", "right", "right", "noKey", "extra"),
    send: fc.boolean(),
    noise: fc.constantFrom("none", "none", "none", "none", "dotdot", "dot", "emptyInside", "trailingSlash"),
    at: fc.nat(4),
  })
  .map((p) => {
    const names = HANDLER_NAMES[p.service] ?? ["echo", "nope"];
    const handler = p.handlerIndex < names.length ? names[p.handlerIndex]! : "nope";
    const keyed = p.service === "Counter" || p.service === "Flow" || p.service === "counter";
    let segs = keyed ? [p.service, p.key, handler] : [p.service, handler];
    if (p.shape === "noKey") segs = keyed ? [p.service, handler] : [p.service, p.key, handler];
    if (p.shape === "extra") segs.push(p.key);
    if (p.send) segs.push("send");
    const at = 1 + (p.at % segs.length);
    if (p.noise === "dotdot") segs.splice(at, 0, "zz", "..");
    if (p.noise === "dot") segs.splice(at, 0, ".");
    if (p.noise === "emptyInside") segs.splice(at, 0, "");
    return `${p.prefix}/${segs.join("/")}${p.noise === "trailingSlash" ? "/" : ""}`;
  });

const hex = (n: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${n}}$`));
const restatePath = fc
  .tuple(
    fc.constantFrom(
      "call",
      "send",
      "invocation",
      "invocation",
      "workflow",
      "awakeables",
      "health",
      "nope",
      "",
    ),
    fc.array(
      fc.oneof(
        { weight: 4, arbitrary: segment },
        { weight: 2, arbitrary: hex(40).map((h) => `inv_${h}`) },
        {
          weight: 1,
          arbitrary: fc.tuple(hex(40), fc.stringMatching(/^[0-9a-z]{1,8}$/)).map(([h, i]) => `awk_${h}${i}`),
        },
        {
          weight: 3,
          arbitrary: fc.constantFrom("attach", "output", "resolve", "reject", "Flow", "Echo", "echo"),
        },
      ),
      { maxLength: 5 },
    ),
  )
  .map(([kind, rest]) => `/restate/${kind}${rest.map((s) => `/${s}`).join("")}`);

const VALID_DELAYS = ["0", "1", "10ms", "1ms", "0.4ms", "1s", "1h", "1h30m", "1.5h", "365d", "8760h"];
const BAD_DELAYS = [
  "",
  ...(
    "soon -5 -1s 1e3 NaN Infinity 1y 1w 1.s .5s 1..5s 0x10 ١ 366d 8761h 1ms1 ms 1sm +1 1,5s " +
    "99999999999h 1e400s %ZZ 1%00"
  ).split(" "),
];
const delayValue = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom(...VALID_DELAYS) },
  { weight: 4, arbitrary: fc.constantFrom(...BAD_DELAYS) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 400 }).map((n) => "9".repeat(n)) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme-ascii", maxLength: 10 }) },
);
const query = fc.oneof(
  { weight: 8, arbitrary: fc.constant("") },
  { weight: 4, arbitrary: delayValue.map((v) => `?delay=${encodeURIComponent(v)}`) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "?",
      "?delay",
      "?delay=1s&delay=zz",
      "?a=%ZZ",
      "?delay=1s&x=%E0%A4%A",
      "?&&=",
      "?delay=%E0%A4%A",
      "?delay=1s%",
    ),
  },
);

const idemValue = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom("i0", "i1", "i2") },
  { weight: 2, arbitrary: fc.stringMatching(/^[\x21-\x7e]{1,40}$/) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "k".repeat(256),
      "k".repeat(257),
      "k".repeat(300),
      "k".repeat(1000),
      "",
      " ",
      "a b",
      "a\tb",
      " i0 ",
      "caf\xe9",
      "\xff",
      "i0,i1",
    ),
  },
);
const headerLines = fc
  .record({
    idem: fc.option(fc.array(idemValue, { minLength: 1, maxLength: 2 }), { nil: undefined }),
    idemName: fc.constantFrom("idempotency-key", "Idempotency-Key", "IDEMPOTENCY-KEY"),
    contentType: fc.option(
      fc.constantFrom("application/json", "text/plain", "application/octet-stream", "x/y; charset=latin1"),
      { nil: undefined },
    ),
    extra: fc.array(
      fc.tuple(
        fc.stringMatching(/^x-[a-z0-9!#$%&'*+.^_`|~-]{1,20}$/),
        fc.stringMatching(/^[\x21-\x7e]{0,40}$/),
      ),
      { maxLength: 3 },
    ),
  })
  .map(({ idem, idemName, contentType, extra }) => {
    const out: [string, string][] = [];
    if (contentType !== undefined) out.push(["content-type", contentType]);
    for (const v of idem ?? []) out.push([idemName, v]);
    out.push(...extra);
    return out;
  });

const INVALID_JSON = [
  "{",
  "[1,",
  "'a'",
  "NaN",
  "undefined",
  "01",
  "1 2",
  '"\\x"',
  "\uFEFF1",
  '{"a":}',
  "tru",
  "-",
];
const body: fc.Arbitrary<Body> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: -1000, max: 1000 }).map((n) => ({ text: String(n) })) },
  { weight: 2, arbitrary: fc.constant(EMPTY) },
  { weight: 2, arbitrary: fc.json({ maxDepth: 2 }).map((text) => ({ text })) },
  { weight: 2, arbitrary: fc.constantFrom(...INVALID_JSON).map((text) => ({ text })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes) => ({ bytes })) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom("1.0", "1e2", "-0", "9007199254740993", "1e400", '"7"', "null")
      .map((text) => ({
        text,
      })),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      big: fc.oneof(
        fc.constantFrom(MAX_REQUEST_BYTES - 1, MAX_REQUEST_BYTES, MAX_REQUEST_BYTES + 1),
        fc.integer({ min: MAX_REQUEST_BYTES + 1, max: 3 * MAX_REQUEST_BYTES }),
      ),
      json: fc.boolean(),
    }),
  },
);
const chunks = fc.option(fc.array(fc.integer({ min: 1, max: 40_000 }), { minLength: 1, maxLength: 5 }), {
  nil: undefined,
});

const method = fc.oneof(
  { weight: 12, arbitrary: fc.constant("POST") },
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      "GET",
      "PUT",
      "PATCH",
      "DELETE",
      "HEAD",
      "OPTIONS",
      "TRACE",
      "PURGE",
      "PROPFIND",
    ),
  },
);

/** Clean valid calls (so the mix has enough of them for the model to bite). */
const validCall: fc.Arbitrary<Req> = fc
  .record({
    which: fc.constantFrom("add", "add", "add", "get", "echo", "bytes", "run", "peek"),
    key: fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(...KEYS) },
      { weight: 1, arbitrary: fc.string({ unit: "grapheme", minLength: 1, maxLength: 6 }) },
    ),
    n: fc.integer({ min: -100, max: 100 }),
    send: fc.boolean(),
    delay: fc.option(fc.constantFrom("0", "5ms", "1h"), { nil: undefined }),
    idem: fc.option(fc.constantFrom("i0", "i1", "i2", "i3"), { nil: undefined }),
    json: fc.json({ maxDepth: 1 }),
    bytes: fc.uint8Array({ maxLength: 32 }),
  })
  .map((v) => {
    const k = enc(v.key);
    const suffix = v.send ? `/send${v.delay === undefined ? "" : `?delay=${v.delay}`}` : "";
    const paths: Record<string, [string, Body]> = {
      add: [`/Counter/${k}/add`, { text: String(v.n) }],
      get: [`/Counter/${k}/get`, EMPTY],
      echo: ["/Echo/echo", { text: v.json }],
      bytes: ["/Echo/bytes", { bytes: v.bytes }],
      run: [`/Flow/${k}/run`, { text: v.json }],
      peek: [`/Flow/${k}/peek`, EMPTY],
    };
    const [p, b] = paths[v.which]!;
    return post(p + suffix, b, v.idem === undefined ? [] : [["idempotency-key", v.idem]]);
  });

const fuzzRequest: fc.Arbitrary<Req> = fc
  .record({
    method,
    path: fc.oneof(
      { weight: 5, arbitrary: structuredPath },
      { weight: 2, arbitrary: restatePath },
      { weight: 3, arbitrary: randomPath },
    ),
    query,
    headers: headerLines,
    body,
    chunks,
  })
  .map((r) => ({
    method: r.method,
    target: r.path + r.query,
    headers: r.headers,
    body: r.body,
    chunks: r.chunks,
  }))
  // The request line stays under Node's 16 KiB header limit here; property 4 goes over it.
  .filter((r) => r.target.length <= 14_000);

const anyRequest = fc.oneof({ weight: 3, arbitrary: fuzzRequest }, { weight: 1, arbitrary: validCall });

// ---------------------------------------------------------------------------------------------
// The admin endpoint: its oracle and generators

/** The statuses the documented admin API allows for a request; `id`/`op` name a real operation or lookup. */
interface AdminExpect {
  readonly statuses: readonly number[];
  readonly id?: string;
  readonly op?: string;
  readonly why: string;
}

const MODES = ["cancel", "kill", "purge", "pause", "resume"];

/**
 * The admin API as admin.ts documents it. Invocation lookups and operations are modelled exactly
 * (`live` holds the ids that exist); the listing, services and deployments only by status class;
 * /state and /query (which take bodies) are not generated.
 */
function classifyAdmin(method: string, target: string, live: ReadonlySet<string>): AdminExpect | string {
  const { rawPath, query } = splitTarget(target);
  // The admin splits its target by hand (request-target.ts): no dot-segment normalization.
  const p = rawPath;
  const is = (statuses: readonly number[], why: string, id?: string, op?: string): AdminExpect => ({
    statuses,
    why,
    ...(id === undefined ? {} : { id }),
    ...(op === undefined ? {} : { op }),
  });
  if (p === "/health") return method === "GET" ? is([200], "health") : is([405], "health takes GET");
  let parts: string[];
  try {
    parts = p.split("/").slice(1).map(decodeURIComponent);
  } catch {
    return is([400], "bad percent-encoding");
  }
  const [first, second] = parts;
  if (first === "state" || p === "/query") return "a body-taking admin path (not generated)";
  const onId = (raw: string, ok: readonly number[], why: string, op?: string): AdminExpect => {
    if (!INV_ID.test(raw)) return is([400], `${why}: not an invocation id`);
    return live.has(raw) ? is(ok, why, raw, op) : is([404], `${why}: unknown invocation`);
  };
  // An operation that would do nothing in the invocation's state (purge of a running one,
  // cancel of a completed one, …) is 409 OL1023; the model does not track states.
  if (first === "invocations" && parts.length === 3) {
    if (method !== "PATCH" && method !== "POST") return is([405], "operations take PATCH or POST");
    if (!MODES.includes(parts[2]!)) return is([404], "unknown operation");
    return onId(second!, [202, 409], "operation", parts[2]);
  }
  if (first === "invocations" && parts.length === 2 && method === "DELETE") {
    const mode = query.get("mode") ?? "cancel";
    if (!MODES.includes(mode)) return is([404], "unknown mode");
    return onId(second!, [202, 409], "DELETE operation", mode);
  }
  // Registration discovers the URI it is given: the fuzzer's bodies are never a reachable deployment.
  if (p === "/deployments" && method === "POST") return is([400], "a registration that cannot succeed");
  if (first === "deployments" && parts.length === 2 && method === "DELETE") {
    return is([404, 409], "removing a deployment that is not remote");
  }
  if (method !== "GET") return is([405], `${method} on a read path`);
  if (p === "/stats" || p === "/metrics" || p === "/services" || p === "/deployments") return is([200], p);
  if (p === "/invocations") return is([200, 400], "listing (status= and limit= are checked)");
  if (first === "services" && parts.length === 2) {
    return SERVICES.has(second!) ? is([200], "a service") : is([404], "unknown service");
  }
  if (first === "deployments" && parts.length === 2) return is([200, 404], "a deployment");
  if (first === "invocations" && parts.length === 2) return onId(second!, [200], "lookup");
  return is([404], "no such path");
}

const adminId = fc.oneof(
  { weight: 4, arbitrary: fc.constant("{ID}") },
  { weight: 1, arbitrary: fc.constant("{ID%}") },
  { weight: 2, arbitrary: hex(40).map((h) => `inv_${h}`) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "inv_",
      "inv_xyz",
      `inv_${"F".repeat(40)}`,
      `INV_${"0".repeat(40)}`,
      `inv_${"0".repeat(41)}`,
      "undefined",
      "..",
      "%2e%2e",
      ".",
      "",
    ),
  },
  { weight: 2, arbitrary: segment.filter((s) => !MALFORMED.includes(s)) },
);
const adminRequest = fc
  .record({
    method: fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom("GET", "PATCH") },
      { weight: 1, arbitrary: fc.constantFrom("POST", "DELETE", "PUT", "HEAD", "OPTIONS") },
    ),
    target: fc.oneof(
      {
        weight: 2,
        arbitrary: fc.constantFrom(
          "/health",
          "/stats",
          "/",
          "/health/",
          "/stats?x=1",
          "/invocations",
          "/invocations/",
          "/HEALTH",
          "/./health",
          "/x/../stats",
          "/health%2F",
          "/%68ealth",
          "/metrics",
          "/services",
          "/services/Echo",
          "/services/Nope",
          "/services/%E0%A4%A",
          "/deployments",
          "/deployments/nope",
          "/invocations?status=completed&limit=5",
          "/invocations?status=nope",
          "/invocations?limit=0",
          "/invocations?limit=1e9",
        ),
      },
      {
        weight: 6,
        arbitrary: fc
          .tuple(
            adminId,
            fc.option(fc.constantFrom(...MODES, "bogus", "", "cancel/x", "KILL"), { nil: undefined }),
            fc.option(
              fc.oneof(
                fc.constantFrom(...MODES, "", "bogus", "KILL", "kill&mode=purge", "%E0%A4%A"),
                fc.string({ unit: "grapheme", maxLength: 6 }).map(enc),
              ),
              { nil: undefined },
            ),
          )
          .map(
            ([id, op, mode]) =>
              `/invocations/${id}${op === undefined ? "" : `/${op}`}${mode === undefined ? "" : `?mode=${mode}`}`,
          ),
      },
      { weight: 2, arbitrary: randomPath },
    ),
    pick: fc.nat(),
  })
  // Under Node's 16 KiB header limit, as for the ingress.
  .filter((a) => a.target.length <= 14_000);

/** Every byte percent-encoded: decodes to the same id. */
const encAll = (s: string) => [...Buffer.from(s)].map((b) => `%${b.toString(16).padStart(2, "0")}`).join("");

// ---------------------------------------------------------------------------------------------
// Raw protocol abuse

type PipeItem =
  | { readonly kind: "add"; readonly n: number }
  | { readonly kind: "badJson" }
  | { readonly kind: "get405" }
  | { readonly kind: "unknown" }
  | { readonly kind: "tooLarge"; readonly chunked: boolean };

type Framing =
  | "badChunkSize"
  | "chunkNoCrlf"
  | "clAndTe"
  | "twoCl"
  | "negativeCl"
  | "clNotNumber"
  | "hugeCl"
  | "obsFold"
  | "http2Preface"
  | "noHost";

type Abuse =
  | {
      readonly kind: "truncated";
      readonly n: number;
      readonly cut: number;
      readonly chunked: boolean;
      readonly then: "end" | "destroy" | "hold";
    }
  | { readonly kind: "garbage"; readonly bytes: Uint8Array }
  | { readonly kind: "bigHeader"; readonly shape: "value" | "many" | "target"; readonly bytes: number }
  | { readonly kind: "pipeline"; readonly items: readonly PipeItem[] }
  | { readonly kind: "ctlHeader"; readonly code: number }
  | { readonly kind: "utf8Target"; readonly text: string }
  | { readonly kind: "framing"; readonly which: Framing }
  | { readonly kind: "slow"; readonly n: number; readonly pieces: number; readonly pauseMs: number }
  | { readonly kind: "flood"; readonly sockets: number };

const abuse: fc.Arbitrary<Abuse> = fc.oneof(
  fc.record({
    kind: fc.constant("truncated" as const),
    n: fc.integer({ min: 100, max: 999 }),
    cut: fc.nat(),
    chunked: fc.boolean(),
    then: fc.constantFrom("end" as const, "destroy" as const, "hold" as const),
  }),
  fc.record({
    kind: fc.constant("garbage" as const),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 2000 }),
  }),
  fc.record({
    kind: fc.constant("bigHeader" as const),
    shape: fc.constantFrom("value" as const, "many" as const, "target" as const),
    bytes: fc.integer({ min: 17 * 1024, max: 64 * 1024 }),
  }),
  fc.record({
    kind: fc.constant("pipeline" as const),
    items: fc.array(
      fc.oneof(
        {
          weight: 6,
          arbitrary: fc.integer({ min: -50, max: 50 }).map((n): PipeItem => ({ kind: "add", n })),
        },
        {
          weight: 1,
          arbitrary: fc.constantFrom<PipeItem>({ kind: "badJson" }, { kind: "get405" }, { kind: "unknown" }),
        },
        { weight: 1, arbitrary: fc.boolean().map((chunked): PipeItem => ({ kind: "tooLarge", chunked })) },
      ),
      { minLength: 2, maxLength: 30 },
    ),
  }),
  fc.record({
    kind: fc.constant("ctlHeader" as const),
    code: fc.oneof(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 10, max: 31 }), fc.constant(127)),
  }),
  fc.record({
    kind: fc.constant("utf8Target" as const),
    text: fc.string({ unit: "grapheme", minLength: 1, maxLength: 6 }).filter((s) => /[^\x00-\x7f]/.test(s)),
  }),
  fc.record({
    kind: fc.constant("framing" as const),
    which: fc.constantFrom<Framing>(
      "badChunkSize",
      "chunkNoCrlf",
      "clAndTe",
      "twoCl",
      "negativeCl",
      "clNotNumber",
      "hugeCl",
      "obsFold",
      "http2Preface",
      "noHost",
    ),
  }),
  fc.record({
    kind: fc.constant("slow" as const),
    n: fc.integer({ min: -100, max: 100 }),
    pieces: fc.integer({ min: 2, max: 6 }),
    pauseMs: fc.integer({ min: 1, max: 15 }),
  }),
  fc.record({ kind: fc.constant("flood" as const), sockets: fc.integer({ min: 5, max: 40 }) }),
);

/** The bytes of a framing error around `POST /Counter/{key}/add` with body 7; none of them may run the add. */
function framingBytes(which: Framing, key: string): Buffer {
  const start = `POST /Counter/${key}/add HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n`;
  const text: Record<Framing, string> = {
    badChunkSize: `${start}transfer-encoding: chunked\r\n\r\nzz\r\n7\r\n0\r\n\r\n`,
    chunkNoCrlf: `${start}transfer-encoding: chunked\r\n\r\n1\r\n7XX0\r\n\r\n`,
    clAndTe: `${start}content-length: 1\r\ntransfer-encoding: chunked\r\n\r\n1\r\n7\r\n0\r\n\r\n`,
    twoCl: `${start}content-length: 1\r\ncontent-length: 2\r\n\r\n7 `,
    negativeCl: `${start}content-length: -1\r\n\r\n7`,
    clNotNumber: `${start}content-length: abc\r\n\r\n7`,
    hugeCl: `${start}content-length: 99999999999999999999999\r\n\r\n7`,
    obsFold: `${start}x-folded: a\r\n b\r\ncontent-length: 1\r\n\r\n7`,
    http2Preface: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    noHost: `POST /Counter/${key}/add HTTP/1.1\r\nconnection: close\r\ncontent-length: 1\r\n\r\n7`,
  };
  return Buffer.from(text[which], "latin1");
}

// ---------------------------------------------------------------------------------------------

const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "onelog-fuzz-"));
let child: Child;
const model = new Model();

/** The error line the ingress logs when a client disconnects before its body arrived. */
const isAbortLine = (l: string) =>
  l.includes('"ingress request failed"') && l.includes('"message":"aborted"');

describe("fuzz: onelog in a child process", () => {
  before(async () => {
    child = await startChild(path.join(workDir, "data"));
  });

  after(async () => {
    if (child !== undefined && child.proc.exitCode === null && child.proc.signalCode === null) {
      child.proc.kill("SIGKILL");
      await child.exited;
    }
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  describe("properties: the ingress, the admin endpoint and raw HTTP", () => {
    // Runs first, while nothing else is in flight, so any growth of the log is the batch's doing.
    it("property 2: a batch of requests the ingress must refuse appends nothing to the log and changes no counter", async (t: TestContext) => {
      // Known counters first, through valid calls.
      for (const [i, key] of KEYS.entries()) {
        const r = await send(
          child,
          child.ingressPort,
          post(`/Counter/${enc(key)}/add`, { text: String(i + 1) }),
        );
        assert.equal(r.status, 200, describeReply(r));
        model.counter(key).value += i + 1;
        model.touched.add(key);
      }
      const refused = fuzzRequest.filter((r) => classify(r, model).kind === "reject");
      let lastTail = (await quiesce(child)).tail;
      let requests = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(refused, { minLength: 1, maxLength: 8 }), async (batch) => {
          let before = await lsns(child);
          // After a failed run (while shrinking) its appends may still be applying: wait for them.
          if (before.applied !== before.tail || before.tail !== lastTail) before = await quiesce(child);
          // Sent concurrently: refusals must not depend on each other.
          await Promise.all(
            batch.map(async (req) => {
              requests++;
              await sendChecked(child, model, req, classify(req, model));
            }),
          );
          const afterBatch = await lsns(child);
          lastTail = afterBatch.tail;
          assert.deepEqual(afterBatch, before, "refused requests appended to the log");
          assertAlive(child);
        }),
        runs(200),
      );
      await checkCounters(child, model);
      t.diagnostic(`${requests} refused requests`);
    });

    it("property 1: every request gets a JSON refusal or the right answer, and counters hold what the valid calls added", async (t: TestContext) => {
      const kinds = new Map<string, number>();
      await fc.assert(
        fc.asyncProperty(fc.array(anyRequest, { minLength: 1, maxLength: 6 }), async (batch) => {
          for (const req of batch) {
            const e = classify(req, model);
            kinds.set(e.kind, (kinds.get(e.kind) ?? 0) + 1);
            countSkip(e);
            await sendChecked(child, model, req, e);
          }
          await checkCounters(child, model);
          assertAlive(child);
        }),
        runs(300),
      );
      t.diagnostic(`requests by kind: ${JSON.stringify(Object.fromEntries(kinds))}`);
      t.diagnostic(`not sent: ${JSON.stringify(Object.fromEntries(skipped))}`);
    });

    it("property 1b: concurrent adds, idempotent duplicates and refusals on one key: the answers are one serial order, duplicates count once", async (t: TestContext) => {
      type Item =
        | { readonly kind: "add"; readonly n: number }
        | { readonly kind: "dup"; readonly group: number }
        | { readonly kind: "bad"; readonly how: "json" | "get" | "big" | "key" | "delay" };
      const item: fc.Arbitrary<Item> = fc.oneof(
        { weight: 4, arbitrary: fc.integer({ min: 1, max: 100 }).map((n): Item => ({ kind: "add", n })) },
        { weight: 2, arbitrary: fc.nat(2).map((group): Item => ({ kind: "dup", group })) },
        {
          weight: 2,
          arbitrary: fc
            .constantFrom("json" as const, "get" as const, "big" as const, "key" as const, "delay" as const)
            .map((how): Item => ({ kind: "bad", how })),
        },
      );
      let run = 0;
      let sent = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(item, { minLength: 2, maxLength: 24 }), async (items) => {
          const key = `conc-${++run}-${Date.now()}`;
          const path = `/Counter/${key}/add`;
          /** A duplicate group always adds the same amount, so whichever copy runs first does not matter. */
          const dupAmount = (group: number) => 1000 * (group + 1);
          const reqs = items.map((it): Req => {
            switch (it.kind) {
              case "add":
                return post(path, { text: String(it.n) });
              case "dup":
                return post(path, { text: String(dupAmount(it.group)) }, [
                  ["idempotency-key", `${key}-d${it.group}`],
                ]);
              case "bad":
                return {
                  json: post(path, { text: "{1" }),
                  get: { ...getReq(path), method: "PUT", body: { text: "1" } },
                  big: post(path, { big: MAX_REQUEST_BYTES + 1, json: false }),
                  key: post(path, { text: "1" }, [["idempotency-key", "k".repeat(257)]]),
                  delay: post(`${path}/send?delay=soon`, { text: "1" }),
                }[it.how];
            }
          });
          sent += reqs.length;
          const replies = await Promise.all(reqs.map((r) => send(child, child.ingressPort, r)));
          const answers: number[] = [];
          const amounts: number[] = [];
          const groups = new Map<number, string>();
          items.forEach((it, i) => {
            const r = replies[i]!;
            const what = `concurrent #${i} ${JSON.stringify(it)}`;
            if (it.kind === "bad") return assertRejected(r, what, reqs[i]!.method);
            assert.equal(r.status, 200, `${what}: ${describeReply(r)}`);
            if (it.kind === "add") {
              answers.push(JSON.parse(r.body.toString()) as number);
              amounts.push(it.n);
              return;
            }
            const first = groups.get(it.group);
            if (first === undefined) {
              groups.set(it.group, r.body.toString());
              answers.push(JSON.parse(r.body.toString()) as number);
              amounts.push(dupAmount(it.group));
            } else assert.equal(r.body.toString(), first, `${what}: a duplicate got another answer`);
          });
          // Amounts are positive, so the serial order is the order of the totals.
          answers.sort((a, b) => a - b);
          const steps = answers.map((a, i) => a - (i === 0 ? 0 : answers[i - 1]!));
          assert.deepEqual(
            [...steps].sort((a, b) => a - b),
            [...amounts].sort((a, b) => a - b),
            `the totals ${JSON.stringify(answers)} are not one serial order of ${JSON.stringify(amounts)}`,
          );
          const sum = amounts.reduce((a, b) => a + b, 0);
          assert.equal(await counterValue(child, key), sum, "the final total");
          assertAlive(child);
        }),
        runs(150),
      );
      t.diagnostic(`${sent} concurrent requests`);
    });

    it("property 3: the admin endpoint answers every request with JSON and the documented status; 2xx only for real operations on real ids", async (t: TestContext) => {
      const live = new Set<string>();
      let made = 0;
      /** Makes an invocation the admin can see: a completed keyed call, a keyed delayed send, or an unkeyed delayed send. */
      const replenish = async () => {
        while (live.size < 3) {
          const n = made++;
          const key: Req["headers"] = n % 3 === 2 ? [] : [["idempotency-key", `admin-${n}`]];
          const target = n % 3 === 0 ? "/Echo/echo" : "/Echo/echo/send?delay=1h";
          const r = await send(child, child.ingressPort, post(target, { text: String(n) }, key));
          assert.ok(r.status === 200 || r.status === 202, describeReply(r));
          live.add(header(r, "x-restate-id")!);
        }
      };
      const statuses = new Map<number, number>();
      await fc.assert(
        fc.asyncProperty(fc.array(adminRequest, { minLength: 1, maxLength: 4 }), async (batch) => {
          for (const a of batch) {
            await replenish();
            const ids = [...live];
            const id = ids[a.pick % ids.length]!;
            const target = a.target.replace("{ID%}", encAll(id)).replace("{ID}", id);
            const e = classifyAdmin(a.method, target, live);
            if (typeof e === "string") {
              skipped.set(e, (skipped.get(e) ?? 0) + 1);
              continue;
            }
            const r = await send(child, child.adminPort, { ...getReq(target), method: a.method });
            const what = `admin ${a.method} ${target.slice(0, 200)} (${e.why})`;
            statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
            assert.ok(
              e.statuses.includes(r.status),
              `${what}: expected ${e.statuses.join("|")}, got ${describeReply(r)}`,
            );
            if (a.method === "HEAD") continue;
            if (r.status === 200 && target.startsWith("/metrics")) continue; // Prometheus text
            const v = jsonOf(r, what) as any;
            if (r.status >= 300) {
              assert.ok(
                typeof v?.onelog_code === "string" && v.onelog_code !== "OL1000",
                `${what}: ${describeReply(r)}`,
              );
              if (r.status === 409) assert.equal(v.onelog_code, "OL1023", `${what}: ${describeReply(r)}`);
              assert.ok(
                typeof v.message === "string" && v.message.length > 0,
                `${what}: ${describeReply(r)}`,
              );
            } else if (e.op !== undefined) {
              assert.deepEqual(v, { invocation_id: e.id, operation: e.op }, what);
              // The operation may have ended or forgotten the invocation: ask.
              const st = await send(child, child.adminPort, getReq(`/invocations/${e.id}`));
              assert.ok(st.status === 200 || st.status === 404, `${what}, then GET: ${describeReply(st)}`);
              if (st.status === 404) live.delete(e.id!);
            } else if (e.id !== undefined) {
              assert.equal(v.id, e.id, what);
            } else if (e.why === "health") {
              assert.equal(v.status, "ok", what);
            }
          }
          assertAlive(child);
        }),
        runs(300),
      );
      t.diagnostic(
        `admin statuses: ${JSON.stringify(Object.fromEntries(statuses))}; invocations made: ${made}`,
      );
    });

    it("property 4: raw protocol abuse (truncation, garbage, huge headers, pipelining, bad framing, floods) leaves the server up and correct", async (t: TestContext) => {
      let run = 0;
      const probeKey = "probe";
      const kinds = new Map<string, number>();
      await fc.assert(
        fc.asyncProperty(abuse, async (a) => {
          run++;
          kinds.set(a.kind, (kinds.get(a.kind) ?? 0) + 1);
          // Nothing sent to this key may ever run: every request to it is broken.
          const victim = `victim-${run}-${Date.now()}`;
          const port = child.ingressPort;
          const held: (() => void)[] = [];
          const noSuccess = (ex: Exchange, what: string) => {
            for (const r of ex.replies) assert.ok(r.status >= 400, `${what}: ${describeReply(r)}`);
          };
          try {
            switch (a.kind) {
              case "truncated": {
                const full = encodeReq({
                  ...post(`/Counter/${victim}/add`, { text: String(a.n) }),
                  chunks: a.chunked ? [1, 1] : undefined,
                });
                // A chunked body is complete once its last chunk arrived: cut before the terminating 0-chunk.
                const limit = a.chunked ? full.length - 5 : full.length;
                const bytes = full.subarray(0, a.cut % limit);
                if (a.then === "hold") held.push(await hold(port, bytes));
                else
                  noSuccess(
                    await exchange(port, [bytes], { methods: ["POST"], then: a.then, timeoutMs: 3000 }),
                    "truncated",
                  );
                break;
              }
              case "garbage":
                noSuccess(
                  await exchange(port, [Buffer.from(a.bytes)], {
                    methods: ["GET"],
                    then: "end",
                    timeoutMs: 3000,
                  }),
                  "garbage",
                );
                break;
              case "bigHeader": {
                const filler = "h".repeat(a.bytes);
                const req =
                  a.shape === "target"
                    ? post(`/Counter/${victim}/add?pad=${filler}`, { text: "1" })
                    : post(
                        `/Counter/${victim}/add`,
                        { text: "1" },
                        a.shape === "value"
                          ? [["x-big", filler]]
                          : Array.from({ length: Math.ceil(a.bytes / 64) }, (_, i): [string, string] => [
                              `x-h${i}`,
                              "v".repeat(58),
                            ]),
                      );
                const ex = await exchange(port, [encodeReq(req)], { methods: ["POST"], timeoutMs: 5000 });
                assert.ok(!ex.timedOut, "no answer to a huge header");
                noSuccess(ex, `header of ${a.bytes} bytes (${a.shape})`);
                break;
              }
              case "pipeline": {
                const pipeKey = `pipe-${run}-${Date.now()}`;
                const reqs = a.items.map((item): Req => {
                  switch (item.kind) {
                    case "add":
                      return post(`/Counter/${pipeKey}/add`, { text: String(item.n) });
                    case "badJson":
                      return post(`/Counter/${pipeKey}/add`, { text: "{nope" });
                    case "get405":
                      return { ...getReq(`/Counter/${pipeKey}/add`), method: "PUT", body: { text: "5" } };
                    case "unknown":
                      return post(`/Nope/${pipeKey}/add`, { text: "5" });
                    case "tooLarge":
                      return {
                        ...post(`/Counter/${pipeKey}/add`, { big: MAX_REQUEST_BYTES + 10, json: false }),
                        chunks: item.chunked ? [50_000] : undefined,
                      };
                  }
                });
                const bytes = Buffer.concat(
                  reqs.map((r, i) => encodeReq(r, i === reqs.length - 1 ? "close" : "keep-alive")),
                );
                const ex = await exchange(port, [bytes], {
                  methods: reqs.map((r) => r.method),
                  timeoutMs: 15_000,
                });
                assert.ok(!ex.timedOut, "pipelined requests were not all answered");
                assert.equal(
                  ex.replies.length,
                  reqs.length,
                  `pipelined ${reqs.length}, answered ${ex.replies.length}`,
                );
                let total = 0;
                a.items.forEach((item, i) => {
                  const r = ex.replies[i]!;
                  const what = `pipelined #${i} ${item.kind}`;
                  if (item.kind === "add") {
                    total += item.n;
                    assert.equal(r.status, 200, `${what}: ${describeReply(r)}`);
                    assert.equal(JSON.parse(r.body.toString()), total, what);
                  } else {
                    const status = { badJson: 400, get405: 405, unknown: 404, tooLarge: 413 }[item.kind];
                    assert.equal(r.status, status, `${what}: ${describeReply(r)}`);
                    assertRejected(r, what, "POST");
                  }
                });
                break;
              }
              case "ctlHeader": {
                const req = post(`/Counter/${victim}/add`, { text: "1" }, [
                  ["idempotency-key", `a${String.fromCharCode(a.code)}b`],
                ]);
                noSuccess(
                  await exchange(port, [encodeReq(req)], { methods: ["POST"], timeoutMs: 5000 }),
                  `control character ${a.code}`,
                );
                break;
              }
              case "utf8Target": {
                const head = Buffer.from(`POST /Counter/${victim}`, "latin1");
                const tail = Buffer.from(
                  "/add HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 1\r\nconnection: close\r\n\r\n1",
                  "latin1",
                );
                const ex = await exchange(port, [Buffer.concat([head, Buffer.from(a.text, "utf8"), tail])], {
                  methods: ["POST"],
                  timeoutMs: 5000,
                });
                noSuccess(ex, "raw UTF-8 in the target");
                break;
              }
              case "framing":
                noSuccess(
                  await exchange(port, [framingBytes(a.which, victim)], {
                    methods: ["POST"],
                    then: "end",
                    timeoutMs: 5000,
                  }),
                  a.which,
                );
                break;
              case "slow": {
                const full = encodeReq(post(`/Counter/${probeKey}/add`, { text: String(a.n) }));
                const writes: Write[] = [];
                const step = Math.ceil(full.length / a.pieces);
                for (let at = 0; at < full.length; at += step) {
                  if (at > 0) writes.push({ pauseMs: a.pauseMs });
                  writes.push(full.subarray(at, at + step));
                }
                const ex = await exchange(port, writes, { methods: ["POST"] });
                const s = model.counter(probeKey);
                s.value += a.n;
                assert.equal(ex.replies.length, 1, "a request sent slowly got no answer");
                assert.equal(
                  JSON.parse(ex.replies[0]!.body.toString()),
                  s.value,
                  describeReply(ex.replies[0]!),
                );
                break;
              }
              case "flood":
                for (let i = 0; i < a.sockets; i++) {
                  held.push(
                    await hold(
                      port,
                      Buffer.from(
                        `POST /Counter/${victim}/add HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 3\r\n\r\n1`,
                      ),
                    ),
                  );
                }
                break;
            }
            assertAlive(child);
            // With the abusive connections still open, a normal call answers correctly.
            const s = model.counter(probeKey);
            s.value += 1;
            const r = await send(child, port, post(`/Counter/${probeKey}/add`, { text: "1" }));
            assert.equal(r.status, 200, describeReply(r));
            assert.equal(JSON.parse(r.body.toString()), s.value, "the probe counter");
          } finally {
            for (const close of held) close();
          }
          assert.equal(await counterValue(child, victim), 0, "a broken request ran its add");
          assertAlive(child);
        }),
        runs(200),
      );
      t.diagnostic(`abuse by kind: ${JSON.stringify(Object.fromEntries(kinds))}`);
    });

    it("the server logged no errors while it was fuzzed (client disconnects aside: see the findings)", () => {
      assertAlive(child);
      const errors = child.stderr.filter((l) => l.includes('"level":"error"') && !isAbortLine(l));
      assert.deepEqual(errors, []);
    });
  });

  // Bugs the fuzzer found: each test asserts the documented behaviour and fails until it is fixed.
  describe("findings", () => {
    it("a client that disconnects before its body arrived is not logged as an internal error", async () => {
      const before = child.stderr.filter(isAbortLine).length;
      const bytes = encodeReq(post("/Counter/aborted/add", { text: "123" })).subarray(0, -2);
      await exchange(child.ingressPort, [bytes, { pauseMs: 20 }], { methods: ["POST"], then: "destroy" });
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(
        child.stderr.filter(isAbortLine).length,
        before,
        "an 'aborted' line was logged at level error",
      );
    });

    it("a target starting with // is refused; it does not run the call named by the rest of the path", async () => {
      const before = await counterValue(child, "slash");
      assertRejected(
        await send(child, child.ingressPort, post("//x/Counter/slash/add", { text: "5" })),
        "//x/Counter/slash/add",
        "POST",
      );
      assert.equal(await counterValue(child, "slash"), before, "the add ran");
      assertRejected(await send(child, child.ingressPort, post("//[/x")), "//[/x", "POST");
    });

    it("a backslash in the target is not a path separator", async () => {
      const before = await counterValue(child, "bs");
      assertRejected(
        await send(child, child.ingressPort, post("/Counter\\bs\\add", { text: "5" })),
        "/Counter\\bs\\add",
        "POST",
      );
      assert.equal(await counterValue(child, "bs"), before, "the add ran");
    });

    it("a plain-number ?delay= over a year is refused with OL1006, as a unit one is", async () => {
      assertRejected(
        await send(child, child.ingressPort, post("/Echo/echo/send?delay=366d", { text: "1" })),
        "366d",
        "POST",
      );
      for (const d of [String(YEAR_MS + 1), "9".repeat(400)]) {
        const r = await send(child, child.ingressPort, post(`/Echo/echo/send?delay=${d}`, { text: "1" }));
        assert.equal(r.status, 400, `delay=${d.slice(0, 30)}…: ${describeReply(r)}`);
        assert.equal((jsonOf(r, d) as any).onelog_code, "OL1006");
      }
    });

    it("/restate/health answers only GET /restate/health", async () => {
      for (const [m, p] of [
        ["DELETE", "/restate/health/x/y"],
        ["POST", "/restate/health"],
        ["GET", "/restate/health/nope"],
      ] as const) {
        assertRejected(await send(child, child.ingressPort, { ...getReq(p), method: m }), `${m} ${p}`, m);
      }
    });

    it("the admin endpoint refuses malformed targets with a JSON 4xx, not 500 (found by the fuzzer; fixed)", async () => {
      for (const [m, p] of [
        ["GET", "/invocations/%E0%A4%A"],
        ["PATCH", "/invocations/%ZZ/kill"],
        ["DELETE", "/invocations/%C3"],
        ["GET", "//"],
        ["GET", "//[/x"],
      ] as const) {
        const r = await send(child, child.adminPort, { ...getReq(p), method: m });
        assertRejected(r, `admin ${m} ${p}`, m);
        assert.ok(r.status < 500, `admin ${m} ${p}: ${describeReply(r)}`);
      }
    });

    it("requests Node's HTTP parser refuses get a JSON {code, message} answer too", async () => {
      const cases: [string, Buffer][] = [
        [
          "control character in a header",
          encodeReq(post("/Echo/echo", { text: "1" }, [["idempotency-key", "a\x01b"]])),
        ],
        [
          "raw UTF-8 in the target",
          Buffer.concat([
            Buffer.from("POST /Echo/"),
            Buffer.from("é"),
            Buffer.from(" HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"),
          ]),
        ],
        ["header over 16 KiB", encodeReq(post("/Echo/echo", { text: "1" }, [["x-big", "h".repeat(20_000)]]))],
        ["bad chunk size", framingBytes("badChunkSize", "k")],
        ["no host header", framingBytes("noHost", "k")],
        ["expect: something", encodeReq(post("/Echo/echo", { text: "1" }, [["expect", "something"]]))],
        ["CONNECT", Buffer.from("CONNECT 127.0.0.1:1 HTTP/1.1\r\nhost: x\r\n\r\n")],
      ];
      const wrong: string[] = [];
      for (const [what, bytes] of cases) {
        const ex = await exchange(child.ingressPort, [bytes], {
          methods: ["POST"],
          then: "end",
          timeoutMs: 3000,
        });
        const r = ex.replies[0];
        if (r === undefined) wrong.push(`${what}: no answer`);
        else if (!/^application\/json/.test(header(r, "content-type") ?? ""))
          wrong.push(`${what}: ${describeReply(r)}`);
      }
      assert.deepEqual(wrong, []);
    });
  });
});
