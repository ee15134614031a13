// Proves the serdes of the Restate SDK exist with its behaviour (json, binary, empty, schema for a Standard Schema such as zod 4) by round-tripping values through each, in process.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { z } from "zod";
import { isTerminalError, serde } from "@onelog/sdk";

const bytes = (s: string) => new TextEncoder().encode(s);

describe("serde", () => {
  it("json: undefined is the empty body, values round-trip", () => {
    assert.equal(serde.json.serialize(undefined).length, 0);
    assert.deepEqual(serde.json.deserialize(serde.json.serialize({ a: [1, "x"] })), { a: [1, "x"] });
  });

  it("binary: bytes as they are; a missing value is the empty body, not undefined", () => {
    assert.deepEqual(serde.binary.serialize(bytes("hi")), bytes("hi"));
    assert.deepEqual(serde.binary.serialize(undefined as unknown as Uint8Array), new Uint8Array(0));
  });

  it("empty: writes nothing, reads undefined", () => {
    const s: onelogSerde<void> = serde.empty;
    assert.equal(s.serialize().length, 0);
    assert.equal(s.deserialize(new Uint8Array(0)), undefined);
  });

  it("schema: a zod 4 schema types and checks values; a bad value is a TerminalError 400", () => {
    const Order = z.object({ id: z.string(), qty: z.number() });
    const s = serde.schema(Order);
    const order: { id: string; qty: number } = s.deserialize(bytes('{"id":"o1","qty":2}'));
    assert.deepEqual(order, { id: "o1", qty: 2 });
    assert.equal(s.contentType, "application/json");
    assert.deepEqual(JSON.parse(new TextDecoder().decode(s.serialize(order))), order);
    assert.throws(
      () => s.deserialize(bytes('{"id":"o1","qty":"two"}')),
      (e: unknown) => isTerminalError(e) && e.code === 400 && /qty|number/i.test(e.message),
    );
  });
});

type onelogSerde<T> = import("@onelog/sdk").Serde<T>;
