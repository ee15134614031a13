// Proves scripts/doc-examples.ts reads the docs as it says — shell blocks only, continued lines joined, a `# …` line after a command taken as its output (notes, `…` and ids loosened), skip markers visible and never stray — on small markdown texts.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { expectedOutput, parseExamples } from "../../scripts/doc-examples.js";

const DOC = `# Title

\`\`\`sh
curl -s localhost:8080/a -d 5   # a comment the shell drops
# 5

# a comment, not an output
curl -s localhost:9070/query \\
  -d 'SELECT 1'
npm run x
\`\`\`

\`\`\`json
{ "not": "a command" }
\`\`\`

<!-- doc-examples: skip (runs until stopped) -->

\`\`\`bash
onelog dev services.ts
\`\`\`

\`\`\`shell
curl -s localhost:8080/b
#   (a note only)
\`\`\`
`;

describe("doc-examples: parseExamples", () => {
  it("takes the commands of shell blocks, their documented outputs, and the skipped blocks with their reason", () => {
    const { examples, skipped } = parseExamples("X.md", DOC);
    assert.deepEqual(examples, [
      {
        file: "X.md",
        line: 4,
        command: "curl -s localhost:8080/a -d 5   # a comment the shell drops",
        output: { line: 5, text: "5" },
      },
      { file: "X.md", line: 8, command: "curl -s localhost:9070/query \\\n  -d 'SELECT 1'" },
      { file: "X.md", line: 10, command: "npm run x" },
      {
        file: "X.md",
        line: 24,
        command: "curl -s localhost:8080/b",
        output: { line: 25, text: "  (a note only)" },
      },
    ]);
    assert.deepEqual(skipped, [{ file: "X.md", line: 19, reason: "runs until stopped" }]);
  });

  it("refuses a skip marker that is not right before a shell block", () => {
    assert.throws(
      () => parseExamples("X.md", "<!-- doc-examples: skip (why) -->\nsome text\n```sh\nls\n```\n"),
      /X\.md:1: a doc-examples skip marker must be right before a shell block/,
    );
    assert.throws(
      () => parseExamples("X.md", "<!-- doc-examples: skip (why) -->\n\n```json\n{}\n```\n"),
      /X\.md:1: /,
    );
    assert.throws(
      () => parseExamples("X.md", "text\n<!-- doc-examples: skip (why) -->\n"),
      /end of the file/,
    );
  });
});

describe("doc-examples: expectedOutput", () => {
  it("drops a note after three spaces, and reads a note alone as no claim or as an empty body", () => {
    assert.ok(expectedOutput('"Hello, Ada!"   (the same answer every time)')!.test('"Hello, Ada!"'));
    assert.equal(expectedOutput('"Hello, Ada!"   (a note)')!.test('"Hello, Bo!"'), false);
    assert.equal(expectedOutput("  (the same run again is refused)"), undefined);
    const empty = expectedOutput("(202, empty body)")!;
    assert.ok(empty.test(""));
    assert.equal(empty.test("{}"), false);
  });

  it("lets … stand for anything and an inv_/awk_ id for any id, and matches the whole output", () => {
    const health = expectedOutput('{"status":"ok","partitions":[{"applied_lsn":…},…]}')!;
    assert.ok(health.test('{"status":"ok","partitions":[{"applied_lsn":7},{"applied_lsn":9}]}'));
    assert.equal(health.test('{"status":"unavailable","partitions":[]}'), false);
    const sent = expectedOutput('{"invocationId":"inv_ceb5","status":"Accepted"}   (202)')!;
    assert.ok(sent.test('{"invocationId":"inv_0123456789abcdef","status":"Accepted"}'));
    assert.equal(sent.test('{"invocationId":"inv_0123","status":"Accepted"} trailing'), false);
    assert.ok(expectedOutput('{"awakeable":"awk_12abh"}')!.test('{"awakeable":"awk_99ffh"}'));
  });
});
