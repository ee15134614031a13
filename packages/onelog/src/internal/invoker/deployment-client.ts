/**
 * HTTP to deployments: HTTP/2 (one session per origin, reused by every invocation's stream, as
 * Restate's server does), or HTTP/1.1 when a deployment asks for it (`use_http_11`). An http://
 * deployment gets HTTP/2 cleartext with prior knowledge; an https:// one gets TLS with ALPN
 * offering h2 and http/1.1, and is spoken to in what it picks, as restate-server does.
 * Certificates are checked against Node's trust store: the system's roots plus
 * `NODE_EXTRA_CA_CERTS`. Discovery is a GET; an invocation is a POST whose request body is the
 * server's half of the protocol stream and whose response body is the deployment's half.
 *
 * Invariants:
 * 1. A broken or closed session is dropped from the pool; the next request opens a new one.
 * 2. Every stream ends in exactly one of `onEnd` or `onError`, after at most one `onResponse`.
 * 3. An https:// origin's protocol is learnt from its first TLS handshake (kept while the
 *    process runs); requests made before that wait for it, in order.
 */
import http from "node:http";
import http2 from "node:http2";
import https from "node:https";
import { isIP } from "node:net";
import tls from "node:tls";
import type { Deployment } from "./deployments.js";

/** Where and how to reach a deployment. */
export type DeploymentAddress = Pick<Deployment, "uri" | "useHttp11" | "additionalHeaders">;

/** What a stream tells its owner. */
export interface StreamEvents {
  readonly onResponse: (
    status: number,
    headers: Readonly<Record<string, string | string[] | undefined>>,
  ) => void;
  readonly onData: (chunk: Uint8Array) => void;
  readonly onEnd: () => void;
  readonly onError: (error: Error) => void;
}

/** The server's half of an invocation stream. */
export interface InvocationStream {
  readonly write: (bytes: Uint8Array) => void;
  /** Ends the request body (request/response mode, or asking a deployment to suspend). */
  readonly endInput: () => void;
  /** Cancels the stream; no event follows. */
  readonly abort: () => void;
  /** Calls `f` once the stream is closed, whichever way. */
  readonly onClosed?: (f: () => void) => void;
}

/** The accepted manifest versions, best first (Restate's discovery content types). */
const MANIFEST_ACCEPT = [4, 3, 2, 1]
  .map((v) => `application/vnd.restate.endpointmanifest.v${v}+json`)
  .join(", ");

/** Joins a deployment's base URL and a path (`/discover`, `/invoke/S/h`). */
function urlOf(uri: string, path: string): URL {
  const base = new URL(uri);
  const prefix = base.pathname.replace(/\/+$/, "");
  return new URL(`${prefix}${path}`, base.origin);
}

/** What a client adds to every request: e.g. a request-identity signature of its path. */
export interface DeploymentClientOptions {
  readonly requestHeaders?: (path: string) => Record<string, string>;
}

/** Invocation URLs cached per client: deployments × handlers, far fewer in practice. */
const INVOKE_URLS = 1024;

/** What an https:// origin picked by ALPN. */
type Alpn = "h2" | "http/1.1";

export class DeploymentClient {
  private readonly sessions = new Map<string, http2.ClientHttp2Session>();
  /** Per https:// origin, what its TLS handshake picked, or the handshake under way (3). */
  private readonly alpn = new Map<string, Alpn | Promise<Alpn>>();
  /** Invocation URLs by deployment URI and path (never mutated once made). */
  private readonly invokeUrls = new Map<string, URL>();
  private closed = false;

  constructor(private readonly options: DeploymentClientOptions = {}) {}

  /**
   * Asks a deployment what it serves. Resolves with the parsed manifest and the HTTP version
   * that answered; rejects with a message that says what went wrong (unreachable, status, body).
   */
  async discover(address: DeploymentAddress, timeoutMs = 10_000): Promise<unknown> {
    const url = urlOf(address.uri, "/discover");
    const { status, body } = await this.get(address, url, { accept: MANIFEST_ACCEPT }, timeoutMs);
    if (status < 200 || status >= 300) {
      throw new Error(`GET ${url.href} answered ${status}: ${body.slice(0, 500)}`);
    }
    try {
      return JSON.parse(body) as unknown;
    } catch {
      throw new Error(`GET ${url.href} answered a body that is not JSON: ${body.slice(0, 200)}`);
    }
  }

