// A deployment written with raw service-protocol frames (onelog's codec), for what Restate's TS SDK cannot emit from a handler: attach and get-output by idempotency key or workflow target, named signals and failure metadata. The same process is registered with onelog serve and with restate-server so both can be compared.
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import {
  FrameDecoder,
  MessageType,
  decodeMessage,
  encodeCommand,
  encodeFrame,
  encodeOutput,
  encodeSuspension,
  isNotification,
  type CommandEntry,
  type Failure,
  type IdempotentRequestTarget,
  type JournalEntry,
  type NotificationValue,
  type Result,
  type WorkflowRunTarget,
} from "@onelog/sdk/internal";

const manifest = {
  protocolMode: "BIDI_STREAM",
  minProtocolVersion: 5,
  maxProtocolVersion: 6,
  services: [
    {
      name: "Probe",
      ty: "SERVICE",
      handlers: ["echo", "hold", "ask", "wait", "signal"].map((name) => ({ name })),
    },
    { name: "Flow", ty: "WORKFLOW", handlers: [{ name: "run", ty: "WORKFLOW" }] },
  ],
};

/** What `Probe/ask` is told to do: one attach or get-output command on this target. */
export interface Ask {
  readonly command: "attach" | "output";
  readonly invocationId?: string;
  readonly idempotent?: IdempotentRequestTarget;
  readonly workflow?: WorkflowRunTarget;
}

/** What `Probe/ask` answers: the notification it got, as JSON. */
export type Answer =
  | { ok: unknown }
  | { void: true }
  | { err: { code: number; message: string; metadata?: { key: string; value: string }[] } };

export interface ProbeDeployment {
  readonly uri: string;
  /** Ends the held `Probe/hold` attempt (the first one held) with this output. */
  readonly release: (output: unknown) => void;
  /** How many `Probe/hold` attempts are held now. */
  readonly held: () => number;
  /** Every protocol version the server asked for (content types of invocations). */
  readonly versions: string[];
  readonly close: () => Promise<void>;
}

const utf8 = new TextEncoder();
const json = (v: unknown): Uint8Array => utf8.encode(JSON.stringify(v));
const parse = (b: Uint8Array): unknown => (b.length === 0 ? null : JSON.parse(new TextDecoder().decode(b)));

function answerOf(v: NotificationValue): Answer {
  if ("ok" in v) return { ok: parse(v.ok) };
  if ("err" in v) {
    const { code, message, metadata } = v.err;
    return { err: { code, message, ...(metadata === undefined ? {} : { metadata: [...metadata] }) } };
  }
  return { void: true };
}

/**
 * Starts the deployment on loopback (HTTP/2 cleartext). Handlers:
 * - `Probe/echo`: its input; `{ fail, code, metadata }` fails terminally with that failure.
 * - `Probe/hold`: held until `release(output)`.
 * - `Probe/ask` (an {@link Ask}): the {@link Answer} its command was notified.
 * - `Probe/wait`: suspends on the named signal `go`, then answers its value.
 * - `Probe/signal` (`{ to, name, value }`): sends named signal `name` to invocation `to`.
 * - `Flow/run`: its input.
 */
