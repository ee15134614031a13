/**
 * The typed ingress client: `connect({ url })` and the clients it makes, speaking Restate's
 * ingress URLs (which onelog's ingress serves, as does restate-server):
 *   POST /{service}/{handler}, /{object|workflow}/{key}/{handler}   a call: the handler's output
 *   … /send[?delay=500ms]                                           a send: 202 { invocationId, status }
 *   POST /restate/scope/{scope}/call|send/…                         the same in a scope (Restate only)
 *   GET  /restate/workflow/{name}/{key}/attach | /output            a workflow's result (470: not yet)
 *   GET  /restate/invocation/{id}/attach                            a sent invocation's result
 *   POST /restate/awakeables/{id}/resolve | /reject                 complete an awakeable
 * Header `idempotency-key` makes a call or send idempotent. A non-2xx answer is an HttpCallError.
 */
import { declaredSerdes } from "../definitions.js";
import { serde as serdes, type Serde } from "../serde.js";
import {
  isOpts,
  isSendOpts,
  type ConnectionOpts,
  type Ingress,
  type IngressCallOptions,
  type Opts,
  type ScopedIngress,
  type Send,
  type SendOpts,
  type WorkflowSubmission,
} from "./api.js";
import { backoffMs, resolveRetryPolicy, retryAfterMs, sleep, type ResolvedRetryPolicy } from "./retry.js";

/**
 * A request the ingress answered with a non-2xx status: an unknown service (404), bad input
 * (400), a conflict (409), or the handler's terminal error (its code, 500 by default).
 * `responseText` is the answer's body: for onelog and restate-server, JSON
 * `{ code, message, source }` where `source` is `invocation` for the handler's own error.
 *
 * @example
 * try { await ingress.serviceClient(greeter).greet("") }
 * catch (e) { if (e instanceof HttpCallError && e.status === 400) … }
 */
export class HttpCallError extends Error {
  constructor(
    readonly status: number,
    readonly responseText: string,
    override readonly message: string,
  ) {
    super(message);
    this.name = "HttpCallError";
  }
}

/**
 * Connects to an ingress (onelog's or restate-server's). Nothing is sent until a client method is
 * called; each method is one HTTP request made with `fetch`.
 *
 * @example
 * import * as clients from "@onelog/sdk/clients"; // or "onelog/clients"
 * const ingress = clients.connect({ url: "http://localhost:8080" });
 * const greeting = await ingress.serviceClient(greeter).greet("Ada");
 */
export function connect(opts: ConnectionOpts): Ingress {
  return new HttpIngress(opts);
}

type AnyOpts = Opts<unknown, unknown> | SendOpts<unknown>;
type Def = { readonly name: string };

/** One call or send of a handler. */
interface Invocation {
  readonly service: string;
  readonly handler: string;
  readonly key: string | undefined;
  readonly scope: string | undefined;
  readonly send: boolean;
  readonly parameter: unknown;
  readonly opts: AnyOpts | undefined;
  /** The serdes the definition declares for the handler. */
  readonly declared: { readonly input?: Serde<unknown>; readonly output?: Serde<unknown> };
}

/** The handler's input and the trailing options of a client method's arguments. */
function splitArgs(args: unknown[]): { parameter: unknown; opts: AnyOpts | undefined } {
  if (args.length === 0) return { parameter: undefined, opts: undefined };
  if (args.length === 1) {
    return isOpts(args[0])
      ? { parameter: undefined, opts: args[0] }
      : { parameter: args[0], opts: undefined };
  }
  if (args.length === 2) {
    if (args[1] === undefined || isOpts(args[1])) return { parameter: args[0], opts: args[1] };
    throw new TypeError("a client method's second argument must be rpc.opts(…) or rpc.sendOpts(…)");
  }
  throw new TypeError(`a client method takes an input and options, not ${args.length} arguments`);
}

/** Sets a header, replacing one of the same name in any case (`fetch` would join the two). */
function setHeader(headers: Record<string, string>, name: string, value: string): void {
  for (const k of Object.keys(headers)) if (k.toLowerCase() === name) delete headers[k];
  headers[name] = value;
}

/** Properties a proxy must not answer with a handler, so that it is not taken for a promise. */
function notAHandler(prop: string | symbol): prop is symbol | "then" {
  return typeof prop === "symbol" || prop === "then";
}

