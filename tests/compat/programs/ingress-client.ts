// A program using every method of Restate's typed ingress client with the definitions of shop.ts.
// Compiled against @restatedev/restate-sdk-clients and, with that import mapped, against
// onelog/clients (tests/compat/types.test.ts); run by tests/compat/behaviour.test.ts with each
// client against each server, whose answers must be the same.
import * as clients from "@restatedev/restate-sdk-clients";
import { cart, greeter, signup } from "./shop.js";

/**
 * What a failed request says alike on both servers: its status, that the message is Restate's
 * `Request failed: {status}`, and with `withMessage` the handler's own error message.
 */
async function failed(p: PromiseLike<unknown>, withMessage = false): Promise<unknown> {
  try {
    return ["resolved", await p];
  } catch (e) {
    // Thrown by the client itself (such as result() of a send it cannot attach to): wording differs.
    if (!(e instanceof clients.HttpCallError)) return e instanceof Error ? "Error" : typeof e;
    const prefixed = e.message.startsWith(`Request failed: ${e.status}`);
    if (!withMessage) return [e.status, prefixed];
    const body = JSON.parse(e.responseText) as { message?: string; source?: string };
    return [e.status, prefixed, body.source, body.message];
  }
}

/** Drives the clients; `tag` keeps the keys of one run apart from another's on the same server. */
export async function script(url: string, tag: string): Promise<Record<string, unknown>> {
  const options: clients.ConnectionOpts = { url, headers: { "x-from": "compat" } };
  const ingress: clients.Ingress = clients.connect(options);
  const out: Record<string, unknown> = {};

  const svc: clients.IngressClient<clients.Service<typeof greeter>> = ingress.serviceClient(greeter);
  out.greet = await svc.greet("Ada");
  out.hello = await svc.hello(clients.rpc.opts({ headers: { "x-call": "1" } }));
  out.idempotent = [
    await svc.greet("Idem", clients.rpc.opts({ idempotencyKey: `${tag}-g` })),
    await svc.greet("Idem", clients.Opts.from({ idempotencyKey: `${tag}-g` })),
  ];
  out.order = await svc.order({ id: "o1", qty: 2 });
  out.badOrder = await failed(svc.order({ id: "o2" } as { id: string; qty: number }));
  out.bytes = [...(await svc.bytes(new Uint8Array([1, 2, 3])))];
  out.terminal = await failed(svc.fail(), true);
  const Nope: clients.ServiceDefinition<"Nope", clients.Service<typeof greeter>> = { name: "Nope" };
  out.unknown = await failed(ingress.serviceClient(Nope).hello());

  const obj = ingress.objectClient(cart, `${tag}-c`);
  out.cart = [await obj.add("apple"), await obj.add("pear"), await obj.count()];

  const send: clients.IngressSendClient<clients.Service<typeof greeter>> = ingress.serviceSendClient(greeter);
  const sendOpts: clients.SendOpts<string> = clients.rpc.sendOpts({
    idempotencyKey: `${tag}-s`,
    delay: { milliseconds: 100 },
  });
  const sent: clients.Send<string> = await send.greet("Bob", sendOpts);
  const resent = await send.greet("Bob", sendOpts);
  const plain = await send.hello();
  out.sends = [sent.status, sent.attachable, resent.status, resent.invocationId === sent.invocationId];
  out.plainSend = [plain.status, plain.attachable, await failed(ingress.result(plain))];
  const result: string = await ingress.result(sent);
  out.result = result;
  const objSend = await ingress
    .objectSendClient(cart, `${tag}-d`)
    .add("fig", clients.SendOpts.from({ delay: 50 }));
  out.objectSend = objSend.status;

  const wf: clients.IngressWorkflowClient<clients.Workflow<typeof signup>> = ingress.workflowClient(
    signup,
    `${tag}-w`,
  );
  const submitted: clients.WorkflowSubmission<string> = await wf.workflowSubmit("ada@example.com");
  const again = await wf.workflowSubmit("ada@example.com");
  const early: clients.Output<string> = await wf.workflowOutput();
  out.submit = [
    submitted.status,
    submitted.attachable,
    again.status,
    again.invocationId === submitted.invocationId,
  ];
  out.early = early.ready;
  await wf.click("s3cret");
  const attached: string = await wf.workflowAttach();
  const late = await wf.workflowOutput();
  out.workflow = [attached, late.ready, late.result, await wf.email(), await ingress.result(submitted)];
  out.neverSubmitted = await failed(ingress.workflowClient(signup, `${tag}-never`).workflowAttach());

  out.generic = [
    await ingress.call<string, string>({ service: "Greeter", handler: "greet", parameter: "Gen" }),
    (await ingress.send<string>({ service: "Greeter", handler: "greet", parameter: "Gen" })).status,
  ];
  out.awakeables = [
    await failed(ingress.resolveAwakeable("nope", { paid: true })),
    await failed(ingress.rejectAwakeable("nope", "declined")),
  ];
  return out;
}

/** Names the program may use without calling them (compiled only). */
export function typesOnly(ingress: clients.Ingress): unknown[] {
  const policy: clients.RetryPolicy = {
    maxAttempts: 3,
    initialInterval: { milliseconds: 10 },
    shouldRetry: (f: clients.RetryFailure, n: number) => n < 2 && clients.defaultShouldRetry(f),
  };
  const scoped: clients.ScopedIngress = ingress.scope("tenant-1");
  const call: clients.IngressCallOptions<string, string> = { idempotencyKey: "k", timeout: 1000 };
  const sendOpts: clients.IngressSendOptions<string> = { delay: { seconds: 1 } };
  const serde: clients.Serde<Uint8Array> = clients.serde.binary;
  const d: clients.Duration = { seconds: 1 };
  const arg: clients.InferArgType<[string, number]> = "x";
  const defs: [
    clients.ServiceDefinition<"Greeter", clients.Service<typeof greeter>>,
    clients.VirtualObjectDefinition<"Cart", clients.VirtualObject<typeof cart>>,
    clients.WorkflowDefinition<"Signup", clients.Workflow<typeof signup>>,
  ] = [greeter, cart, signup];
  const opts: clients.Opts<string, string> = new clients.Opts(call);
  // What the clients must refuse: the types come from the handlers, not `any`.
  const svc = ingress.serviceClient(greeter);
  const wf = ingress.workflowClient(signup, "w");
  // @ts-expect-error greet takes a string
  void svc.greet(42);
  // @ts-expect-error no such handler
  void svc.nope();
  // @ts-expect-error a workflow client has no run: workflowSubmit, workflowAttach, workflowOutput
  void wf.run("x");
  // @ts-expect-error count answers a number
  const count: PromiseLike<string> = ingress.objectClient(cart, "c").count();
  // @ts-expect-error a call takes Opts, not SendOpts
  void svc.greet("x", clients.rpc.sendOpts({ delay: 1 }));
  // @ts-expect-error workflowAttach answers run's output, a string
  const attached: PromiseLike<number> = wf.workflowAttach();
  return [
    count,
    attached,
    clients.connect({ url: "http://localhost:8080", retry: policy, serde: clients.serde.json }),
    scoped.serviceClient(greeter),
    sendOpts,
    serde,
    d,
    arg,
    defs,
    opts.opts,
    new clients.SendOpts(sendOpts).delay(),
  ];
}
