// Proves onelog's SDK endpoint serves the Restate service protocol: hand-built message streams (the codec) over real HTTP/2 cleartext and HTTP/1.1 connections on one loopback port, and through the fetch handler, get the answers the protocol prescribes — discovery, outputs, suspensions, replays, live notifications, errors 570/571, 404/415, and request identity (401).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import {
  RetryableError,
  TerminalError,
  endpoint,
  object,
  service,
  workflow,
  type Context,
  type ObjectContext,
  type WorkflowContext,
} from "@onelog/sdk";
import * as fetchSdk from "@onelog/sdk/fetch";
import {
  MessageType,
  encodeFrame,
  generateIdentityKeyPair,
  listenEndpoint,
  protocolAwakeableId,
  signRequestV1,
  type CommandEntry,
  type EndpointServer,
  type ProtocolMessage,
} from "@onelog/sdk/internal";
import {
  H2,
  START_ID,
  V5,
  V6,
  command,
  concat,
  http1,
  input,
  json,
  messages,
  notification,
  start,
  text,
} from "./protocol-client.js";

const silent = () => {};

let greetRuns = 0;
let stepRuns = 0;
const greeter = service({
  name: "Greeter",
  handlers: {
    greet: async (_ctx: Context, name: string) => {
      greetRuns++;
      return `hello ${name}`;
    },
    steps: async (ctx: Context, name: string) => {
      const composed = await ctx.run("compose", () => {
        stepRuns++;
        return `hello ${name}`;
      });
      await ctx.sleep(1_000);
      return `${composed}!`;
    },
    awake: async (ctx: Context) => ctx.awakeable<string>().id,
    fails: async () => {
      throw new Error("boom");
    },
    later: async () => {
      throw new RetryableError("not yet", { retryAfter: { seconds: 7 } });
    },
    refuses: async () => {
      throw new TerminalError("no way", { errorCode: 409 });
    },
    // Rejects another invocation's signal "go" (with metadata), then waits for its own "go".
    signals: async (ctx: Context, other: string) => {
      ctx
        .invocation(other)
        .signal("go")
        .reject(new TerminalError("no", { errorCode: 403, metadata: { k: "v" } }));
      return `got ${await ctx.signal<string>("go")}`;
    },
  },
});

const counter = object({
  name: "Counter",
  handlers: {
    add: async (ctx: ObjectContext, n: number) => {
      const count = ((await ctx.get<number>("count")) ?? 0) + n;
      ctx.set("count", count);
      return count;
    },
  },
});

const signup = workflow({
  name: "Signup",
  handlers: {
    run: async (ctx: WorkflowContext) => ctx.promise<string>("clicked").get(),
  },
});

const out = (m: ProtocolMessage | undefined) => {
  assert.equal(m?.kind, "output");
  const r = (m as { result: { ok?: Uint8Array; err?: unknown } }).result;
  return r.ok === undefined ? r : text(r.ok);
};