class HttpIngress implements Ingress {
  private readonly base: string;
  private readonly retry: ResolvedRetryPolicy | undefined;

  constructor(private readonly conn: ConnectionOpts) {
    this.base = conn.url.replace(/\/+$/, "");
    this.retry = resolveRetryPolicy(conn.retry);
  }

  serviceClient(def: Def): any {
    return this.handlerProxy(def, undefined, false, undefined);
  }
  objectClient(def: Def, key: string): any {
    return this.handlerProxy(def, key, false, undefined);
  }
  serviceSendClient(def: Def): any {
    return this.handlerProxy(def, undefined, true, undefined);
  }
  objectSendClient(def: Def, key: string): any {
    return this.handlerProxy(def, key, true, undefined);
  }
  workflowClient(def: Def, key: string): any {
    return this.workflowProxy(def, key, undefined);
  }
  client(def: Def & { readonly _kind?: string }, key?: string): any {
    return this.handlerProxy(def, def._kind === "service" ? undefined : key, false, undefined);
  }
  sendClient(def: Def & { readonly _kind?: string }, key?: string): any {
    return this.handlerProxy(def, def._kind === "service" ? undefined : key, true, undefined);
  }

  scope(scopeKey: string): ScopedIngress {
    const keyOf = (def: Def & { readonly _kind?: string }, key?: string) =>
      def._kind === "service" ? undefined : key;
    const scoped = {
      serviceClient: (def: Def) => this.handlerProxy(def, undefined, false, scopeKey),
      serviceSendClient: (def: Def) => this.handlerProxy(def, undefined, true, scopeKey),
      objectClient: (def: Def, key: string) => this.handlerProxy(def, key, false, scopeKey),
      objectSendClient: (def: Def, key: string) => this.handlerProxy(def, key, true, scopeKey),
      workflowClient: (def: Def, key: string) => this.workflowProxy(def, key, scopeKey),
      client: (def: Def, key?: string) => this.handlerProxy(def, keyOf(def, key), false, scopeKey),
      sendClient: (def: Def, key?: string) => this.handlerProxy(def, keyOf(def, key), true, scopeKey),
    };
    return scoped as ScopedIngress;
  }

  async call(o: {
    service: string;
    handler: string;
    parameter: unknown;
    key?: string;
    scope?: string;
    opts?: Opts<unknown, unknown>;
  }): Promise<any> {
    return this.invoke({ ...this.generic(o), send: false, opts: o.opts });
  }

  async send(o: {
    service: string;
    handler: string;
    parameter: unknown;
    key?: string;
    scope?: string;
    opts?: SendOpts<unknown>;
  }): Promise<Send> {
    return (await this.invoke({ ...this.generic(o), send: true, opts: o.opts })) as Send;
  }

  async resolveAwakeable<T>(id: string, payload?: T, payloadSerde?: Serde<T>): Promise<void> {
    const serde = (payloadSerde ?? this.conn.serde ?? serdes.json) as Serde<unknown>;
    const headers: Record<string, string> = { ...this.conn.headers };
    if (serde.contentType !== undefined) setHeader(headers, "content-type", serde.contentType);
    const url = `${this.base}/restate/awakeables/${encodeURIComponent(id)}/resolve`;
    await this.exchange(url, { method: "POST", headers, body: this.encode(serde.serialize(payload)) });
  }

  async rejectAwakeable(id: string, reason: string): Promise<void> {
    const headers = { "content-type": "text/plain", ...this.conn.headers };
    const url = `${this.base}/restate/awakeables/${encodeURIComponent(id)}/reject`;
    await this.exchange(url, { method: "POST", headers, body: reason });
  }

  async result<T>(send: Send<T> | WorkflowSubmission<T>, resultSerde?: Serde<T>): Promise<T> {
    if (!send.attachable) {
      throw new Error(
        `cannot fetch the result of invocation ${send.invocationId}: it was sent without an idempotency key, ` +
          "so its result is not kept (send with rpc.sendOpts({ idempotencyKey }) to be able to)",
      );
    }
    const url = `${this.base}/restate/invocation/${encodeURIComponent(send.invocationId)}/attach`;
    const bytes = await this.exchange(
      url,
      { method: "GET", headers: { ...this.conn.headers } },
      undefined,
      this.retry,
    );
    return this.decode(bytes, resultSerde) as Promise<T>;
  }