  private get(
    address: DeploymentAddress,
    url: URL,
    headers: Record<string, string>,
    timeoutMs: number,
  ): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      let status = 0;
      const chunks: Buffer[] = [];
      const timer = setTimeout(() => {
        stream.abort();
        reject(new Error(`GET ${url.href} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      const stream = this.open(address, url, "GET", headers, {
        onResponse: (s) => (status = s),
        onData: (c) => chunks.push(Buffer.from(c)),
        onEnd: () => {
          clearTimeout(timer);
          resolve({ status, body: Buffer.concat(chunks).toString("utf8") });
        },
        onError: (e) => {
          clearTimeout(timer);
          reject(new Error(`GET ${url.href} failed: ${e.message}`));
        },
      });
      stream.endInput();
    });
  }

  /** Opens an invocation stream: `POST {uri}{path}` (2). */
  invoke(
    address: DeploymentAddress,
    path: string,
    headers: Record<string, string>,
    events: StreamEvents,
  ): InvocationStream {
    return this.open(address, this.invokeUrl(address.uri, path), "POST", headers, events);
  }

  /**
   * The URL of `path` on a deployment, parsed once per deployment and handler: an invocation
   * would otherwise parse two URLs. At most INVOKE_URLS are kept (dropped all at once past it).
   */
  private invokeUrl(uri: string, path: string): URL {
    const key = `${uri} ${path}`;
    let url = this.invokeUrls.get(key);
    if (url === undefined) {
      if (this.invokeUrls.size >= INVOKE_URLS) this.invokeUrls.clear();
      url = urlOf(uri, path);
      this.invokeUrls.set(key, url);
    }
    return url;
  }

  private open(
    address: DeploymentAddress,
    url: URL,
    method: string,
    headers: Record<string, string>,
    events: StreamEvents,
  ): InvocationStream {
    let done = false;
    const once = {
      onResponse: events.onResponse,
      onData: (c: Uint8Array) => {
        if (!done) events.onData(c);
      },
      onEnd: () => {
        if (done) return;
        done = true;
        events.onEnd();
      },
      onError: (e: Error) => {
        if (done) return;
        done = true;
        events.onError(tlsError(rootCause(e)));
      },
    };
    const all = { ...address.additionalHeaders, ...this.options.requestHeaders?.(url.pathname), ...headers };
    if (this.closed) {
      queueMicrotask(() => once.onError(new Error("the deployment client is closed")));
      return { write: () => {}, endInput: () => {}, abort: () => {} };
    }
    let stream: InvocationStream;
    if (address.useHttp11) {
      stream = this.http1(url, method, all, once);
    } else if (url.protocol !== "https:") {
      stream = this.http2(url, method, all, once);
    } else {
      const picked = this.alpnOf(url);
      const start = (p: Alpn) =>
        p === "h2" ? this.http2(url, method, all, once) : this.http1(url, method, all, once);
      stream = typeof picked === "string" ? start(picked) : deferred(picked.then(start), once.onError);
    }
    return {
      write: stream.write,
      endInput: stream.endInput,
      abort: () => {
        done = true;
        stream.abort();
      },
      ...(stream.onClosed === undefined ? {} : { onClosed: stream.onClosed }),
    };
  }

  /** What an https:// origin speaks: known, or learnt by a TLS handshake whose socket an h2 session then uses (3). */
  private alpnOf(url: URL): Alpn | Promise<Alpn> {
    const known = this.alpn.get(url.origin);
    if (known !== undefined) return known;
    const learning = new Promise<Alpn>((resolve, reject) => {
      const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
      const socket = tls.connect({
        host,
        port: url.port === "" ? 443 : Number(url.port),
        ALPNProtocols: ["h2", "http/1.1"],
        ...(isIP(host) === 0 ? { servername: host } : {}),
      });
      socket.setTimeout(10_000, () =>
        socket.destroy(new Error("the TLS handshake did not finish within 10 s")),
      );
      socket.once("error", (e) => {
        this.alpn.delete(url.origin); // the next request tries again
        reject(e);
      });
      socket.once("secureConnect", () => {
        socket.setTimeout(0);
        const picked: Alpn = socket.alpnProtocol === "h2" ? "h2" : "http/1.1";
        this.alpn.set(url.origin, picked);
        if (picked === "h2" && !this.closed) this.session(url.origin, socket);
        else socket.destroy();
        resolve(picked);
      });
    });
    this.alpn.set(url.origin, learning);
    return learning;
  }

  private session(origin: string, socket?: tls.TLSSocket): http2.ClientHttp2Session {
    const existing = this.sessions.get(origin);
    if (existing !== undefined && !existing.closed && !existing.destroyed) {
      socket?.destroy();
      return existing;
    }
    const session =
      socket === undefined
        ? http2.connect(origin)
        : http2.connect(origin, { createConnection: () => socket });
    const drop = () => {
      if (this.sessions.get(origin) === session) this.sessions.delete(origin); // 1
    };
    session.on("error", drop);
    session.on("close", drop);
    session.on("goaway", drop);
    session.unref();
    this.sessions.set(origin, session);
    return session;
  }

  private http2(
    url: URL,
    method: string,
    headers: Record<string, string>,
    events: StreamEvents,
  ): InvocationStream {
    let req: http2.ClientHttp2Stream;
    try {
      req = this.session(url.origin).request({
        ":method": method,
        ":path": url.pathname + url.search,
        ...headers,
      });
    } catch (e) {
      queueMicrotask(() => events.onError(e as Error));
      return { write: () => {}, endInput: () => {}, abort: () => {} };
    }
    req.on("response", (h) => events.onResponse(Number(h[":status"]), h));
    req.on("data", (c: Buffer) => events.onData(c));
    req.on("end", () => events.onEnd());
    req.on("error", (e) => events.onError(e));
    const closed = whenClosed();
    req.on("close", () => {
      closed.fire();
      if (req.rstCode !== undefined && req.rstCode !== http2.constants.NGHTTP2_NO_ERROR) {
        events.onError(new Error(`the deployment reset the stream (HTTP/2 code ${req.rstCode})`));
      } else {
        events.onEnd();
      }
    });
    return {
      write: (b) => {
        if (!req.writableEnded && !req.destroyed) req.write(b);
      },
      endInput: () => {
        if (!req.writableEnded && !req.destroyed) req.end();
      },
      abort: () => {
        if (!req.destroyed) req.close(http2.constants.NGHTTP2_CANCEL);
      },
      onClosed: closed.on,
    };
  }

  private http1(
    url: URL,
    method: string,
    headers: Record<string, string>,
    events: StreamEvents,
  ): InvocationStream {
    const req =
      url.protocol === "https:"
        ? https.request(url, { method, headers, agent: https1Agent })
        : http.request(url, { method, headers, agent: http1Agent });
    const closed = whenClosed();
    req.on("close", closed.fire);
    req.on("response", (res) => {
      events.onResponse(res.statusCode ?? 0, res.headers);
      res.on("data", (c: Buffer) => events.onData(c));
      res.on("end", () => events.onEnd());
      res.on("error", (e) => events.onError(e));
      res.on("close", () => {
        if (!res.complete) events.onError(new Error("the deployment closed the connection mid-answer"));
      });
    });
    req.on("error", (e) => events.onError(e));
    return {
      write: (b) => {
        if (!req.writableEnded && !req.destroyed) req.write(b);
      },
      endInput: () => {
        if (!req.writableEnded && !req.destroyed) req.end();
      },
      abort: () => {
        if (!req.destroyed) req.destroy();
      },
      onClosed: closed.on,
    };
  }

  /** Closes every session. */
  close(): void {
    this.closed = true;
    for (const s of this.sessions.values()) s.close();
    this.sessions.clear();
    this.alpn.clear();
  }
}

const http1Agent = new http.Agent({ keepAlive: true });
const https1Agent = new https.Agent({ keepAlive: true });

/** Certificate problems say so, and how to trust a private CA. */
function tlsError(e: Error): Error {
  const code = (e as { code?: unknown }).code;
  if (typeof code === "string" && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS_CERT_ALTNAME/.test(code)) {
    return new Error(
      `the deployment's TLS certificate is not trusted: ${e.message} (${code}); a private CA is trusted with NODE_EXTRA_CA_CERTS=ca.pem in the server's environment`,
    );
  }
  return e;
}

/**
 * A stream whose transport is not known yet (3): what is done to it waits, in order, and is
 * done once `start` gives the real stream; a failed start is the stream's error.
 */
function deferred(start: Promise<InvocationStream>, onError: (e: Error) => void): InvocationStream {
  let target: InvocationStream | undefined;
  let aborted = false;
  const waiting: ((s: InvocationStream) => void)[] = [];
  const closed = whenClosed();
  start.then(
    (s) => {
      s.onClosed?.(closed.fire);
      if (aborted) return s.abort();
      target = s;
      for (const op of waiting.splice(0)) op(s);
    },
    (e: unknown) => {
      closed.fire();
      onError(e instanceof Error ? e : new Error(String(e)));
    },
  );
  const call = (op: (s: InvocationStream) => void) =>
    target === undefined ? void waiting.push(op) : op(target);
  return {
    write: (b) => call((s) => s.write(b)),
    endInput: () => call((s) => s.endInput()),
    abort: () => {
      aborted = true;
      target?.abort();
    },
    onClosed: closed.on,
  };
}

/**
 * The error that says what happened: Node's HTTP/2 client wraps a refused connection in "The
 * pending stream has been canceled (caused by: …)"; the cause is what an operator needs to read.
 */
function rootCause(e: Error): Error {
  let err = e;
  while (err.cause instanceof Error) err = err.cause;
  return err;
}

/** A one-shot "closed" signal: `on(f)` calls f once `fire()` was called (at once if it was). */
function whenClosed(): { fire: () => void; on: (f: () => void) => void } {
  let fired = false;
  const waiting: (() => void)[] = [];
  return {
    fire: () => {
      if (fired) return;
      fired = true;
      for (const f of waiting.splice(0)) f();
    },
    on: (f) => (fired ? f() : void waiting.push(f)),
  };
}
