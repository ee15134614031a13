// A hand-driven service-protocol client for tests: builds message streams with the codec and talks to an endpoint over HTTP/2 (streaming both ways) or HTTP/1.1 (request/response).
import http from "node:http";
import http2 from "node:http2";
import {
  FrameDecoder,
  MessageType,
  decodeMessage,
  encodeCommand,
  encodeFrame,
  encodeNotification,
  encodeStart,
  type CommandEntry,
  type NotificationEntry,
  type ProtocolMessage,
  type StartMessage,
} from "@onelog/sdk/internal";

export const V5 = "application/vnd.restate.invocation.v5";
export const V6 = "application/vnd.restate.invocation.v6";

const utf8 = new TextEncoder();
export const json = (v: unknown): Uint8Array => utf8.encode(JSON.stringify(v));
export const text = (b: Uint8Array): unknown => JSON.parse(new TextDecoder().decode(b));

/** The Start message's id bytes used by these tests (20 bytes, as a onelog id's). */
export const START_ID = Uint8Array.from({ length: 20 }, (_, i) => i + 1);

/** A Start frame: the journal that follows has `knownEntries` entries. */
export function start(knownEntries: number, extra: Partial<StartMessage> = {}): Uint8Array {
  return encodeFrame(
    MessageType.Start,
    encodeStart({
      id: START_ID,
      debugId: "inv_1test",
      knownEntries,
      stateMap: [],
      partialState: false,
      key: "",
      retryCountSinceLastStoredEntry: 0,
      durationSinceLastStoredEntryMs: 0,
      ...extra,
    }),
  );
}

export function command(entry: CommandEntry): Uint8Array {
  const f = encodeCommand(entry);
  return encodeFrame(f.type, f.body);
}

export function input(value: unknown): Uint8Array {
  return command({ type: "input", argument: json(value), headers: {} });
}

export function notification(entry: NotificationEntry, type: number): Uint8Array {
  const f = encodeNotification(entry, type);
  return encodeFrame(f.type, f.body);
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  return Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.length)));
}

/** Every message of a complete response body. */
export function messages(body: Uint8Array): ProtocolMessage[] {
  const d = new FrameDecoder();
  const out = d.push(body).map((f) => decodeMessage(f));
  if (d.buffered > 0) throw new Error(`the response ends inside a message (${d.buffered} bytes)`);
  return out;
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Uint8Array;
}

/** One HTTP/1.1 request, its whole answer. */
export function http1(
  port: number,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: Uint8Array } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: "127.0.0.1", port, path, method: options.method ?? "POST", headers: options.headers ?? {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(options.body === undefined ? undefined : Buffer.from(options.body));
  });
}

/** An HTTP/2 cleartext connection (prior knowledge) to an endpoint. */
export class H2 {
  readonly session: http2.ClientHttp2Session;
  constructor(port: number) {
    this.session = http2.connect(`http://127.0.0.1:${port}`);
    this.session.on("error", () => {});
  }

  /** One request with a complete body; its whole answer. */
  async request(
    path: string,
    headers: Record<string, string>,
    body?: Uint8Array,
    method = "POST",
  ): Promise<Answer> {
    const s = this.stream(path, headers, method);
    if (body !== undefined) s.send(body);
    s.end();
    return s.answer();
  }

  /** A request whose body is written piece by piece while the answer streams in. */
  stream(path: string, headers: Record<string, string>, method = "POST"): Exchange {
    return new Exchange(this.session.request({ ":method": method, ":path": path, ...headers }));
  }

  close(): void {
    this.session.close();
  }
}

/** One bidirectional HTTP/2 exchange: send frames, await the messages the endpoint writes. */
export class Exchange {
  private readonly decoder = new FrameDecoder();
  private readonly received: ProtocolMessage[] = [];
  private readonly raw: Buffer[] = [];
  private waiters: (() => void)[] = [];
  private ended = false;
  readonly headers: Promise<http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader>;

  constructor(private readonly req: http2.ClientHttp2Stream) {
    req.on("error", () => {});
    this.headers = new Promise((resolve) => req.once("response", resolve));
    req.on("data", (chunk: Buffer) => {
      this.raw.push(chunk);
      try {
        for (const f of this.decoder.push(chunk)) this.received.push(decodeMessage(f));
      } catch {
        // not protocol bytes (an error answer): kept raw
      }
      this.wake();
    });
    const ended = () => {
      this.ended = true;
      this.wake();
    };
    req.on("end", ended); // the endpoint ended its side
    req.on("close", ended);
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  send(bytes: Uint8Array): void {
    this.req.write(Buffer.from(bytes));
  }

  /** Ends the request body (the server's way to ask for suspension). */
  end(): void {
    this.req.end();
  }

  /** Waits until `n` messages came (or the stream ended); returns all messages so far. */
  async next(n: number, timeoutMs = 5_000): Promise<ProtocolMessage[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < n && !this.ended) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${n} messages; got ${this.kinds()}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
    return [...this.received];
  }

  kinds(): string {
    return this.received.map((m) => m.kind).join(", ");
  }

  /** Waits for the end of the answer. */
  async answer(): Promise<Answer> {
    const headers = await this.headers;
    while (!this.ended) await new Promise<void>((resolve) => this.waiters.push(resolve));
    return { status: Number(headers[":status"]), headers, body: Buffer.concat(this.raw) };
  }

  /** Whether the endpoint ended its side. */
  get closed(): boolean {
    return this.ended;
  }
}