  // ---- internals

  private generic(o: { service: string; handler: string; parameter: unknown; key?: string; scope?: string }) {
    return {
      service: o.service,
      handler: o.handler,
      key: o.key,
      scope: o.scope,
      parameter: o.parameter,
      declared: {},
    };
  }

  private handlerProxy(def: Def, key: string | undefined, send: boolean, scope: string | undefined): any {
    return new Proxy(
      {},
      {
        get: (_target, prop) => {
          if (notAHandler(prop)) return undefined;
          return (...args: unknown[]) => {
            const { parameter, opts } = splitArgs(args);
            const declared = declaredSerdes(def, prop);
            return this.invoke({
              service: def.name,
              handler: prop,
              key,
              scope,
              send,
              parameter,
              opts,
              declared,
            });
          };
        },
      },
    );
  }

  private workflowProxy(def: Def, key: string, scope: string | undefined): any {
    const run = declaredSerdes(def, "run");
    const workflowSubmit = async (...args: unknown[]) => {
      const { parameter, opts } = splitArgs(args);
      const invocation = {
        service: def.name,
        handler: "run",
        key,
        scope,
        send: true,
        parameter,
        opts,
        declared: run,
      };
      // A workflow id runs once, so a submission is always safe to retry.
      const sent = (await this.invoke(invocation, true)) as Send;
      return { invocationId: sent.invocationId, status: sent.status, attachable: true };
    };
    const read = (what: "attach" | "output", opts?: Opts<unknown, unknown>) =>
      this.workflowResult(def.name, key, what, opts, run.output);
    const workflowAttach = (opts?: Opts<unknown, unknown>) => read("attach", opts);
    const workflowOutput = async (opts?: Opts<unknown, unknown>) => {
      try {
        return { ready: true, result: await read("output", opts) };
      } catch (e) {
        // 470: the workflow has not finished (Restate's status, onelog's too).
        if (!(e instanceof HttpCallError) || e.status !== 470) throw e;
        return {
          ready: false,
          get result(): never {
            throw new Error(`workflow ${def.name}/${key} has not finished: its output is not ready`);
          },
        };
      }
    };
    const own: Record<string, unknown> = { workflowSubmit, workflowAttach, workflowOutput };
    const handlers = this.handlerProxy(def, key, false, scope);
    return new Proxy(
      {},
      {
        get: (_target, prop) =>
          typeof prop === "string" && Object.hasOwn(own, prop) ? own[prop] : handlers[prop],
      },
    );
  }

  /** GET /restate/workflow/{name}/{key}/attach | /output. */
  private async workflowResult(
    name: string,
    key: string,
    what: "attach" | "output",
    opts: Opts<unknown, unknown> | undefined,
    declaredOutput: Serde<unknown> | undefined,
  ): Promise<unknown> {
    const url = `${this.base}/restate/workflow/${name}/${encodeURIComponent(key)}/${what}`;
    const headers = { ...this.conn.headers, ...opts?.opts.headers };
    const bytes = await this.exchange(url, { method: "GET", headers }, opts?.opts, this.retry);
    return this.decode(bytes, opts?.opts.output ?? declaredOutput);
  }

  /**
   * One call or send. A call resolves with the decoded output, a send with its {@link Send}.
   * Retried by the connection's policy only when repeating it cannot run the handler twice.
   */
  private async invoke(inv: Invocation, safeToRepeat = false): Promise<unknown> {
    const callOpts = inv.opts?.opts as IngressCallOptions | undefined;
    const idempotencyKey = callOpts?.idempotencyKey;
    let path = [
      inv.service,
      ...(inv.key === undefined ? [] : [encodeURIComponent(inv.key)]),
      inv.handler,
    ].join("/");
    if (inv.scope !== undefined) {
      path = `restate/scope/${encodeURIComponent(inv.scope)}/${inv.send ? "send" : "call"}/${path}`;
    } else if (inv.send) {
      path += "/send";
    }
    const delayMs = inv.send && isSendOpts(inv.opts) ? inv.opts.delay() : undefined;
    const url = `${this.base}/${path}${delayMs ? `?delay=${delayMs}ms` : ""}`;

    const input = (callOpts?.input ?? inv.declared.input ?? this.conn.serde ?? serdes.json) as Serde<unknown>;
    const headers: Record<string, string> = { ...this.conn.headers, ...callOpts?.headers };
    if (input.contentType !== undefined) setHeader(headers, "content-type", input.contentType);
    if (idempotencyKey !== undefined && idempotencyKey !== "")
      setHeader(headers, "idempotency-key", idempotencyKey);
    if (callOpts?.limitKey !== undefined && callOpts.limitKey !== "")
      headers["x-restate-limit-key"] = callOpts.limitKey;

    const repeatable = safeToRepeat || headers["idempotency-key"] !== undefined;
    const body = this.encode(input.serialize(inv.parameter));
    const bytes = await this.exchange(
      url,
      { method: "POST", headers, body },
      callOpts,
      repeatable ? this.retry : undefined,
    );
    if (!inv.send) return this.decode(bytes, callOpts?.output ?? inv.declared.output);
    const answer = serdes.json.deserialize(bytes) as Omit<Send, "attachable">;
    return { ...answer, attachable: headers["idempotency-key"] !== undefined };
  }

