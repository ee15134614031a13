// Serves the compat programs with the Restate SDK's own endpoint on the port given as argv[2] (for tests/compat/behaviour.test.ts).
import * as restate from "@restatedev/restate-sdk";
import { caller, cart, door, greeter, signals, signup } from "./programs/shop.js";

const port = Number(process.argv[2]);
await restate
  .endpoint()
  .bind(greeter)
  .bind(cart)
  .bind(signup)
  .bind(caller)
  .bind(signals)
  .bind(door)
  .listen(port);
