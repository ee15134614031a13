// Serves the compat programs with onelog's own endpoint on the port given as argv[2] (for tests/compat/behaviour.test.ts): the
// same file restate-endpoint.ts serves with Restate's SDK, with only its import changed to onelog.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { endpoint, type AnyDefinition } from "onelog";

const port = Number(process.argv[2]);
const source = fs.readFileSync("tests/compat/programs/shop.ts", "utf8");
const file = path.resolve("tests/compat/.generated/shop-endpoint.ts");
fs.mkdirSync(path.dirname(file), { recursive: true });
fs.writeFileSync(file, source.replace('from "@restatedev/restate-sdk"', 'from "onelog"'));
const shop = (await import(pathToFileURL(file).href)) as Record<string, AnyDefinition>;
await endpoint()
  .bind(shop.greeter!)
  .bind(shop.cart!)
  .bind(shop.signup!)
  .bind(shop.caller!)
  .bind(shop.signals!)
  .bind(shop.door!)
  .listen(port);
