/**
 * Service definitions: what `service()` returns and the engine registers. Names and shapes follow
 * the Restate TypeScript SDK 1.x so that programs move over by changing their import.
 */
import type { HandlerInfo } from "./manifest.js";
import type {
  Context,
  ObjectContext,
  ObjectSharedContext,
  TypedState,
  UntypedState,
  WorkflowContext,
  WorkflowSharedContext,
} from "./context.js";
import { durationMs, type Duration } from "./duration.js";
// The definition types are Restate's own (type-only; nothing of it is loaded at run time): its
// `{ name }` aliases carry the handlers as a phantom parameter, and TypeScript infers such a
// parameter only through the same alias, so only these make Restate's typed clients
// (`@restatedev/restate-sdk-clients`) and stubs (`const Api: typeof svc = { name }`) work.
import type {
  ServiceDefinition,
  VirtualObjectDefinition,
  WorkflowDefinition,
} from "@restatedev/restate-sdk-core";
import { serde as serdes, type Serde } from "./serde.js";

/** Retry policy options of a service or handler (Restate SDK names). */
export interface RetryPolicyOptions {
  /** First wait after a failed attempt. Default 50 ms. */
  readonly initialInterval?: Duration;
  /** Each wait is the previous one times this. Default 2. */
  readonly exponentiationFactor?: number;
  /** The wait never grows beyond this. Default 60 s. */
  readonly maxInterval?: Duration;
  /** Attempts in all, the first included. Default 100; `null` (or Infinity) retries forever. */
  readonly maxAttempts?: number | null;
  /** What happens when the attempts are used up: pause (default; resume it later) or kill. */
  readonly onMaxAttempts?: "pause" | "kill";
}

/** Options of a service, or of one handler (a handler's options win over its service's). */
export interface ServiceOptions {
  readonly retryPolicy?: RetryPolicyOptions;
  /** How long a completed invocation with an idempotency key keeps its output. Default 24 h. */
  readonly idempotencyRetention?: Duration;
  /**
   * How long a completed invocation keeps its journal, for history (admin, CLI, UI). Default: the
   * engine's (`start({ defaultJournalRetention })`, 24 h unless set); 0 keeps no journal. Never
   * longer than the invocation's completion retention (its idempotency or workflow retention).
   */
  readonly journalRetention?: Duration;
  /** Handlers of a private service cannot be called through the ingress. */
  readonly ingressPrivate?: boolean;
  /** An attempt that has made no progress for this long is aborted and retried. Default 1 min. */
  readonly inactivityTimeout?: Duration;
  /** Accepted for compatibility; onelog aborts attempts after the inactivity timeout. */
  readonly abortTimeout?: Duration;
}

/** Options of one handler: its serdes and the service options it overrides. */
export interface HandlerOptions<I = unknown, O = unknown> extends ServiceOptions {
  readonly input?: Serde<I>;
  readonly output?: Serde<O>;
  readonly accept?: string;
  readonly contentType?: string;
  readonly description?: string;
  readonly metadata?: Readonly<Record<string, string>>;
}

/** A service handler: takes the context and the deserialized input. */
export type ServiceHandler<I = any, O = any> = (ctx: Context, input: I) => Promise<O>;
/** An exclusive object handler: one at a time per key, may write state. */
export type ObjectHandler<I = any, O = any> = (ctx: ObjectContext, input: I) => Promise<O>;
/** A shared object handler: runs concurrently, reads state only. */
export type ObjectSharedHandler<I = any, O = any> = (ctx: ObjectSharedContext, input: I) => Promise<O>;
/** The `run` handler of a workflow: once per workflow id. */
export type WorkflowHandler<I = any, O = any> = (ctx: WorkflowContext, input: I) => Promise<O>;
/** A shared workflow handler: reads state, resolves durable promises. */
export type WorkflowSharedHandler<I = any, O = any> = (ctx: WorkflowSharedContext, input: I) => Promise<O>;

const HANDLER_OPTIONS = Symbol.for("onelog.handlerOptions");
const HANDLER_KIND = Symbol.for("onelog.handlerKind");

/** How a handler runs: plain service, exclusive (holds its key's lock), shared, or a workflow's run. */
export type HandlerKind = "service" | "exclusive" | "shared" | "workflow";

type WithOptions = { [HANDLER_OPTIONS]?: HandlerOptions<any, any>; [HANDLER_KIND]?: HandlerKind };

