// Proves onelog's public surface matches @restatedev/restate-sdk 1.17 name for name (each missing name is listed in docs/compatibility.md with its reason), that onelog/clients matches @restatedev/restate-sdk-clients 1.17 name for name, and that programs in Restate's idioms compile against both with only the imports changed, by reading the packages' exports with the TypeScript compiler and running tsc on tests/compat/programs three times.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import ts from "typescript";

/** Restate SDK exports onelog does not have, each with the reason (docs/compatibility.md says more). */
export const NOT_PROVIDED: Readonly<Record<string, string>> = {
  DefaultServiceOptions: "not yet: endpoint-wide default service options (set them per service)",
  Hooks: "endpoint hooks and interceptors are not supported",
  HooksProvider: "endpoint hooks and interceptors are not supported",
  Interceptor: "endpoint hooks and interceptors are not supported",
  internal: "Restate's internal API",
  JournalValueCodec: "journal value codecs (encryption/compression) are not supported",
  PauseError: "not yet: pausing from a handler",
  ScopedContext: "not yet: scoped invocations",
  iface: "not yet: the 1.17 interface/descriptor API",
  implement: "not yet: the 1.17 interface/descriptor API",
  Descriptor: "not yet: the 1.17 interface/descriptor API",
  DescriptorOpts: "not yet: the 1.17 interface/descriptor API",
  HandlerDescriptor: "not yet: the 1.17 interface/descriptor API",
  ServiceDescriptor: "not yet: the 1.17 interface/descriptor API",
  ObjectDescriptor: "not yet: the 1.17 interface/descriptor API",
  WorkflowDescriptor: "not yet: the 1.17 interface/descriptor API",
  ClientFromDescriptors: "not yet: the 1.17 interface/descriptor API",
  SendClientFromDescriptors: "not yet: the 1.17 interface/descriptor API",
  ImplementedDefinition: "not yet: the 1.17 interface/descriptor API",
  ImplementedServiceDefinition: "not yet: the 1.17 interface/descriptor API",
  ImplementedObjectDefinition: "not yet: the 1.17 interface/descriptor API",
  ImplementedWorkflowDefinition: "not yet: the 1.17 interface/descriptor API",
  ServiceImplHandlers: "not yet: the 1.17 interface/descriptor API",
  ObjectImplHandlers: "not yet: the 1.17 interface/descriptor API",
  WorkflowImplHandlers: "not yet: the 1.17 interface/descriptor API",
  ServicePerHandlerOpts: "not yet: the 1.17 interface/descriptor API",
  ObjectPerHandlerOpts: "not yet: the 1.17 interface/descriptor API",
  WorkflowPerHandlerOpts: "not yet: the 1.17 interface/descriptor API",
  ServiceInterface: "not yet: the 1.17 interface/descriptor API",
  FnOf: "not yet: the 1.17 interface/descriptor API",
  InferInput: "not yet: the 1.17 interface/descriptor API",
  InferOutput: "not yet: the 1.17 interface/descriptor API",
  ServiceOpts: "not yet: the type of service()'s handlers record (onelog infers it)",
  ObjectOpts: "not yet: the type of object()'s handlers record (onelog infers it)",
  WorkflowOpts: "not yet: the type of workflow()'s handlers record (onelog infers it)",
};

function exportsOf(files: string[]): Set<string>[] {
  const program = ts.createProgram(files, {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    customConditions: ["onelog-source"],
    noEmit: true,
    skipLibCheck: true,
  });
  const checker = program.getTypeChecker();
  return files.map((f) => {
    const sf = program.getSourceFile(f);
    assert.ok(sf, f);
    const module = checker.getSymbolAtLocation(sf);
    assert.ok(module, f);
    return new Set(checker.getExportsOfModule(module).map((s) => s.name));
  });
}

function tsc(project: string): { status: number | null; output: string } {
  const r = spawnSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", project], {
    encoding: "utf8",
  });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe("compatibility with @restatedev/restate-sdk (types)", () => {
  it("every export of the Restate SDK is exported by onelog, or listed as not provided with a reason", () => {
    const [onelog, restate] = exportsOf([
      "packages/onelog/src/index.ts",
      "node_modules/@restatedev/restate-sdk/dist/index.d.ts",
    ]);
    const missing = [...restate!].filter((n) => !onelog!.has(n) && NOT_PROVIDED[n] === undefined);
    assert.deepEqual(missing, [], "exports of @restatedev/restate-sdk that onelog neither has nor lists");
    const stale = Object.keys(NOT_PROVIDED).filter((n) => onelog!.has(n) || !restate!.has(n));
    assert.deepEqual(stale, [], "names listed as not provided that onelog has, or Restate does not");
  });

  it("every export of @restatedev/restate-sdk-clients is exported by onelog/clients and @onelog/sdk/clients", () => {
    const [onelog, sdk, restate] = exportsOf([
      "packages/onelog/src/clients.ts",
      "packages/sdk/src/clients.ts",
      "node_modules/@restatedev/restate-sdk-clients/dist/index.d.ts",
    ]);
    assert.ok(restate!.size > 30, `read ${restate!.size} exports of Restate's clients`);
    assert.deepEqual(
      [...restate!].filter((n) => !onelog!.has(n)),
      [],
      "missing in onelog/clients",
    );
    assert.deepEqual(
      [...restate!].filter((n) => !sdk!.has(n)),
      [],
      "missing in @onelog/sdk/clients",
    );
  });

  it("docs/compatibility.md names every export onelog does not provide", () => {
    const doc = fs.readFileSync("docs/compatibility.md", "utf8");
    const undocumented = Object.keys(NOT_PROVIDED).filter((n) => !doc.includes(`\`${n}\``));
    assert.deepEqual(undocumented, []);
  });

  it("the programs in Restate's idioms compile against @restatedev/restate-sdk", () => {
    const r = tsc("tests/compat/tsconfig.restate.json");
    assert.equal(r.status, 0, r.output);
  });

  it("the same programs compile against onelog with only the import mapped (also Restate's typed clients with onelog definitions)", () => {
    const r = tsc("tests/compat/tsconfig.onelog.json");
    assert.equal(r.status, 0, r.output);
  });

  it("the same programs compile with the clients' import mapped to onelog/clients too", () => {
    const r = tsc("tests/compat/tsconfig.onelog-clients.json");
    assert.equal(r.status, 0, r.output);
  });
});
