// Proves the fetch entry point (@onelog/sdk/fetch) offers the whole handler API of @onelog/sdk, with fetch-style endpoint() and createEndpointHandler() in place of the Node ones, as Restate's /fetch entry does.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as main from "@onelog/sdk";
import * as fetchEntry from "@onelog/sdk/fetch";
import * as onelog from "onelog";

describe("endpoint exports", () => {
  it("@onelog/sdk/fetch exports every value @onelog/sdk does, except the Node-only serve", () => {
    const missing = Object.keys(main).filter((k) => k !== "serve" && !(k in fetchEntry));
    assert.deepEqual(missing, []);
    assert.equal("serve" in fetchEntry, false);
    assert.notEqual(fetchEntry.endpoint, main.endpoint);
    assert.equal(typeof fetchEntry.endpoint().handler().fetch, "function");
    assert.equal(typeof main.endpoint().listen, "function");
  });

  it("onelog re-exports the Node endpoint", () => {
    assert.equal(onelog.endpoint, main.endpoint);
    assert.equal(onelog.createEndpointHandler, main.createEndpointHandler);
    assert.equal(onelog.serve, main.serve);
  });
});
