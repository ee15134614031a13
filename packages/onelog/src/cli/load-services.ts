/** Finds the service definitions a module exports (named exports, and a default export). */
import type { AnyDefinition } from "@onelog/sdk";

function isDefinition(v: unknown): v is AnyDefinition {
  if (v === null || typeof v !== "object") return false;
  const d = v as { name?: unknown; kind?: unknown; handlers?: unknown };
  return (
    typeof d.name === "string" &&
    (d.kind === "service" || d.kind === "object" || d.kind === "workflow") &&
    d.handlers !== null &&
    typeof d.handlers === "object"
  );
}

/**
 * The definitions among a module's exports: each export that is one, and a default export
 * that is one, an array of them, or an object of them. Each definition once, in export order.
 *
 * @example
 * servicesOf(await import("./services.ts")); // [greeter, counter]
 */
export function servicesOf(mod: Readonly<Record<string, unknown>>): AnyDefinition[] {
  const found: AnyDefinition[] = [];
  const add = (v: unknown) => {
    if (isDefinition(v) && !found.includes(v)) found.push(v);
  };
  for (const [name, value] of Object.entries(mod)) {
    if (name !== "default") add(value);
  }
  const dflt = mod.default;
  if (Array.isArray(dflt)) dflt.forEach(add);
  else if (isDefinition(dflt)) add(dflt);
  else if (dflt !== null && typeof dflt === "object") Object.values(dflt).forEach(add);
  return found;
}
