/** Serializers between handler values and the bytes that are journaled and sent over HTTP. */
import { TerminalError } from "./errors.js";

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
    // A missing value (a genericSend without a parameter) is the empty body, never `undefined`.
    return value ?? new Uint8Array(0);
  }
  deserialize(data: Uint8Array): Uint8Array {
    return data;
  }
}

class EmptySerde implements Serde<void> {
  serialize(): Uint8Array {
    return new Uint8Array(0);
  }
  deserialize(): void {
    return undefined;
  }
}

/** The part of the Standard Schema interface (standardschema.dev, v1) a serde needs. */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly "~standard": {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (value: unknown) => unknown;
    readonly types?: { readonly input: Input; readonly output: Output } | undefined;
  };
}

/** What a Standard Schema's `validate` answers. */
type StandardSchemaResult<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | { readonly issues: ReadonlyArray<{ readonly message: string }> };

/** The output type of a Standard Schema. */
export type StandardSchemaOutput<S extends StandardSchemaV1> = NonNullable<S["~standard"]["types"]>["output"];

class SchemaSerde<T> implements Serde<T> {
  readonly contentType = "application/json";
  constructor(private readonly schema: StandardSchemaV1<unknown, T>) {}
  serialize(value: T): Uint8Array {
    return value === undefined ? new Uint8Array(0) : encoder.encode(JSON.stringify(value));
  }
  deserialize(data: Uint8Array): T {
    const raw: unknown = data.length === 0 ? undefined : JSON.parse(decoder.decode(data));
    const result = this.schema["~standard"].validate(raw) as
      StandardSchemaResult<T> | Promise<StandardSchemaResult<T>>;
    if (result instanceof Promise) {
      throw new TypeError("serde.schema: the schema validates asynchronously; a serde must be synchronous");
    }
    if (result.issues !== undefined) {
      const what = result.issues.map((i) => i.message).join("; ");
      throw new TerminalError(`invalid value: ${what}`, { errorCode: 400 });
    }
    return result.value;
  }
}

/**
 * The built-in serdes. `serde.json` is the default everywhere: `undefined` is the empty body.
 *
 * @example
 * onelog.handlers.handler({ input: serde.binary, output: serde.binary }, async (ctx, bytes) => bytes)
 */
export const serde = {
  /** JSON; `undefined` is the empty body. The default of handlers, state, steps and awakeables. */
  json: new JsonSerde<any>() as Serde<any>,
  /** Bytes as they are. The default of `genericCall`/`genericSend`, as in Restate. */
  binary: new BinarySerde() as Serde<Uint8Array>,
  /** No value: writes the empty body, reads anything as `undefined`. */
  empty: new EmptySerde() as Serde<void>,
  /**
   * JSON checked by a Standard Schema (zod 4, valibot, arktype …): a value that does not pass
   * fails with a TerminalError (400) naming the issues; a schema that validates asynchronously
   * throws a TypeError (serdes are synchronous).
   *
   * @example
   * const Order = z.object({ id: z.string(), qty: z.number() });
   * handlers.handler({ input: serde.schema(Order) }, async (ctx, order) => order.qty);
   */
  schema<S extends StandardSchemaV1>(schema: S): Serde<StandardSchemaOutput<S>> {
    return new SchemaSerde(schema);
  },
} as const;