describe("onelog SDK endpoint (service protocol over HTTP)", () => {
  let server: EndpointServer;
  let port: number;
  let h2: H2;

  before(async () => {
    server = await listenEndpoint(endpoint().bind(greeter).bind(counter).bind(signup).setLogger(silent), {
      port: 0,
      host: "127.0.0.1",
    });
    port = server.port;
    h2 = new H2(port);
  });

  after(async () => {
    h2.close();
    await server.close();
  });

  describe("discovery", () => {
    const accept = (v: number) => ({ accept: `application/vnd.restate.endpointmanifest.v${v}+json` });

    it("HTTP/2 answers the manifest in bidirectional mode, in the highest version asked for", async () => {
      const a = await h2.request(
        "/discover",
        {
          accept:
            "application/vnd.restate.endpointmanifest.v2+json, application/vnd.restate.endpointmanifest.v4+json",
        },
        undefined,
        "GET",
      );
      assert.equal(a.status, 200);
      assert.equal(a.headers["content-type"], "application/vnd.restate.endpointmanifest.v4+json");
      const m = text(a.body) as any;
      assert.equal(m.protocolMode, "BIDI_STREAM");
      assert.equal(m.minProtocolVersion, 5);
      assert.equal(m.maxProtocolVersion, 6);
      assert.deepEqual(
        m.services.map((s: any) => [s.name, s.ty]),
        [
          ["Greeter", "SERVICE"],
          ["Counter", "VIRTUAL_OBJECT"],
          ["Signup", "WORKFLOW"],
        ],
      );
      const add = m.services[1].handlers[0];
      assert.equal(add.ty, "EXCLUSIVE");
      assert.equal(add.retryPolicyMaxAttempts, 100);
      assert.equal(add.inactivityTimeout, 60_000);
    });

    it("HTTP/1.1 on the same port answers request/response mode; older versions lose the fields they lack", async () => {
      const v3 = await http1(port, "/discover", { method: "GET", headers: accept(3) });
      assert.equal(v3.status, 200);
      assert.equal(v3.headers["content-type"], "application/vnd.restate.endpointmanifest.v3+json");
      const m3 = text(v3.body) as any;
      assert.equal(m3.protocolMode, "REQUEST_RESPONSE");
      assert.equal(m3.services[0].handlers[0].inactivityTimeout, 60_000);
      assert.equal(m3.services[0].handlers[0].retryPolicyMaxAttempts, undefined);
      const m2 = text((await http1(port, "/discover", { method: "GET", headers: accept(2) })).body) as any;
      assert.equal(m2.services[0].handlers[0].inactivityTimeout, undefined);
      assert.equal(m2.services[0].handlers[0].name, "greet");
    });

    it("an accept header naming no version it knows gets 415", async () => {
      const a = await http1(port, "/discover", { method: "GET", headers: accept(99) });
      assert.equal(a.status, 415);
      assert.match((text(a.body) as any).message, /unsupported endpoint manifest version/);
    });
  });

  describe("invocations", () => {
    it("a greeter over HTTP/2 (V6) and over HTTP/1.1 (V5): Output, End, and the same content type back", async () => {
      const a = await h2.request(
        "/invoke/Greeter/greet",
        { "content-type": V6 },
        concat([start(1), input("Ada")]),
      );
      assert.equal(a.status, 200);
      assert.equal(a.headers["content-type"], V6);
      const m = messages(a.body);
      assert.deepEqual(
        m.map((x) => x.kind),
        ["output", "end"],
      );
      assert.equal(out(m[0]), "hello Ada");

      const b = await http1(port, "/invoke/Greeter/greet", {
        headers: { "content-type": V5 },
        body: concat([start(1), input("Bob")]),
      });
      assert.equal(b.status, 200);
      assert.equal(b.headers["content-type"], V5);
      assert.equal(out(messages(b.body)[0]), "hello Bob");
    });

    it("named signals on V5 and V6: SendSignal by name (metadata on V6 only), suspension on the name, resumed by its notification", async () => {
      for (const version of [V5, V6]) {
        const post = async (body: Uint8Array) =>
          messages(
            (await http1(port, "/invoke/Greeter/signals", { headers: { "content-type": version }, body }))
              .body,
          );
        const first = await post(concat([start(1), input("inv_other")]));
        assert.deepEqual(
          first.map((x) => x.kind),
          ["command", "suspension"],
          version,
        );
        const sent: CommandEntry = (first[0] as any).entry;
        assert.deepEqual(sent, {
          type: "send_named_signal",
          invocationId: "inv_other",
          name: "go",
          value: {
            err: {
              code: 403,
              message: "no",
              ...(version === V6 ? { metadata: [{ key: "k", value: "v" }] } : {}),
            },
          },
        });
        assert.deepEqual((first[1] as any).waitingNamedSignals, ["go"], version);
        const second = await post(
          concat([
            start(3),
            input("inv_other"),
            command(sent),
            notification(
              { type: "named_signal", name: "go", value: { ok: json("it") } },
              MessageType.SignalNotification,
            ),
          ]),
        );
        assert.equal(out(second[0]), "got it", version);
      }
    });

    it("request/response: ctx.run then sleep suspends twice and resumes from the journal; the step runs once", async () => {
      stepRuns = 0;
      const post = async (body: Uint8Array) =>
        messages(
          (await http1(port, "/invoke/Greeter/steps", { headers: { "content-type": V6 }, body })).body,
        );

      // 1: the step runs, its result is proposed, and the attempt suspends on it.
      const first = await post(concat([start(1), input("Ada")]));
      assert.deepEqual(
        first.map((x) => x.kind),
        ["command", "propose_run", "suspension"],
      );
      assert.deepEqual((first[0] as any).entry, { type: "run", name: "compose", completionId: 1 });
      assert.equal(text((first[1] as any).result.ok), "hello Ada");
      assert.deepEqual((first[2] as any).waitingCompletions, [1]);

      // 2: the server journaled the result; the handler goes on to the sleep and suspends on it.
      const journal = [
        input("Ada"),
        command({ type: "run", name: "compose", completionId: 1 }),
        notification(
          { type: "completion", completionId: 1, value: { ok: json("hello Ada") } },
          MessageType.RunCompletion,
        ),
      ];
      const second = await post(concat([start(3), ...journal]));
      assert.deepEqual(
        second.map((x) => x.kind),
        ["command", "suspension"],
      );
      const sleep = (second[0] as any).entry;
      assert.equal(sleep.type, "sleep");
      assert.equal(sleep.completionId, 2);
      assert.ok(Math.abs(sleep.wakeUpAt - (Date.now() + 1_000)) < 5_000);
      assert.deepEqual((second[1] as any).waitingCompletions, [2]);
      assert.deepEqual((second[1] as any).waitingSignals, [1], "the cancel signal resumes it too");

      // 3: the timer fired.
      const third = await post(
        concat([
          start(5),
          ...journal,
          command(sleep),
          notification(
            { type: "completion", completionId: 2, value: { void: true } },
            MessageType.SleepCompletion,
          ),
        ]),
      );
      assert.deepEqual(
        third.map((x) => x.kind),
        ["output", "end"],
      );
      assert.equal(out(third[0]), "hello Ada!");
      assert.equal(stepRuns, 1, "the journaled step did not run again");
    });

    it("bidirectional: notifications stream in while the attempt runs; ending the request asks it to suspend", async () => {
      stepRuns = 0;
      const x = h2.stream("/invoke/Greeter/steps", { "content-type": V6 });
      x.send(concat([start(1), input("Cy")]));
      let got = await x.next(2);
      assert.deepEqual(
        got.map((m) => m.kind),
        ["command", "propose_run"],
      );
      x.send(
        notification(
          { type: "completion", completionId: 1, value: { ok: json("hello Cy") } },
          MessageType.RunCompletion,
        ),
      );
      got = await x.next(3);
      assert.equal((got[2] as any).entry.type, "sleep");
      assert.equal(x.closed, false, "the attempt waits on the open stream");
      x.end(); // the server asks for suspension (inactivity timeout)
      got = await x.next(4);
      assert.equal(got[3]?.kind, "suspension");
      assert.deepEqual((got[3] as any).waitingCompletions, [2]);
      assert.equal((await x.answer()).status, 200);

      const y = h2.stream("/invoke/Greeter/steps", { "content-type": V6 });
      y.send(concat([start(1), input("Di")]));
      got = await y.next(2);
      y.send(
        notification(
          { type: "completion", completionId: 1, value: { ok: json("hello Di") } },
          MessageType.RunCompletion,
        ),
      );
      await y.next(3);
      y.send(
        notification(
          { type: "completion", completionId: 2, value: { void: true } },
          MessageType.SleepCompletion,
        ),
      );
      got = await y.next(5);
      assert.deepEqual(
        got.slice(3).map((m) => m.kind),
        ["output", "end"],
      );
      assert.equal(out(got[3]), "hello Di!");
      y.end();
      assert.equal(stepRuns, 2);
    });

    it("a virtual object reads its eager state from Start, and lazily when the state is partial", async () => {
      const eager = await h2.request(
        "/invoke/Counter/add",
        { "content-type": V6 },
        concat([start(1, { key: "k1", stateMap: [["count", json(41)]] }), input(1)]),
      );
      const m = messages(eager.body);
      assert.deepEqual(
        m.map((x) => (x.kind === "command" ? x.entry.type : x.kind)),
        ["get_state", "set_state", "output", "end"],
      );
      assert.equal(out(m[2]), 42);

      const lazy = await http1(port, "/invoke/Counter/add", {
        headers: { "content-type": V6 },
        body: concat([start(1, { key: "k1", partialState: true }), input(1)]),
      });
      const l = messages(lazy.body);
      assert.deepEqual(
        l.map((x) => x.kind),
        ["command", "suspension"],
      );
      assert.deepEqual((l[0] as any).entry, { type: "get_state", key: "count", completionId: 1 });
    });

    it("a replayed journal gives the same output without running anything again", async () => {
      greetRuns = 0;
      const a = await h2.request(
        "/invoke/Signup/run",
        { "content-type": V6 },
        concat([
          start(3, { key: "w1" }),
          input(null),
          command({ type: "promise_get", name: "clicked", completionId: 1 }),
          notification(
            { type: "completion", completionId: 1, value: { ok: json("yes") } },
            MessageType.GetPromiseCompletion,
          ),
        ]),
      );
      const m = messages(a.body);
      assert.deepEqual(
        m.map((x) => x.kind),
        ["output", "end"],
      );
      assert.equal(out(m[0]), "yes");
    });

    it("awakeable ids are the protocol's: sign_1 + base64url(Start id, signal id)", async () => {
      const a = await h2.request(
        "/invoke/Greeter/awake",
        { "content-type": V6 },
        concat([start(1), input(null)]),
      );
      assert.equal(out(messages(a.body)[0]), protocolAwakeableId(START_ID, 17));
      assert.match(protocolAwakeableId(START_ID, 17), /^sign_1[A-Za-z0-9_-]+$/);
    });

    it("failures: Error 500 with the message, next_retry_delay from retryAfter; a terminal error is an Output", async () => {
      const fails = messages(
        (await h2.request("/invoke/Greeter/fails", { "content-type": V6 }, concat([start(1), input(null)])))
          .body,
      );
      assert.equal(fails.length, 1);
      assert.equal(fails[0]!.kind, "error");
      assert.equal((fails[0] as any).code, 500);
      assert.equal((fails[0] as any).message, "Error: boom");
      assert.match((fails[0] as any).stacktrace, /boom/);

      const later = messages(
        (await h2.request("/invoke/Greeter/later", { "content-type": V6 }, concat([start(1), input(null)])))
          .body,
      );
      assert.equal((later[0] as any).nextRetryDelayMs, 7_000);

      const refuses = messages(
        (await h2.request("/invoke/Greeter/refuses", { "content-type": V6 }, concat([start(1), input(null)])))
          .body,
      );
      assert.deepEqual(
        refuses.map((x) => x.kind),
        ["output", "end"],
      );
      assert.deepEqual((refuses[0] as any).result, { err: { code: 409, message: "no way" } });
    });

    it("a journal the handler does not match fails the attempt with Error 570", async () => {
      const a = await h2.request(
        "/invoke/Greeter/steps",
        { "content-type": V6 },
        concat([start(2), input("Ada"), command({ type: "run", name: "other", completionId: 1 })]),
      );
      const m = messages(a.body);
      assert.equal(m.length, 1);
      assert.equal(m[0]!.kind, "error");
      assert.equal((m[0] as any).code, 570);
      assert.match(
        (m[0] as any).message,
        /journal mismatch at command 1: expected Run 'other', got Run 'compose'/,
      );
    });

    it("garbage frames fail that invocation with Error 571, and the endpoint serves the next request", async () => {
      const garbage = [
        Buffer.from("this is not a protocol stream at all"),
        encodeFrame(0x7777, new Uint8Array([1, 2, 3])),
        concat([start(1), encodeFrame(MessageType.InputCommand, new Uint8Array([0xff, 0xff, 0xff]))]),
        concat([start(2), input("x"), encodeFrame(MessageType.Suspension, new Uint8Array(0))]),
        concat([start(2), input("x")]), // ends before its known entries
      ];
      for (const body of garbage) {
        for (const send of [
          () => h2.request("/invoke/Greeter/greet", { "content-type": V6 }, body),
          () => http1(port, "/invoke/Greeter/greet", { headers: { "content-type": V6 }, body }),
        ]) {
          const a = await send();
          assert.equal(a.status, 200);
          const m = messages(a.body);
          assert.equal(
            m.length,
            1,
            `one message for ${Buffer.from(body).toString("hex").slice(0, 40)}: ${m.map((x) => x.kind).join()}`,
          );
          assert.equal(m[0]!.kind, "error");
          assert.equal((m[0] as any).code, 571);
        }
      }
      // After the journal, on a live stream: a message the server may not send, then garbage.
      for (const bad of [
        encodeFrame(MessageType.Suspension, new Uint8Array(0)),
        Buffer.from("garbage!garbage!"),
      ]) {
        const x = h2.stream("/invoke/Greeter/steps", { "content-type": V6 });
        x.send(concat([start(1), input("x")]));
        await x.next(2);
        x.send(bad);
        const got = await x.next(3);
        assert.equal(got[2]?.kind, "error");
        assert.equal((got[2] as any).code, 571);
        x.end();
        assert.equal((await x.answer()).status, 200);
      }
      const ok = await h2.request(
        "/invoke/Greeter/greet",
        { "content-type": V6 },
        concat([start(1), input("Ed")]),
      );
      assert.equal(out(messages(ok.body)[0]), "hello Ed");
    });

    it("unknown service or handler: 404; a protocol version it does not speak: 415", async () => {
      const body = concat([start(1), input(null)]);
      assert.equal((await h2.request("/invoke/Nope/greet", { "content-type": V6 }, body)).status, 404);
      assert.equal(
        (await http1(port, "/invoke/Greeter/nope", { headers: { "content-type": V6 }, body })).status,
        404,
      );
      assert.equal((await http1(port, "/elsewhere", { headers: { "content-type": V6 }, body })).status, 404);
      const v7 = await h2.request(
        "/invoke/Greeter/greet",
        { "content-type": "application/vnd.restate.invocation.v7" },
        body,
      );
      assert.equal(v7.status, 415);
      assert.equal((await http1(port, "/invoke/Greeter/greet", { body })).status, 415);
      assert.equal((await http1(port, "/prefix/health", { method: "GET" })).status, 200);
    });
  });

  describe("one port, two protocols", () => {
    /** Writes `pieces` to a raw connection, a turn apart; the first bytes the endpoint answers. */
    const raw = (pieces: (string | Uint8Array)[]) =>
      new Promise<Buffer>((resolve, reject) => {
        const socket = net.connect(port, "127.0.0.1");
        socket.once("data", (d: Buffer) => {
          socket.destroy();
          resolve(d);
        });
        socket.once("error", reject);
        void (async () => {
          for (const p of pieces) {
            socket.write(p);
            await new Promise((r) => setTimeout(r, 20));
          }
        })();
      });

    it("tells HTTP/2 from HTTP/1.1 however the first bytes are split", async () => {
      const preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
      const settings = new Uint8Array([0, 0, 0, 4, 0, 0, 0, 0, 0]); // an empty SETTINGS frame
      const h2answer = await raw([preface.slice(0, 1), preface.slice(1, 10), preface.slice(10), settings]);
      assert.equal(h2answer[3], 4, "the endpoint answers with its own SETTINGS frame");
      const h1answer = await raw(["P", "OST /health HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n"]);
      assert.match(h1answer.toString(), /^HTTP\/1\.1 200/);
    });
  });

  describe("request identity", () => {
    const keys = generateIdentityKeyPair();
    const other = generateIdentityKeyPair();
    let signed: EndpointServer;

    before(async () => {
      signed = await listenEndpoint(
        endpoint().bind(greeter).withIdentityV1(keys.publicKey).setLogger(silent),
        {
          port: 0,
          host: "127.0.0.1",
        },
      );
    });
    after(() => signed.close());

    it("a request signed with the key runs; unsigned, wrongly signed or for another path gets 401 and runs nothing", async () => {
      const path = "/invoke/Greeter/greet";
      const body = concat([start(1), input("Id")]);
      const call = (headers: Record<string, string>) =>
        http1(signed.port, path, { headers: { "content-type": V6, ...headers }, body });
      const ok = await call(signRequestV1(keys.privateKeyPem, path));
      assert.equal(ok.status, 200);
      assert.equal(out(messages(ok.body)[0]), "hello Id");

      greetRuns = 0;
      assert.equal((await call({})).status, 401);
      assert.equal((await call({ "x-restate-signature-scheme": "unsigned" })).status, 401);
      assert.equal((await call(signRequestV1(other.privateKeyPem, path))).status, 401);
      assert.equal((await call(signRequestV1(keys.privateKeyPem, "/invoke/Greeter/other"))).status, 401);
      const expired = signRequestV1(keys.privateKeyPem, path, {
        nowSec: Math.floor(Date.now() / 1000) - 600,
      });
      assert.equal((await call(expired)).status, 401);
      assert.equal(greetRuns, 0);

      const h = new H2(signed.port);
      const discover = await h.request(
        "/discover",
        {
          accept: "application/vnd.restate.endpointmanifest.v4+json",
          ...signRequestV1(keys.privateKeyPem, "/discover"),
        },
        undefined,
        "GET",
      );
      assert.equal(discover.status, 200);
      const refused = await h.request(
        "/discover",
        { accept: "application/vnd.restate.endpointmanifest.v4+json" },
        undefined,
        "GET",
      );
      assert.equal(refused.status, 401);
      h.close();
    });
  });

  describe("fetch handler (request/response)", () => {
    const handler = fetchSdk.endpoint().bind(greeter).setLogger(silent).handler().fetch;

    it("discovers in request/response mode and answers the whole message stream", async () => {
      const d = await handler(
        new Request("http://fn/discover", {
          headers: { accept: "application/vnd.restate.endpointmanifest.v4+json" },
        }),
      );
      assert.equal(((await d.json()) as any).protocolMode, "REQUEST_RESPONSE");

      stepRuns = 0;
      const r = await handler(
        new Request("http://fn/invoke/Greeter/steps", {
          method: "POST",
          headers: { "content-type": V6 },
          body: concat([start(1), input("Fe")]),
        }),
      );
      assert.equal(r.status, 200);
      assert.equal(r.headers.get("content-type"), V6);
      const m = messages(new Uint8Array(await r.arrayBuffer()));
      assert.deepEqual(
        m.map((x) => x.kind),
        ["command", "propose_run", "suspension"],
      );
      assert.equal(stepRuns, 1);

      const createEndpointHandler = fetchSdk.createEndpointHandler({ services: [greeter], logger: silent });
      const g = await createEndpointHandler(
        new Request("http://fn/invoke/Greeter/greet", {
          method: "POST",
          headers: { "content-type": V5 },
          body: concat([start(1), input("Gus")]),
        }),
      );
      assert.equal(out(messages(new Uint8Array(await g.arrayBuffer()))[0]), "hello Gus");
    });
  });

  describe("fetch handler (bidirectional)", () => {
    it("streams: notifications written to the request body reach the attempt; closing it asks for suspension", async () => {
      const handler = fetchSdk.createEndpointHandler({
        services: [greeter],
        logger: silent,
        bidirectional: true,
      });
      let body!: ReadableStreamDefaultController<Uint8Array>;
      const request = new Request("http://fn/invoke/Greeter/steps", {
        method: "POST",
        headers: { "content-type": V6 },
        body: new ReadableStream<Uint8Array>({ start: (c) => void (body = c) }),
        duplex: "half",
      });
      body.enqueue(concat([start(1), input("Hal")]));
      const response = await handler(request);
      assert.equal(response.status, 200);
      const reader = response.body!.getReader();
      const seen: ProtocolMessage[] = [];
      let buffered: Uint8Array = new Uint8Array(0);
      const until = async (n: number) => {
        while (seen.length < n) {
          const { done, value } = await reader.read();
          if (done) break;
          buffered = concat([buffered, value]);
          // Whole messages only: the header says how long each is.
          while (buffered.length >= 8) {
            const length = new DataView(buffered.buffer, buffered.byteOffset).getUint32(4);
            if (buffered.length < 8 + length) break;
            seen.push(...messages(buffered.subarray(0, 8 + length)));
            buffered = buffered.subarray(8 + length);
          }
        }
        return seen.map((m) => m.kind);
      };
      assert.deepEqual(await until(2), ["command", "propose_run"]);
      body.enqueue(
        notification(
          { type: "completion", completionId: 1, value: { ok: json("hello Hal") } },
          MessageType.RunCompletion,
        ),
      );
      assert.deepEqual(await until(3), ["command", "propose_run", "command"]);
      body.close();
      assert.deepEqual(await until(4), ["command", "propose_run", "command", "suspension"]);
      assert.equal((await reader.read()).done, true);
    });
  });
});