export async function startProbeDeployment(): Promise<ProbeDeployment> {
  const held: ((output: unknown) => void)[] = [];
  const versions: string[] = [];
  const server = http2.createServer((req, res) => {
    if (req.url.endsWith("/discover")) {
      res.writeHead(200, { "content-type": "application/vnd.restate.endpointmanifest.v3+json" });
      res.end(JSON.stringify(manifest));
      return;
    }
    const contentType = String(req.headers["content-type"]);
    versions.push(contentType);
    res.writeHead(200, { "content-type": contentType });
    (res as unknown as { flushHeaders: () => void }).flushHeaders();
    const handler = req.url.split("/").slice(-2).join("/");
    const decoder = new FrameDecoder();
    const journal: JournalEntry[] = [];
    let known = -1;
    let waiting: ((v: NotificationValue) => void) | undefined;
    let finished = false;
    const write = (type: number, body: Uint8Array) => {
      if (!res.writableEnded && !res.destroyed) res.write(encodeFrame(type, body));
    };
    const command = (entry: CommandEntry) => {
      const f = encodeCommand(entry);
      write(f.type, f.body);
    };
    const end = (result: Result) => {
      if (finished) return;
      finished = true;
      write(MessageType.OutputCommand, encodeOutput(result));
      write(MessageType.End, new Uint8Array(0));
      res.end();
    };
    const suspend = (names: string[], completions: number[] = []) => {
      finished = true;
      write(
        MessageType.Suspension,
        encodeSuspension({ waitingCompletions: completions, waitingSignals: [], waitingNamedSignals: names }),
      );
      res.end();
    };
    /** Runs once the journal the server sent is read: commands it holds are not sent again. */
    const run = () => {
      const input = journal[0]?.type === "input" ? parse(journal[0].argument) : null;
      const commands = journal.filter((e) => !isNotification(e)).length;
      const notified = (): NotificationValue | undefined => {
        for (const e of journal) if (e.type === "completion" || e.type === "named_signal") return e.value;
        return undefined;
      };
      switch (handler) {
        case "Probe/echo":
        case "Flow/run": {
          const i = input as { fail?: string; code?: number; metadata?: Record<string, string> } | null;
          if (i !== null && typeof i === "object" && typeof i.fail === "string") {
            const failure: Failure = {
              code: i.code ?? 500,
              message: i.fail,
              ...(i.metadata === undefined
                ? {}
                : { metadata: Object.entries(i.metadata).map(([key, value]) => ({ key, value })) }),
            };
            return end({ err: failure });
          }
          return end({ ok: json(input) });
        }
        case "Probe/hold":
          held.push((output) => end({ ok: json(output) }));
          return;
        case "Probe/ask": {
          const ask = input as Ask;
          const target =
            ask.idempotent !== undefined
              ? { idempotentRequest: ask.idempotent }
              : ask.workflow !== undefined
                ? { workflowRun: ask.workflow }
                : { invocationId: ask.invocationId! };
          if (commands < 2) {
            command({
              type: ask.command === "attach" ? "attach_target" : "get_output",
              ...target,
              completionId: 1,
            });
          }
          const done = notified();
          if (done !== undefined) return end({ ok: json(answerOf(done)) });
          waiting = (v) => end({ ok: json(answerOf(v)) });
          return;
        }
        case "Probe/wait": {
          const done = notified();
          if (done !== undefined) return end({ ok: json(answerOf(done)) });
          return suspend(["go"]);
        }
        case "Probe/signal": {
          const s = input as { to: string; name: string; value: unknown };
          if (commands < 2) {
            command({
              type: "send_named_signal",
              invocationId: s.to,
              name: s.name,
              value: { ok: json(s.value) },
            });
          }
          return end({ ok: json("sent") });
        }
        default:
          res.stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      }
    };
    req.on("data", (chunk: Buffer) => {
      try {
        received(chunk);
      } catch (e) {
        res.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR); // this invocation fails; the server goes on
        console.error("probe deployment:", e);
      }
    });
    const received = (chunk: Buffer) => {
      for (const frame of decoder.push(chunk)) {
        const m = decodeMessage(frame);
        if (m.kind === "start") {
          known = m.knownEntries;
        } else if (m.kind === "command" || m.kind === "notification") {
          journal.push(m.entry);
          if (journal.length === known) run();
          else if (journal.length > known && m.kind === "notification" && waiting !== undefined) {
            const w = waiting;
            waiting = undefined;
            w(m.entry.value);
          }
        }
      }
    };
    // Request/response mode (the server ended its half, as under ONELOG_SUSPEND_ALWAYS=1): no
    // completion will come on this stream, so a handler waiting for one suspends on it.
    req.on("end", () => {
      if (waiting === undefined || finished) return;
      waiting = undefined;
      suspend([], [1]);
    });
    req.on("error", () => {});
    res.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
  });
  return {
    uri: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    release: (output) => held.shift()?.(output),
    held: () => held.length,
    versions,
    close: () =>
      new Promise((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  };
}
