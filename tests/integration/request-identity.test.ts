// Proves request identity end to end: onelog started with an ed25519 key (requestIdentityKeyFile) signs discovery and invocations, so an endpoint that verifies them (withIdentityV1 with the public key) registers and serves; a server without the key, or with another key, cannot register it (discovery answers 401: OL1032) and nothing runs — with real HTTP/2 on loopback.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import path from "node:path";
import * as onelog from "onelog";
import { generateIdentityKeyPair } from "@onelog/sdk/internal";
import { http, removeTmpDirs, startServer, tmpDir } from "./admin-harness.js";

after(() => removeTmpDirs());

describe("request identity (server mode)", () => {
  it("a signing server registers and invokes a verifying endpoint; others are refused", async () => {
    const good = generateIdentityKeyPair();
    const other = generateIdentityKeyPair();
    const keys = tmpDir("identity-keys");
    fs.writeFileSync(path.join(keys, "good.pem"), good.privateKeyPem);
    fs.writeFileSync(path.join(keys, "other.pem"), other.privateKeyPem);
    let runs = 0;
    const greeter = onelog.service({
      name: "Greeter",
      handlers: {
        greet: async (_ctx: onelog.Context, name: string) => {
          runs++;
          return `hello ${name}`;
        },
      },
    });
    const ep = http2.createServer(
      onelog.endpoint().bind(greeter).withIdentityV1(good.publicKey).http2Handler(),
    );
    await new Promise<void>((resolve) => ep.listen(0, "127.0.0.1", resolve));
    const uri = `http://127.0.0.1:${(ep.address() as AddressInfo).port}`;
    const signing = await startServer([], { requestIdentityKeyFile: path.join(keys, "good.pem") });
    const unsigned = await startServer([]);
    const wrong = await startServer([], { requestIdentityKeyFile: path.join(keys, "other.pem") });
    try {
      for (const s of [unsigned, wrong]) {
        const r = await http("POST", `${s.adminUrl}/deployments`, { uri });
        assert.equal(r.status, 400, r.text);
        assert.equal(r.body.onelog_code, "OL1032");
        assert.match(r.body.message, /401/);
      }
      const reg = await http("POST", `${signing.adminUrl}/deployments`, { uri });
      assert.equal(reg.status, 201, reg.text);
      const answer = await http("POST", `${signing.ingressUrl}/Greeter/greet`, '"Ada"', {
        "content-type": "application/json",
      });
      assert.equal(answer.status, 200, answer.text);
      assert.equal(answer.body, "hello Ada");
      assert.equal(runs, 1);
    } finally {
      await Promise.all([signing.stop(), unsigned.stop(), wrong.stop()]);
      await new Promise((resolve) => ep.close(resolve));
    }
  });
});
