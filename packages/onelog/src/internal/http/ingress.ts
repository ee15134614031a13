/**
 * The HTTP ingress (docs/architecture.md), Restate's paths and shapes:
 *   POST /{service}/{handler}                      call, answers with the handler's output
 *   POST /{service}/{handler}/send[?delay=10s]     send, 202 { invocationId, status }
 *   POST /restate/call/{service}/{handler}, POST /restate/send/{service}/{handler}
 *   GET  /restate/invocation/{id}/attach | /output
 *   POST /{object}/{key}/{handler}[/send], POST /{workflow}/{workflowId}/run[/send] (and shared handlers)
 *   GET  /restate/invocation/{service}/{handler}/{idempotencyKey}/attach | /output
 *   GET  /restate/invocation/{object}/{key}/{handler}/{idempotencyKey}/attach | /output
 *   GET  /restate/workflow/{workflow}/{workflowId}/attach | /output
 *   POST /restate/awakeables/{id}/resolve | /reject  (also /restate/a/{id}/…, Restate's short form)
 * Handler paths take GET too (an empty input), as Restate's ingress does.
 * Header `idempotency-key`: a duplicate request gets the first one's result, also after a restart.
 * Every error is JSON in Restate's shape `{ code, message, source, onelog_code }` (errors.ts errorBody),
 * with the source in the header `x-restate-error-source` too (`invocation`: the handler's own
 * terminal error, which clients must not retry; `ingress`: anything else), as restate-server ≥ 1.7.4.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Result } from "@onelog/sdk/internal";
import type { Engine, InvocationRequest } from "../engine.js";
import { IngressError, errorBody, type IngressErrorCode } from "../errors.js";
import { parseAwakeableId } from "@onelog/sdk/internal";
import { idempotentInvocationId, isInvocationId, workflowRunId } from "../partition/ids.js";
import { parseTarget, type RequestTarget } from "./request-target.js";
import { LogError } from "../log/log.js";
import type { Logger } from "../ops/logger.js";
import type { Target } from "../partition/records.js";
import type { InvocationStatus } from "../partition/store/store.js";

export interface IngressOptions {
  readonly engine: Engine;
  readonly logger: Logger;
  readonly port: number;
  readonly host: string;
  /** Largest request body accepted; larger ones get 413. Default 10 MiB. */
  readonly maxRequestBytes?: number;
  /** Requests handled at once; beyond, 503 with Retry-After. Default 10,000. */
  readonly maxInflightRequests?: number;
}

const HOP_BY_HOP = new Set([
  "host",
  "connection",
  "content-length",
  "transfer-encoding",
  "keep-alive",
  "upgrade",
  "idempotency-key",
]);

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,256}$/;

/** Parses `?delay=`: a number of ms, or a sequence like `1h30m`, `10s`, `500ms`. */
export function parseDelayMs(text: string): number {
  if (/^\d+$/.test(text)) {
    const ms = Number(text);
    if (ms > 365 * 86_400_000) throw new IngressError("OL1006", `delay ${text} ms is longer than a year`);
    return ms;
  }
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  let total = 0;
  let rest = text.trim();
  if (rest === "") throw new IngressError("OL1006", "delay is empty");
  while (rest.length > 0) {
    const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)/.exec(rest);
    if (m === null) {
      throw new IngressError(
        "OL1006",
        `cannot read delay ${JSON.stringify(text)}: use ms or 10s, 5m, 1h30m, 500ms`,
      );
    }
    total += Number(m[1]) * unit[m[2]!]!;
    rest = rest.slice(m[0].length).trim();
  }
  if (!Number.isFinite(total) || total > 365 * 86_400_000) {
    throw new IngressError("OL1006", `delay ${JSON.stringify(text)} is longer than a year`);
  }
  return Math.round(total);
}

export class Ingress {
  private server: Server | undefined;
  private readonly maxRequestBytes: number;
  private inflight = 0;

  constructor(private readonly options: IngressOptions) {
    const o = options;
    this.maxRequestBytes = o.maxRequestBytes ?? 10 * 1024 * 1024;
  }

