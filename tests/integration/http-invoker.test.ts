// Proves the HTTP invoker's flow control against deployments it cannot trust to be fast: at most maxAttemptsPerDeployment attempts run on one deployment at once (the rest wait and then complete), and a deployment that answers 429/503 with Retry-After is retried after that delay instead of the policy's — with a protocol-speaking fake deployment on real HTTP/2.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { MessageType, encodeFrame, encodeOutput } from "@onelog/sdk/internal";
import { eventually, http, removeTmpDirs, startServer } from "./admin-harness.js";

after(() => removeTmpDirs());

const manifest = {
  protocolMode: "BIDI_STREAM",
  minProtocolVersion: 5,
  maxProtocolVersion: 6,
  services: [{ name: "Fake", ty: "SERVICE", handlers: [{ name: "run" }] }],
};

/** A deployment whose invocations end when `answer` is called with what to do. */
function fakeDeployment(
  onInvoke: (res: http2.Http2ServerResponse) => void,
): Promise<{ uri: string; close: () => Promise<void> }> {
  const server = http2.createServer((req, res) => {
    if (req.url === "/discover") {
      res.writeHead(200, { "content-type": "application/vnd.restate.endpointmanifest.v3+json" });
      res.end(JSON.stringify(manifest));
      return;
    }
    req.resume();
    onInvoke(res);
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({
        uri: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        close: () => new Promise((r) => server.close(() => r())),
      }),
    ),
  );
}

const ok = (res: http2.Http2ServerResponse) => {
  res.writeHead(200, { "content-type": "application/vnd.restate.invocation.v6" });
  res.write(encodeFrame(MessageType.OutputCommand, encodeOutput({ ok: new TextEncoder().encode('"done"') })));
  res.end(encodeFrame(MessageType.End, new Uint8Array(0)));
};

describe("HTTP invoker flow control", () => {
  it("runs at most maxAttemptsPerDeployment attempts on a deployment at once", async () => {
    const held: http2.Http2ServerResponse[] = [];
    let most = 0;
    const fake = await fakeDeployment((res) => {
      held.push(res);
      most = Math.max(most, held.length);
    });
    const server = await startServer([], { maxAttemptsPerDeployment: 2, partitions: 4 });
    try {
      assert.equal((await http("POST", `${server.adminUrl}/deployments`, { uri: fake.uri })).status, 201);
      const calls = Array.from({ length: 6 }, () => http("POST", `${server.ingressUrl}/Fake/run`, '""'));
      await eventually("two attempts run", () => held.length === 2);
      await new Promise((r) => setTimeout(r, 300)); // no third one starts meanwhile
      assert.equal(held.length, 2);
      // Answer each held attempt: the waiting ones start, two at a time.
      let answered = 0;
      while (answered < 6) {
        await eventually("an attempt is held", () => held.length > 0);
        ok(held.shift()!);
        answered++;
      }
      const answers = await Promise.all(calls);
      assert.deepEqual(
        answers.map((a) => [a.status, a.body]),
        Array.from({ length: 6 }, () => [200, "done"]),
      );
      assert.equal(most, 2);
    } finally {
      await server.stop();
      await fake.close();
    }
  });

  it("retries a deployment that answered 503 with Retry-After after that delay", async () => {
    const seen: number[] = [];
    const fake = await fakeDeployment((res) => {
      seen.push(Date.now());
      if (seen.length === 1) {
        res.writeHead(503, { "retry-after": "2", "content-type": "text/plain" });
        res.end("busy");
      } else ok(res);
    });
    const server = await startServer([]);
    try {
      assert.equal((await http("POST", `${server.adminUrl}/deployments`, { uri: fake.uri })).status, 201);
      const answer = await http("POST", `${server.ingressUrl}/Fake/run`, '""');
      assert.equal(answer.body, "done");
      assert.equal(seen.length, 2);
      assert.ok(seen[1]! - seen[0]! >= 1_900, `retried after ${seen[1]! - seen[0]!} ms, not the 2 s asked`);
    } finally {
      await server.stop();
      await fake.close();
    }
  });
});