function wrap<F extends (...args: any[]) => Promise<unknown>>(
  kind: HandlerKind | undefined,
  optionsOrFn: HandlerOptions<any, any> | F,
  maybeFn: F | undefined,
): F {
  const fn = typeof optionsOrFn === "function" ? optionsOrFn : maybeFn;
  if (typeof fn !== "function") throw new TypeError("a handler wrapper needs a function");
  const options = typeof optionsOrFn === "function" ? {} : optionsOrFn;
  const wrapped = ((...args: unknown[]) => fn(...args)) as unknown as F & WithOptions;
  wrapped[HANDLER_OPTIONS] = options;
  if (kind !== undefined) wrapped[HANDLER_KIND] = kind;
  return wrapped;
}

/**
 * The constraint on a definition's handlers: functions of a context, with or without an input.
 * The `never` input gives `ctx` its contextual type without making
 * `handlers.object.shared(async (ctx) => …)` infer an `any` input.
 */
type HandlersOf<C> = Record<
  string,
  ((ctx: C) => Promise<unknown>) | ((ctx: C, input: never) => Promise<unknown>)
>;

/** A handler type without its input parameter when the input is `void` (as in Restate). */
export type RemoveVoidArgument<F> = F extends (ctx: infer C, arg: infer A) => infer R
  ? [A] extends [void]
    ? (ctx: C) => R
    : F
  : F;

/**
 * Handler wrappers that attach options, as in the Restate SDK. A TypeScript namespace, as there,
 * so `import shared = handlers.object.shared` works.
 *
 * @example
 * const greeter = service({ name: "Greeter", handlers: {
 *   greet: handlers.handler({ retryPolicy: { maxAttempts: 3 } }, async (ctx: Context, name: string) => `hi ${name}`),
 * }});
 */
// eslint-disable-next-line @typescript-eslint/no-namespace
export namespace handlers {
  /** A service handler with options. */
  export function handler<O, I = void>(
    options: HandlerOptions<I, O>,
    fn: (ctx: Context, input: I) => Promise<O>,
  ): RemoveVoidArgument<typeof fn> {
    return wrap(undefined, options, fn) as RemoveVoidArgument<typeof fn>;
  }
  // eslint-disable-next-line @typescript-eslint/no-namespace
  export namespace object {
    /** An exclusive object handler (the default for object handlers), with options. */
    export function exclusive<O, I = void, TState extends TypedState = UntypedState>(
      options: HandlerOptions<I, O>,
      fn: (ctx: ObjectContext<TState>, input: I) => Promise<O>,
    ): RemoveVoidArgument<typeof fn>;
    export function exclusive<O, I = void, TState extends TypedState = UntypedState>(
      fn: (ctx: ObjectContext<TState>, input: I) => Promise<O>,
    ): RemoveVoidArgument<typeof fn>;
    export function exclusive(optionsOrFn: any, fn?: any): any {
      return wrap("exclusive", optionsOrFn, fn);
    }
    /** A shared object handler: concurrent with other handlers of the key; reads state only. */
    export function shared<O, I = void, TState extends TypedState = UntypedState>(
      options: HandlerOptions<I, O>,
      fn: (ctx: ObjectSharedContext<TState>, input: I) => Promise<O>,
    ): RemoveVoidArgument<typeof fn>;
    export function shared<O, I = void, TState extends TypedState = UntypedState>(
      fn: (ctx: ObjectSharedContext<TState>, input: I) => Promise<O>,
    ): RemoveVoidArgument<typeof fn>;
    export function shared(optionsOrFn: any, fn?: any): any {
      return wrap("shared", optionsOrFn, fn);
    }
  }
  // eslint-disable-next-line @typescript-eslint/no-namespace
  export namespace workflow {
    /** The workflow's `run` handler, with options. */
    export function workflow<O, I = void, TState extends TypedState = UntypedState>(
      options: HandlerOptions<I, O>,
      fn: (ctx: WorkflowContext<TState>, input: I) => Promise<O>,
    ): RemoveVoidArgument<typeof fn>;
    export function workflow<O, I = void, TState extends TypedState = UntypedState>(
      fn: (ctx: WorkflowContext<TState>, input: I) => Promise<O>,
    ): RemoveVoidArgument<typeof fn>;
    export function workflow(optionsOrFn: any, fn?: any): any {
      return wrap("workflow", optionsOrFn, fn);
    }
    /** A shared workflow handler: reads state and resolves durable promises. */
    export function shared<O, I = void, TState extends TypedState = UntypedState>(
      options: HandlerOptions<I, O>,
      fn: (ctx: WorkflowSharedContext<TState>, input: I) => Promise<O>,
    ): RemoveVoidArgument<typeof fn>;
    export function shared<O, I = void, TState extends TypedState = UntypedState>(
      fn: (ctx: WorkflowSharedContext<TState>, input: I) => Promise<O>,
    ): RemoveVoidArgument<typeof fn>;
    export function shared(optionsOrFn: any, fn?: any): any {
      return wrap("shared", optionsOrFn, fn);
    }
  }
}

