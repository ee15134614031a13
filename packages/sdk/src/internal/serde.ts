/** Serializers between handler values and the bytes that are journaled and sent over HTTP. */

/** Turns values into bytes and back; `contentType` is what the ingress answers with. */
export interface Serde<T> {
  readonly contentType?: string;
  serialize(value: T): Uint8Array;
  deserialize(data: Uint8Array): T;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

class JsonSerde<T> implements Serde<T | undefined> {
  readonly contentType = "application/json";
  serialize(value: T | undefined): Uint8Array {
    if (value === undefined) return new Uint8Array(0);
    return encoder.encode(JSON.stringify(value));
  }
  deserialize(data: Uint8Array): T | undefined {
    if (data.length === 0) return undefined;
    return JSON.parse(decoder.decode(data)) as T;
  }
}

class BinarySerde implements Serde<Uint8Array> {
  readonly contentType = "application/octet-stream";
  serialize(value: Uint8Array): Uint8Array {
    return value;
  }
  deserialize(data: Uint8Array): Uint8Array {
    return data;
  }
}

/**
 * The built-in serdes. `serde.json` is the default everywhere: `undefined` is the empty body.
 *
 * @example
 * onelog.handlers.handler({ input: serde.binary, output: serde.binary }, async (ctx, bytes) => bytes)
 */
export const serde = {
  json: new JsonSerde<any>() as Serde<any>,
  binary: new BinarySerde() as Serde<Uint8Array>,
} as const;