  /** Listens; resolves with the URL once bound. */
  async listen(): Promise<string> {
    const limit = this.options.maxInflightRequests ?? 10_000;
    // The ingress does not use Host; without this option Node answers a host-less request with a
    // bare 400 that is not JSON.
    const server = createServer({ requireHostHeader: false }, (req, res) => {
      if (req.httpVersion === "1.1" && req.headers.host === undefined) {
        // RFC 9112 §3.2: an HTTP/1.1 request without Host is malformed (answered in JSON here).
        req.resume();
        res.setHeader("connection", "close");
        this.fail(res, new IngressError("OL1021", "malformed HTTP request: no Host header"));
        return;
      }
      // Requests that free slots or return at once (awakeable completions, health, output) are
      // never refused: only requests that may wait hold a slot.
      const path = req.url ?? "";
      const quick =
        path.startsWith("/restate/awakeables/") ||
        path.startsWith("/restate/a/") ||
        path.startsWith("/restate/health") ||
        path.endsWith("/output");
      if (quick) {
        this.handle(req, res).catch((e: unknown) => this.fail(res, e));
        return;
      }
      if (this.inflight >= limit) {
        req.resume();
        this.fail(
          res,
          new IngressError("OL1016", `more than ${limit} requests are in flight; retry shortly`),
        );
        return;
      }
      this.inflight++;
      res.once("close", () => this.inflight--);
      this.handle(req, res).catch((e: unknown) => this.fail(res, e));
    });
    server.keepAliveTimeout = 65_000;
    server.on("clientError", clientError);
    server.on("checkExpectation", (req, res) => {
      this.json(
        res,
        417,
        ingressError(417, "OL1021", `unsupported expectation: ${String(req.headers.expect)}`),
      );
    });
    server.on("connect", (_req, socket: import("node:stream").Duplex) => {
      const body = JSON.stringify(ingressError(405, "OL1007", "CONNECT is not supported"));
      socket.end(
        `HTTP/1.1 405 Method Not Allowed\r\ncontent-type: application/json\r\nx-restate-error-source: ingress\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.options.port, this.options.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const addr = server.address() as AddressInfo;
    const host = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
    return `http://${host}:${addr.port}`;
  }

  /** Stops accepting requests and closes every connection. */
  async close(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = parseTarget(req.url ?? "");
    if (url === undefined) throw new IngressError("OL1012", `no such path: ${JSON.stringify(req.url ?? "")}`);
    let segments: string[];
    try {
      segments = url.pathname
        .split("/")
        .filter((s) => s !== "")
        .map(decodeURIComponent);
    } catch {
      throw new IngressError("OL1012", `cannot decode path ${url.pathname}`);
    }
    if (segments.some((x) => x === "." || x === "..")) {
      // Not normalized away (clients differ on that): a key or name "." or ".." is refused.
      throw new IngressError("OL1012", `path segments "." and ".." are not allowed: ${url.pathname}`);
    }
    if (segments[0] === "restate") {
      const [, kind, ...rest] = segments;
      if (kind === "call" || kind === "send") {
        const reading = this.knowLatestDeployments(rest);
        if (reading !== undefined) await reading;
        return this.invoke(req, res, url, rest, kind === "send");
      }
      if (kind === "invocation") return this.attachOrOutput(req, res, rest);
      if (kind === "workflow") return this.workflowAttachOrOutput(req, res, rest);
      if (kind === "awakeables" || kind === "a") return this.awakeable(req, res, rest);
      if (kind === "health" && rest.length === 0) {
        if (req.method !== "GET" && req.method !== "HEAD") {
          res.setHeader("allow", "GET, HEAD");
          throw new IngressError("OL1007", `use GET for /restate/health, not ${req.method}`);
        }
        // As Restate: the names of the services this ingress can reach.
        return this.json(res, 200, { services: [...this.options.engine.services.keys()].sort() });
      }
      throw new IngressError("OL1012", `no such path: ${url.pathname}`);
    }
    const reading = this.knowLatestDeployments(segments);
    if (reading !== undefined) await reading;
    const svc = segments[0] === undefined ? undefined : this.options.engine.services.get(segments[0]);
    const expected = svc === undefined || svc.kind === "service" ? 2 : 3;
    const send = segments.length === expected + 1 && segments[segments.length - 1] === "send";
    return this.invoke(req, res, url, send ? segments.slice(0, -1) : segments, send);
  }

  /**
   * A cluster: a path whose service (or handler) this node does not know may name a deployment
   * just registered on another node; read the cluster's latest registry before answering 404
   * (deployments.ts, 6). Embedded, this process made every registration itself: nothing to read.
   * Undefined when there is nothing to wait for (the common case: no tick added to the request).
   */
  private knowLatestDeployments(segments: readonly string[]): Promise<void> | undefined {
    const remote = this.options.engine.remote?.deployments;
    if (remote?.isShared !== true || segments[0] === undefined) return undefined;
    const svc = this.options.engine.services.get(segments[0]);
    if (svc !== undefined && segments.slice(1).some((s) => svc.handlers.has(s))) return undefined;
    return remote.sync().then(
      () => undefined,
      (e: unknown) => {
        // Not a 404: the target may well exist, this node cannot tell now.
        throw new IngressError(
          "OL1011",
          `the cluster's deployment registry cannot be read now, so ${JSON.stringify(segments[0])} may be unknown here only: ${(e as Error).message}`,
        );
      },
    );
  }

  /** The target a path names: /{service}/{handler}, or /{object|workflow}/{key}/{handler}. */
  private targetOf(segments: string[], path: string): Target {
    const name = segments[0];
    const svc = name === undefined ? undefined : this.options.engine.services.get(name);
    if (svc === undefined) {
      if (segments.length < 2)
        throw new IngressError("OL1012", `no such path: ${path} (expected /{service}/{handler})`);
      throw new IngressError("OL1001", `unknown service ${JSON.stringify(name)}`);
    }
    const keyed = svc.kind !== "service";
    if (segments.length !== (keyed ? 3 : 2)) {
      // A known service with the wrong number of segments (a keyed path without its key) is a
      // bad path (400), as in Restate, not an unknown target.
      throw new IngressError(
        "OL1030",
        keyed
          ? `${svc.kind} ${svc.name} is called as /${svc.name}/{${svc.kind === "object" ? "key" : "workflowId"}}/{handler}`
          : `service ${svc.name} is a plain service: call it as /${svc.name}/{handler}, it takes no key`,
      );
    }
    const handler = segments[keyed ? 2 : 1]!;
    const h = svc.handlers.get(handler);
    if (h === undefined) {
      throw new IngressError(
        "OL1002",
        `${svc.kind} ${svc.name} has no handler ${JSON.stringify(handler)}; it has: ${[...svc.handlers.keys()].join(", ")}`,
      );
    }
    if (h.ingressPrivate) {
      throw new IngressError("OL1010", `service ${svc.name} is private: it cannot be called from outside`);
    }
    return keyed ? { service: svc.name, handler, key: segments[1]! } : { service: svc.name, handler };
  }

  private async invoke(
    req: IncomingMessage,
    res: ServerResponse,
    url: RequestTarget,
    segments: string[],
    send: boolean,
  ) {
    if (req.method !== "POST" && req.method !== "GET") {
      res.setHeader("allow", "GET, POST");
      throw new IngressError(
        "OL1007",
        `use POST (or GET, with no input) to invoke a handler, not ${req.method}`,
      );
    }
    const target = this.targetOf(segments, url.pathname);
    const idempotencyKey = this.idempotencyKey(req);
    const delay = url.searchParams.get("delay");
    if (delay !== null && !send) throw new IngressError("OL1006", "delay is only allowed on /send");
    const delayMs = delay === null ? undefined : parseDelayMs(delay);
    const argument = await this.readBody(req);
    const handler = this.options.engine.handler(target.service, target.handler)!;
    if (argument.length > 0 && handler.input.contentType === "application/json") {
      try {
        JSON.parse(argument.toString("utf8"));
      } catch (e) {
        throw new IngressError("OL1003", `request body is not valid JSON: ${(e as Error).message}`);
      }
    }
    const request: InvocationRequest = {
      target,
      argument,
      headers: this.forwardedHeaders(req),
      ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
      ...(delayMs === undefined ? {} : { delayMs }),
    };
    if (send) {
      const r = await this.unavailableOnLogError(() => this.options.engine.send(request));
      res.setHeader("x-restate-id", r.invocationId);
      return this.json(res, 202, {
        invocationId: r.invocationId,
        // As Restate: a delayed send says when it will run.
        ...(delayMs === undefined ? {} : { executionTime: new Date(Date.now() + delayMs).toISOString() }),
        status: r.previouslyAccepted ? "PreviouslyAccepted" : "Accepted",
      });
    }
    const { invocationId, result } = await this.unavailableOnLogError(() =>
      this.options.engine.call(request),
    );
    res.setHeader("x-restate-id", invocationId);
    this.result(res, result, handler.output.contentType);
  }

  private async attachOrOutput(req: IncomingMessage, res: ServerResponse, rest: string[]): Promise<void> {
    if (req.method !== "GET") {
      res.setHeader("allow", "GET");
      throw new IngressError("OL1007", `use GET for attach and output, not ${req.method}`);
    }
    const what = rest[rest.length - 1];
    if (what !== "attach" && what !== "output") {
      throw new IngressError("OL1012", "expected /restate/invocation/{id}/attach or /output");
    }
    let id: string;
    if (rest.length === 2) {
      id = rest[0]!;
      if (!isInvocationId(id))
        throw new IngressError("OL1013", `${JSON.stringify(id)} is not an invocation id`);
    } else if (rest.length === 4 || rest.length === 5) {
      const parts = rest.slice(0, -2);
      const target = this.targetOf(parts, `/${parts.join("/")}`);
      id = idempotentInvocationId(target, rest[rest.length - 2]!);
    } else {
      throw new IngressError("OL1012", "expected /restate/invocation/{id}/" + what);
    }
    return this.answerFor(res, id, what);
  }

  /** GET /restate/workflow/{name}/{id}/attach | /output: the workflow's run. */
  private async workflowAttachOrOutput(
    req: IncomingMessage,
    res: ServerResponse,
    rest: string[],
  ): Promise<void> {
    if (req.method !== "GET") {
      res.setHeader("allow", "GET");
      throw new IngressError("OL1007", `use GET for attach and output, not ${req.method}`);
    }
    const [name, workflowId, what] = rest;
    if (rest.length !== 3 || (what !== "attach" && what !== "output")) {
      throw new IngressError("OL1012", "expected /restate/workflow/{name}/{workflowId}/attach or /output");
    }
    const reading = this.knowLatestDeployments([name!, "run"]);
    if (reading !== undefined) await reading;
    const svc = this.options.engine.services.get(name!);
    if (svc === undefined || svc.kind !== "workflow") {
      throw new IngressError("OL1001", `unknown workflow ${JSON.stringify(name)}`);
    }
    return this.answerFor(res, workflowRunId(svc.name, workflowId!), what);
  }

  /** POST /restate/awakeables/{id}/resolve (body: the value) | /reject (body: the reason). */
  private async awakeable(req: IncomingMessage, res: ServerResponse, rest: string[]): Promise<void> {
    const [id, what] = rest;
    if (rest.length !== 2 || (what !== "resolve" && what !== "reject")) {
      throw new IngressError("OL1012", "expected /restate/awakeables/{id}/resolve or /reject");
    }
    if (req.method !== "POST") {
      res.setHeader("allow", "POST");
      throw new IngressError("OL1007", `use POST to ${what} an awakeable, not ${req.method}`);
    }
    if (parseAwakeableId(id!) === undefined) {
      throw new IngressError("OL1014", `${JSON.stringify(id)} is not an awakeable id`);
    }
    const body = await this.readBody(req);
    const result =
      what === "resolve"
        ? { ok: body }
        : { err: { code: 500, message: body.length === 0 ? "rejected" : reasonOf(body) } };
    await this.unavailableOnLogError(() => this.options.engine.completeAwakeable(id!, result));
    res.writeHead(202, { "content-length": 0 });
    res.end();
  }

  private async answerFor(res: ServerResponse, id: string, what: "attach" | "output"): Promise<void> {
    const engine = this.options.engine;
    const status = await this.unavailableOnLogError(() => engine.status(id));
    if (status === undefined) throw new IngressError("OL1008", `invocation ${id} not found`);
    if (what === "output" && status.result === undefined)
      throw new IngressError("OL1009", `invocation ${id} has not completed yet`);
    const result = status.result ?? (await this.unavailableOnLogError(() => engine.attach(id)));
    if (result === undefined) throw new IngressError("OL1008", `invocation ${id} not found`);
    res.setHeader("x-restate-id", id);
    this.result(res, result, this.contentTypeOf(status));
  }

  /** The content type of what the invocation's handler returns (undefined: the handler is gone). */
  private contentTypeOf(status: InvocationStatus): string | undefined {
    return this.options.engine.handler(status.target.service, status.target.handler)?.output.contentType;
  }

  private idempotencyKey(req: IncomingMessage): string | undefined {
    const raw = req.headers["idempotency-key"];
    if (raw === undefined) return undefined;
    if (typeof raw !== "string" || !IDEMPOTENCY_KEY.test(raw)) {
      throw new IngressError("OL1005", "idempotency-key must be 1–256 visible ASCII characters, given once");
    }
    return raw;
  }

  private forwardedHeaders(req: IncomingMessage): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (v === undefined || HOP_BY_HOP.has(k)) continue;
      out[k] = Array.isArray(v) ? v.join(", ") : v;
    }
    return out;
  }

  private readBody(req: IncomingMessage): Promise<Buffer> {
    const declared = Number(req.headers["content-length"] ?? "0");
    if (declared > this.maxRequestBytes) {
      req.resume();
      return Promise.reject(tooLarge(this.maxRequestBytes));
    }
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on("data", (c: Buffer) => {
        size += c.length;
        if (size > this.maxRequestBytes) {
          req.removeAllListeners("data");
          req.resume();
          reject(tooLarge(this.maxRequestBytes));
          return;
        }
        chunks.push(c);
      });
      req.on("end", () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
      req.on("error", reject);
    });
  }

