/**
 * The endpoint as a fetch-style handler (`Request` in, `Response` out) for serverless runtimes.
 * In request/response mode (the default) the request body is read whole, the attempt runs until
 * its outcome or its suspension, and the response carries the whole message stream at once. In
 * bidirectional mode (for runtimes that stream both ways over HTTP/2) the request body is read as
 * it comes and the response streams each message as it is written.
 */
import { runInvocation, versionOption, type InvocationStream } from "./invocation.js";
import { route, type EndpointConfig, type ProtocolMode } from "./router.js";
import { SERVER_HEADER } from "./discovery.js";

/** A fetch-style handler. Extra arguments (a runtime's env or context) are accepted and unused. */
export type FetchHandler = (request: Request, ...extraArgs: unknown[]) => Promise<Response>;

/**
 * A fetch handler for `config`, in `mode`.
 *
 * @example
 * export default { fetch: fetchHandler(config, "REQUEST_RESPONSE") };
 */
export function fetchHandler(config: EndpointConfig, mode: ProtocolMode): FetchHandler {
  return async (request) => {
    const path = new URL(request.url).pathname;
    const r = route(config, path, (name) => request.headers.get(name) ?? undefined, mode);
    if (r.type === "respond") {
      await request.body?.cancel().catch(() => {});
      return new Response(r.response.body, { status: r.response.status, headers: r.response.headers });
    }
    const headers = { "content-type": r.contentType, "x-restate-server": SERVER_HEADER };
    if (mode === "REQUEST_RESPONSE") {
      const body = new Uint8Array(await request.arrayBuffer());
      const out: Uint8Array[] = [];
      await runInvocation(
        r.handler,
        { input: once(body), write: (bytes) => out.push(bytes), end: () => {} },
        { logger: config.logger, signal: request.signal, ...versionOption(r.contentType) },
      );
      return new Response(concat(out), { status: 200, headers });
    }
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const readable = new ReadableStream<Uint8Array>({ start: (c) => (controller = c) });
    const stream: InvocationStream = {
      input: chunks(request.body),
      // The runtime may have cancelled the response (the server went away): nothing to write to.
      write: (bytes) => ignoreErrors(() => controller.enqueue(bytes)),
      end: () => ignoreErrors(() => controller.close()),
    };
    void runInvocation(r.handler, stream, {
      logger: config.logger,
      signal: request.signal,
      ...versionOption(r.contentType),
    });
    return new Response(readable, { status: 200, headers });
  };
}

function ignoreErrors(f: () => void): void {
  try {
    f();
  } catch {
    // see the caller
  }
}

async function* once(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  if (bytes.length > 0) yield bytes;
}

/** A request body as an async iterable (not every runtime's ReadableStream is one). */
async function* chunks(body: ReadableStream<Uint8Array> | null): AsyncIterable<Uint8Array> {
  if (body === null) return;
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