/**
 * What `service()` returns, as its type says: only a name, with the handlers' types as a phantom
 * parameter, exactly as in the Restate SDK. So a stub for a service defined elsewhere,
 * `const Api: typeof greeter = { name: "Greeter" }`, is a valid client target, and the typed
 * clients of `@restatedev/restate-sdk-clients` accept onelog definitions. At run time the object
 * also carries the handlers and options the engine registers (see `definitionParts`).
 */
export type { ServiceDefinition, VirtualObjectDefinition, WorkflowDefinition };
/** The handlers of a service definition's type. */
export type Service<D> = D extends ServiceDefinition<string, infer M> ? M : D;
/** A service definition type, from a definition or from a handlers type. */
export type ServiceDefinitionFrom<D> =
  D extends ServiceDefinition<string, unknown> ? D : ServiceDefinition<string, D>;

/** What the engine reads of a definition at run time: kind, handlers and options. */
export interface DefinitionParts {
  readonly name: string;
  readonly kind: "service" | "object" | "workflow";
  readonly handlers: Readonly<Record<string, (ctx: any, input: any) => Promise<unknown>>>;
  readonly options: ServiceOptions & { readonly workflowRetention?: Duration };
  readonly description?: string;
  readonly metadata?: Readonly<Record<string, string>>;
}

/**
 * The runtime parts of a definition made by `service()`, `object()` or `workflow()`.
 * Throws a TypeError for anything else, such as a `{ name }` stub (stubs name a target for
 * clients; only real definitions can be served).
 */
export function definitionParts(def: { readonly name: string }): DefinitionParts {
  const d = def as Partial<DefinitionParts>;
  if (
    (d.kind !== "service" && d.kind !== "object" && d.kind !== "workflow") ||
    typeof d.handlers !== "object" ||
    d.handlers === null
  ) {
    throw new TypeError(
      `${JSON.stringify(def.name)} is not a definition made by service(), object() or workflow(): ` +
        "a { name } stub can be called through clients but not served",
    );
  }
  return d as DefinitionParts;
}

/**
 * The serdes a definition declares for one handler (its `input`/`output` options), for callers
 * such as the ingress client; empty for a `{ name }` stub or a handler without them. Also reads
 * the per-handler descriptors (`_handlers`) of Restate's definitions and `iface` contracts.
 */
export function declaredSerdes(
  def: { readonly name: string },
  handler: string,
): { readonly input?: Serde<unknown>; readonly output?: Serde<unknown> } {
  const restate = (
    def as { _handlers?: Record<string, { _inputSerde?: Serde<unknown>; _outputSerde?: Serde<unknown> }> }
  )._handlers?.[handler];
  if (restate !== undefined) {
    return {
      ...(restate._inputSerde === undefined ? {} : { input: restate._inputSerde }),
      ...(restate._outputSerde === undefined ? {} : { output: restate._outputSerde }),
    };
  }
  const fn: unknown = (def as Partial<DefinitionParts>).handlers?.[handler];
  const own = typeof fn === "function" ? (fn as WithOptions)[HANDLER_OPTIONS] : undefined;
  return {
    ...(own?.input === undefined ? {} : { input: own.input }),
    ...(own?.output === undefined ? {} : { output: own.output }),
  };
}

/** @deprecated Restate SDK's older name of {@link handlers.handler}. */
export const createServiceHandler = handlers.handler;
/** @deprecated Restate SDK's older name of {@link handlers.object.exclusive}. */
export const createObjectHandler = handlers.object.exclusive;
/** @deprecated Restate SDK's older name of {@link handlers.object.shared}. */
export const createObjectSharedHandler = handlers.object.shared;
/** @deprecated Restate SDK's older name of {@link handlers.workflow.workflow}. */
export const createWorkflowHandler = handlers.workflow.workflow;
/** @deprecated Restate SDK's older name of {@link handlers.workflow.shared}. */
export const createWorkflowSharedHandler = handlers.workflow.shared;