  private async unavailableOnLogError<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof LogError) {
        throw new IngressError("OL1011", `the log cannot take the request now (${e.code}): ${e.message}`);
      }
      throw e;
    }
  }

  private result(res: ServerResponse, result: Result, contentType: string | undefined): void {
    if ("ok" in result) {
      res.writeHead(200, {
        "content-type": contentType ?? "application/json",
        "content-length": result.ok.length,
      });
      res.end(result.ok);
      return;
    }
    const status = result.err.code >= 400 && result.err.code <= 599 ? result.err.code : 500;
    res.setHeader("x-restate-error-source", "invocation");
    this.json(
      res,
      status,
      errorBody("ingress", {
        status: result.err.code,
        message: result.err.message,
        source: "invocation",
        ...(result.err.metadata === undefined ? {} : { metadata: result.err.metadata }),
      }),
    );
  }

  private json(res: ServerResponse, status: number, body: unknown): void {
    const bytes = Buffer.from(JSON.stringify(body));
    if (status >= 400 && !res.hasHeader("x-restate-error-source"))
      res.setHeader("x-restate-error-source", "ingress");
    res.writeHead(status, { "content-type": "application/json", "content-length": bytes.length });
    res.end(bytes);
  }

  private fail(res: ServerResponse, e: unknown): void {
    if (res.headersSent || res.destroyed || res.writableEnded) {
      // The client went away (mid-body, mid-wait): nothing to answer, nothing wrong here.
      this.options.logger.debug({ err: e }, "ingress client disconnected");
      res.destroy();
      return;
    }
    if (e instanceof IngressError) {
      if (e.status === 503) res.setHeader("retry-after", "1");
      this.json(res, e.status, ingressError(e.status, e.code, e.message));
      return;
    }
    this.options.logger.error({ err: e }, "ingress request failed");
    this.json(res, 500, ingressError(500, "OL1000", `internal error: ${(e as Error).message ?? String(e)}`));
  }
}

/** Answers what Node's HTTP parser refuses with a JSON error too, and closes the connection. */
function clientError(err: NodeJS.ErrnoException, socket: import("node:stream").Duplex): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const tooLarge = err.code === "HPE_HEADER_OVERFLOW";
  const status = tooLarge ? 431 : 400;
  const body = JSON.stringify(
    ingressError(
      status,
      "OL1021",
      tooLarge ? "request headers are too large" : `malformed HTTP request: ${err.code ?? err.message}`,
    ),
  );
  socket.end(
    `HTTP/1.1 ${status} ${tooLarge ? "Request Header Fields Too Large" : "Bad Request"}\r\n` +
      `content-type: application/json\r\nx-restate-error-source: ingress\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/** A rejection reason: a JSON string, or plain text. */
function reasonOf(body: Buffer): string {
  const text = body.toString("utf8");
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === "string" ? v : text;
  } catch {
    return text;
  }
}

function tooLarge(limit: number): IngressError {
  return new IngressError("OL1004", `request body is larger than the limit of ${limit} bytes`);
}

function ingressError(
  status: number,
  onelogCode: IngressErrorCode,
  message: string,
): Record<string, unknown> {
  return errorBody("ingress", { status, message, onelogCode });
}
