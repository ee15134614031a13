// The official typed ingress client used with the definitions of shop.ts (Restate's or onelog's).
import * as clients from "@restatedev/restate-sdk-clients";
import { cart, greeter, signup } from "./shop.js";

export async function script(url: string): Promise<unknown[]> {
  const ingress = clients.connect({ url });
  const greeting: string = await ingress.serviceClient(greeter).greet("Ada");
  const items: number = await ingress.objectClient(cart, "c1").add("apple");
  const sent = await ingress
    .serviceSendClient(greeter)
    .greet("Bob", clients.rpc.sendOpts({ delay: { seconds: 1 } }));
  const submitted = await ingress.workflowClient(signup, "w1").workflowSubmit("ada@example.com");
  return [greeting, items, sent.invocationId, submitted.invocationId];
}