/**
 * Defines a service: a set of stateless handlers, each invocation independent of the others.
 * Throws a TypeError at definition time for a bad name or a handler that is not a function.
 *
 * @example
 * const greeter = service({ name: "Greeter", handlers: {
 *   greet: async (ctx: Context, name: string) => ctx.run("compose", () => `hello ${name}`),
 * }});
 */
export function service<P extends string, M extends HandlersOf<Context>>(definition: {
  readonly name: P;
  readonly handlers: M;
  readonly options?: ServiceOptions;
  readonly description?: string;
  readonly metadata?: Readonly<Record<string, string>>;
}): ServiceDefinition<P, M> {
  checkName("service", definition.name);
  for (const [name, fn] of Object.entries(definition.handlers)) {
    checkName(`handler of ${definition.name}`, name);
    if (typeof fn !== "function") {
      throw new TypeError(`service ${definition.name}: handler '${name}' is not a function`);
    }
  }
  return makeParts("service", definition) as unknown as ServiceDefinition<P, M>;
}

function makeParts(
  kind: DefinitionParts["kind"],
  definition: {
    readonly name: string;
    readonly handlers: object;
    readonly options?: WorkflowOptions;
    readonly description?: string;
    readonly metadata?: Readonly<Record<string, string>>;
  },
): DefinitionParts {
  return {
    name: definition.name,
    kind,
    handlers: definition.handlers as DefinitionParts["handlers"],
    options: definition.options ?? {},
    ...(definition.description === undefined ? {} : { description: definition.description }),
    ...(definition.metadata === undefined ? {} : { metadata: definition.metadata }),
  };
}

/** What `object()` returns: a name with the handlers' types as a phantom parameter (as Restate). */
/** The handlers of a virtual object definition's type. */
export type VirtualObject<D> = D extends VirtualObjectDefinition<string, infer M> ? M : D;
/** A virtual object definition type, from a definition or from a handlers type. */
export type VirtualObjectDefinitionFrom<D> =
  D extends VirtualObjectDefinition<string, unknown> ? D : VirtualObjectDefinition<string, D>;

/** What `workflow()` returns: a name with the handlers' types as a phantom parameter (as Restate). */
/** The handlers of a workflow definition's type. */
export type Workflow<D> = D extends WorkflowDefinition<string, infer M> ? M : D;
/** A workflow definition type, from a definition or from a handlers type. */
export type WorkflowDefinitionFrom<D> =
  D extends WorkflowDefinition<string, unknown> ? D : WorkflowDefinition<string, D>;

/** Workflow options: a service's, plus how long a finished workflow keeps its state and output. */
export interface WorkflowOptions extends ServiceOptions {
  /** How long a finished workflow keeps its state, promises and output. Default 24 h. */
  readonly workflowRetention?: Duration;
}

/**
 * Any definition `start({ services })` takes. Its type is only `{ name }`, as Restate's; at run
 * time `start` refuses (TypeError) what `service()`, `object()` or `workflow()` did not make.
 */
export type AnyDefinition = { readonly name: string };

/**
 * Defines a virtual object: handlers keyed by a string, with durable state per key. Exclusive
 * handlers (the default) of one key run one at a time, in arrival order; shared handlers
 * (`handlers.object.shared`) run concurrently and only read state.
 *
 * @example
 * const counter = object({ name: "Counter", handlers: {
 *   add: async (ctx: ObjectContext, n: number) => {
 *     const v = ((await ctx.get<number>("count")) ?? 0) + n;
 *     ctx.set("count", v);
 *     return v;
 *   },
 * }});
 */
export function object<P extends string, M extends HandlersOf<ObjectContext<any>>>(definition: {
  readonly name: P;
  readonly handlers: M;
  readonly options?: ServiceOptions;
  readonly description?: string;
  readonly metadata?: Readonly<Record<string, string>>;
}): VirtualObjectDefinition<P, M> {
  service(definition as any);
  return makeParts("object", definition) as unknown as VirtualObjectDefinition<P, M>;
}

/**
 * Defines a workflow: `run` executes once per workflow id; the other handlers are shared and
 * can read state and resolve durable promises (`ctx.promise(name)`).
 *
 * @example
 * const signup = workflow({ name: "Signup", handlers: {
 *   run: async (ctx: WorkflowContext, email: string) => {
 *     await ctx.run("send mail", () => sendMail(email));
 *     return ctx.promise<string>("clicked");
 *   },
 *   click: async (ctx: WorkflowSharedContext, secret: string) => ctx.promise<string>("clicked").resolve(secret),
 * }});
 */