  private encode(bytes: Uint8Array): Uint8Array {
    return this.conn.journalValueCodec === undefined ? bytes : this.conn.journalValueCodec.encode(bytes);
  }

  private async decode(bytes: Uint8Array, serde: Serde<unknown> | undefined): Promise<unknown> {
    const codec = this.conn.journalValueCodec;
    const plain = codec === undefined ? bytes : await codec.decode(bytes);
    return (serde ?? this.conn.serde ?? serdes.json).deserialize(plain);
  }

  /**
   * One request, with retries when a policy is given: resolves with the body of a 2xx answer;
   * throws an HttpCallError for any other, or what `fetch` threw.
   */
  private async exchange(
    url: string,
    init: { method: "GET" | "POST"; headers: Record<string, string>; body?: Uint8Array | string },
    call?: Pick<IngressCallOptions, "signal" | "timeout">,
    policy?: ResolvedRetryPolicy,
  ): Promise<Uint8Array> {
    const signal = call?.signal;
    const timeout = call?.timeout;
    if (signal !== undefined && timeout !== undefined) {
      throw new TypeError("give a call either a signal or a timeout, not both");
    }
    const doFetch = this.conn.fetch ?? globalThis.fetch;
    const started = Date.now();
    for (let attempt = 0; ; attempt++) {
      const attemptSignal = signal ?? (timeout === undefined ? undefined : AbortSignal.timeout(timeout));
      let response: Response;
      try {
        response = await doFetch(url, {
          method: init.method,
          headers: init.headers,
          ...(init.body === undefined ? {} : { body: init.body }),
          ...(attemptSignal === undefined ? {} : { signal: attemptSignal }),
        });
      } catch (e) {
        const wait = this.retryWait(
          policy,
          attempt,
          started,
          signal,
          { kind: "network", error: e },
          undefined,
        );
        if (wait === undefined) throw e;
        await sleep(wait, signal);
        continue;
      }
      if (response.ok) return new Uint8Array(await response.arrayBuffer());
      const text = await response.text();
      const failure = {
        kind: "response" as const,
        status: response.status,
        headers: response.headers,
        ...(text === "" ? {} : { body: text }),
      };
      const wait = this.retryWait(policy, attempt, started, signal, failure, response.headers);
      if (wait === undefined) {
        throw new HttpCallError(response.status, text, `Request failed: ${response.status}\n${text}`);
      }
      await sleep(wait, signal);
    }
  }

  /** How long to wait before retrying a failed attempt; undefined when it is not retried. */
  private retryWait(
    policy: ResolvedRetryPolicy | undefined,
    attempt: number,
    started: number,
    signal: AbortSignal | undefined,
    failure: Parameters<ResolvedRetryPolicy["shouldRetry"]>[0],
    headers: Headers | undefined,
  ): number | undefined {
    if (policy === undefined || attempt + 1 >= policy.maxAttempts || signal?.aborted === true)
      return undefined;
    if (!policy.shouldRetry(failure, attempt)) return undefined;
    const now = Date.now();
    const asked = policy.respectRetryAfter && headers !== undefined ? retryAfterMs(headers, now) : undefined;
    const wait = asked ?? backoffMs(policy, attempt);
    return now - started + wait < policy.maxDurationMs ? wait : undefined;
  }
}
