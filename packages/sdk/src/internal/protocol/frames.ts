/**
 * Framing of the Restate service protocol (V5/V6): every message on an invocation's HTTP stream
 * is an 8-byte header — message type (u16), flags (u16), body length (u32), big-endian — then a
 * protobuf body of that length. The type's high bits say what kind of message it is: 0x0000
 * control (start, suspension, error, end, run proposals), 0x0400 commands, 0x8000 notifications.
 *
 * Invariants:
 * 1. A decoder yields frames in stream order, each exactly once, and never a partial body.
 * 2. A header announcing a body over the decoder's limit is a {@link ProtocolError} at once,
 *    before any of that body is buffered, so a garbled stream cannot fill memory.
 */

/** The message types this implementation knows, by name (values are the wire's). */
export const MessageType = {
  Start: 0x0000,
  Suspension: 0x0001,
  Error: 0x0002,
  End: 0x0003,
  CommandAck: 0x0004,
  ProposeRunCompletion: 0x0005,

  InputCommand: 0x0400,
  OutputCommand: 0x0401,
  GetLazyStateCommand: 0x0402,
  SetStateCommand: 0x0403,
  ClearStateCommand: 0x0404,
  ClearAllStateCommand: 0x0405,
  GetLazyStateKeysCommand: 0x0406,
  GetEagerStateCommand: 0x0407,
  GetEagerStateKeysCommand: 0x0408,
  GetPromiseCommand: 0x0409,
  PeekPromiseCommand: 0x040a,
  CompletePromiseCommand: 0x040b,
  SleepCommand: 0x040c,
  CallCommand: 0x040d,
  OneWayCallCommand: 0x040e,
  SendSignalCommand: 0x0410,
  RunCommand: 0x0411,
  AttachInvocationCommand: 0x0412,
  GetInvocationOutputCommand: 0x0413,
  CompleteAwakeableCommand: 0x0414,

  GetLazyStateCompletion: 0x8002,
  GetLazyStateKeysCompletion: 0x8006,
  GetPromiseCompletion: 0x8009,
  PeekPromiseCompletion: 0x800a,
  CompletePromiseCompletion: 0x800b,
  SleepCompletion: 0x800c,
  CallCompletion: 0x800d,
  CallInvocationIdCompletion: 0x800e,
  RunCompletion: 0x8011,
  AttachInvocationCompletion: 0x8012,
  GetInvocationOutputCompletion: 0x8013,
  SignalNotification: 0xfbff,
} as const;

/** True for command message types (0x0400 … 0x7fff). */
export function isCommandType(type: number): boolean {
  return type >= 0x0400 && type < 0x8000;
}

/** True for notification message types (0x8000 and up). */
export function isNotificationType(type: number): boolean {
  return type >= 0x8000;
}

/** Error codes the protocol defines beyond HTTP's (ErrorMessage.code). */
export const ProtocolErrorCode = {
  /** The journal and the code disagree on replay. */
  JournalMismatch: 570,
  /** A message that is not allowed in this state, or that cannot be read. */
  ProtocolViolation: 571,
} as const;

/** A stream that does not follow the protocol: the invocation's attempt fails with this. */
export class ProtocolError extends Error {
  readonly code: number;
  constructor(message: string, code: number = ProtocolErrorCode.ProtocolViolation) {
    super(message);
    this.name = "ProtocolError";
    this.code = code;
  }
}

/** One message: its type, its flags (unused since V5, kept for fidelity) and its body. */
export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly body: Uint8Array;
}

/** The size of a frame header. */
export const HEADER_BYTES = 8;

/** The largest body a decoder accepts by default (a journal entry is capped well below). */
export const DEFAULT_MAX_FRAME_BYTES = 32 * 1024 * 1024;

/**
 * Encodes one message: header then body.
 *
 * @example
 * stream.write(encodeFrame(MessageType.End, new Uint8Array(0)));
 */
export function encodeFrame(type: number, body: Uint8Array, flags = 0): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + body.length);
  const view = new DataView(out.buffer);
  view.setUint16(0, type);
  view.setUint16(2, flags);
  view.setUint32(4, body.length);
  out.set(body, HEADER_BYTES);
  return out;
}

/**
 * Cuts a byte stream into frames. Feed it chunks as they arrive; it returns the frames they
 * completed, in order (1), and throws a {@link ProtocolError} on an oversized header (2).
 *
 * @example
 * const decoder = new FrameDecoder();
 * for await (const chunk of request) for (const frame of decoder.push(chunk)) handle(frame);
 * if (decoder.buffered > 0) throw new ProtocolError("the stream ended inside a message");
 */
export class FrameDecoder {
  private chunks: Uint8Array[] = [];
  private size = 0;

  constructor(private readonly maxFrameBytes = DEFAULT_MAX_FRAME_BYTES) {}

  /** Bytes received that do not yet make a whole frame. */
  get buffered(): number {
    return this.size;
  }

  push(chunk: Uint8Array): Frame[] {
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.size += chunk.length;
    }
    const frames: Frame[] = [];
    while (this.size >= HEADER_BYTES) {
      const head = this.peek(HEADER_BYTES);
      const view = new DataView(head.buffer, head.byteOffset, HEADER_BYTES);
      const type = view.getUint16(0);
      const flags = view.getUint16(2);
      const length = view.getUint32(4);
      if (length > this.maxFrameBytes) {
        throw new ProtocolError(
          `a message of type 0x${type.toString(16).padStart(4, "0")} announces ${length} bytes; the limit is ${this.maxFrameBytes}`,
        );
      }
      if (this.size < HEADER_BYTES + length) break;
      const whole = this.take(HEADER_BYTES + length);
      frames.push({ type, flags, body: whole.subarray(HEADER_BYTES) });
    }
    return frames;
  }

  /** The first n buffered bytes, without consuming them (n ≤ size). */
  private peek(n: number): Uint8Array {
    const first = this.chunks[0]!;
    if (first.length >= n) return first;
    this.chunks = [concat(this.chunks, this.size)];
    return this.chunks[0]!;
  }

  /** Consumes and returns the first n buffered bytes (n ≤ size). */
  private take(n: number): Uint8Array {
    let first = this.chunks[0]!;
    if (first.length < n) {
      first = concat(this.chunks, this.size);
      this.chunks = [first];
    }
    this.size -= n;
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    return first.subarray(0, n);
  }
}

function concat(chunks: readonly Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