export function workflow<P extends string, M extends HandlersOf<WorkflowContext<any>>>(definition: {
  readonly name: P;
  readonly handlers: M;
  readonly options?: WorkflowOptions;
  readonly description?: string;
  readonly metadata?: Readonly<Record<string, string>>;
}): WorkflowDefinition<P, M> {
  if (typeof (definition.handlers as Record<string, unknown>).run !== "function") {
    throw new TypeError(`workflow ${definition.name}: it needs a 'run' handler`);
  }
  service(definition as any);
  return makeParts("workflow", definition) as unknown as WorkflowDefinition<P, M>;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

function checkName(what: string, name: string): void {
  if (typeof name !== "string" || !NAME.test(name) || name.startsWith("restate")) {
    throw new TypeError(
      `invalid ${what} name ${JSON.stringify(name)}: use letters, digits, '_', '.', '-', starting with a letter or '_' (and not 'restate')`,
    );
  }
}

/** The engine's view of one handler: its function and its resolved options. */
export interface ResolvedHandler extends Omit<HandlerInfo, "input" | "output"> {
  readonly fn: (ctx: any, input: any) => Promise<unknown>;
  readonly input: Serde<unknown>;
  readonly output: Serde<unknown>;
}

/** Defaults of the retry policy and retentions (docs/architecture.md, "Retries"). */
export const DEFAULTS = {
  initialIntervalMs: 50,
  factor: 2,
  maxIntervalMs: 60_000,
  maxAttempts: 100,
  onMaxAttempts: "pause",
  idempotencyRetentionMs: 24 * 3_600_000,
  workflowRetentionMs: 24 * 3_600_000,
  /** The engine's default when a handler sets no `journalRetention` (Restate's `default-journal-retention`). */
  journalRetentionMs: 24 * 3_600_000,
  inactivityTimeoutMs: 60_000,
} as const;

/** Resolves every handler of a definition with its service's options and the defaults. */
export function resolveHandlers(stub: AnyDefinition): ResolvedHandler[] {
  const def = definitionParts(stub);
  const entries = Object.entries(def.handlers as Record<string, (ctx: any, input: any) => Promise<unknown>>);
  return entries.map(([name, fn]) => {
    const own = (fn as WithOptions)[HANDLER_OPTIONS] ?? {};
    const declared = (fn as WithOptions)[HANDLER_KIND];
    const kind: HandlerKind =
      def.kind === "service"
        ? "service"
        : def.kind === "object"
          ? declared === "shared"
            ? "shared"
            : "exclusive"
          : name === "run"
            ? "workflow"
            : "shared";
    const pick = <K extends keyof ServiceOptions>(k: K): ServiceOptions[K] => own[k] ?? def.options[k];
    const rp = { ...def.options.retryPolicy, ...own.retryPolicy };
    const maxAttempts = rp.maxAttempts === undefined ? DEFAULTS.maxAttempts : rp.maxAttempts;
    const ms = (d: Duration | undefined, dflt: number) => (d === undefined ? dflt : durationMs(d));
    const journalRetention = pick("journalRetention");
    return {
      service: def.name,
      name,
      serviceKind: def.kind,
      kind,
      fn,
      input: own.input ?? serdes.json,
      output: own.output ?? serdes.json,
      ingressPrivate: pick("ingressPrivate") ?? false,
      retryPolicy: {
        initialIntervalMs: ms(rp.initialInterval, DEFAULTS.initialIntervalMs),
        factor: rp.exponentiationFactor ?? DEFAULTS.factor,
        maxIntervalMs: ms(rp.maxInterval, DEFAULTS.maxIntervalMs),
        maxAttempts: maxAttempts === null || maxAttempts === Infinity ? null : maxAttempts,
        onMaxAttempts: rp.onMaxAttempts ?? DEFAULTS.onMaxAttempts,
      },
      idempotencyRetentionMs:
        def.kind === "workflow" && kind === "workflow"
          ? ms(def.options.workflowRetention, DEFAULTS.workflowRetentionMs)
          : ms(pick("idempotencyRetention"), DEFAULTS.idempotencyRetentionMs),
      // Unset stays unset: the engine applies its own default (start option defaultJournalRetention).
      ...(journalRetention === undefined ? {} : { journalRetentionMs: durationMs(journalRetention) }),
      inactivityTimeoutMs: ms(pick("inactivityTimeout"), DEFAULTS.inactivityTimeoutMs),
    };
  });
}
