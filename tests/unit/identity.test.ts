// Proves request identity v1 (endpoint/identity.ts) accepts exactly the tokens a server holding the key would send for that path and time, by signing with node:crypto keys and checking every claim the scheme requires, and that keys and paths are read as Restate reads them.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createPrivateKey, sign } from "node:crypto";
import {
  generateIdentityKeyPair,
  identityVerifier,
  parsePublicKeyV1,
  signRequestV1,
} from "@onelog/sdk/internal";
import { normalisePath } from "../../packages/sdk/src/internal/endpoint/identity.js";

const keys = generateIdentityKeyPair();
const verifier = identityVerifier([keys.publicKey]);
const NOW = 1_800_000_000;
const headers = (h: Record<string, string>) => (name: string) => h[name];

/** A token with these claims and header, signed with `keys`. */
function token(
  claims: Record<string, unknown>,
  header: Record<string, unknown> = { alg: "EdDSA", typ: "JWT" },
) {
  const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const unsigned = `${part(header)}.${part(claims)}`;
  const signature = sign(null, Buffer.from(unsigned), createPrivateKey(keys.privateKeyPem)).toString(
    "base64url",
  );
  return { "x-restate-signature-scheme": "v1", "x-restate-jwt-v1": `${unsigned}.${signature}` };
}
const claims = { aud: "/invoke/S/h", iat: NOW, nbf: NOW - 60, exp: NOW + 60 };

describe("request identity v1", () => {
  it("a token from signRequestV1 verifies for its path, behind any prefix, within its validity", () => {
    const h = headers(signRequestV1(keys.privateKeyPem, "/invoke/S/h", { nowSec: NOW }));
    assert.equal(verifier.verify("/invoke/S/h", h, NOW), undefined);
    assert.equal(verifier.verify("/some/prefix/invoke/S/h", h, NOW), undefined);
    assert.equal(verifier.verify("/invoke/S/h", h, NOW + 60), undefined);
    assert.match(verifier.verify("/invoke/S/h", h, NOW + 61)!, /expired/);
    assert.match(verifier.verify("/invoke/S/h", h, NOW - 61)!, /not valid yet/);
    assert.match(verifier.verify("/invoke/S/other", h, NOW)!, /is for "\/invoke\/S\/h"/);
  });

  it("refuses missing or unknown schemes, other keys, tampered claims, other algorithms and missing claims", () => {
    assert.match(
      verifier.verify("/discover", headers({}), NOW)!,
      /missing header x-restate-signature-scheme/,
    );
    assert.match(
      verifier.verify("/discover", headers({ "x-restate-signature-scheme": "unsigned" }), NOW)!,
      /unsigned/,
    );
    assert.match(
      verifier.verify("/discover", headers({ "x-restate-signature-scheme": "v2" }), NOW)!,
      /unknown/,
    );
    assert.match(
      verifier.verify("/discover", headers({ "x-restate-signature-scheme": "v1" }), NOW)!,
      /missing header x-restate-jwt-v1/,
    );
    const other = generateIdentityKeyPair();
    assert.match(
      verifier.verify(
        "/invoke/S/h",
        headers(signRequestV1(other.privateKeyPem, "/invoke/S/h", { nowSec: NOW })),
        NOW,
      )!,
      /matches none of the keys/,
    );
    // Either key of a verifier with two keys.
    assert.equal(
      identityVerifier([other.publicKey, keys.publicKey]).verify("/invoke/S/h", headers(token(claims)), NOW),
      undefined,
    );
    const good = token(claims)["x-restate-jwt-v1"];
    const [h, , s] = good.split(".");
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, aud: "/invoke/S/x" })).toString("base64url")}.${s}`;
    assert.match(
      verifier.verify(
        "/invoke/S/x",
        headers({ "x-restate-signature-scheme": "v1", "x-restate-jwt-v1": forged }),
        NOW,
      )!,
      /matches none/,
    );
    assert.match(verifier.verify("/invoke/S/h", headers(token(claims, { alg: "none" })), NOW)!, /EdDSA/);
    for (const missing of ["aud", "exp", "iat", "nbf"]) {
      const c: Record<string, unknown> = { ...claims };
      delete c[missing];
      assert.match(
        verifier.verify("/invoke/S/h", headers(token(c)), NOW)!,
        new RegExp(`no ${missing} claim`),
      );
    }
    assert.equal(
      verifier.verify("/invoke/S/h", headers(token({ ...claims, aud: ["/x", "/invoke/S/h"] })), NOW),
      undefined,
    );
    assert.match(
      verifier.verify(
        "/invoke/S/h",
        headers({ "x-restate-signature-scheme": "v1", "x-restate-jwt-v1": "a.b" }),
        NOW,
      )!,
      /three parts/,
    );
  });

  it("keys: publickeyv1_ + base58 of 32 bytes, else a TypeError at configuration time", () => {
    assert.match(keys.publicKey, /^publickeyv1_[1-9A-HJ-NP-Za-km-z]{43,44}$/);
    assert.equal(parsePublicKeyV1(keys.publicKey).asymmetricKeyType, "ed25519");
    assert.throws(
      () => identityVerifier(["2G8dCQhArfvGpzPw5Vx2ALciR4xCLHfS5YaT93XjNxX9"]),
      /does not start with publickeyv1_/,
    );
    assert.throws(() => parsePublicKeyV1("publickeyv1_0OIl"), /not base58/);
    assert.throws(() => parsePublicKeyV1("publickeyv1_2G8dCQ"), /has 4 bytes; expected 32/);
    // The kid of a signed token is the key's public name.
    const jwt = signRequestV1(keys.privateKeyPem, "/discover")["x-restate-jwt-v1"]!;
    assert.equal(JSON.parse(Buffer.from(jwt.split(".")[0]!, "base64url").toString()).kid, keys.publicKey);
  });

  it("the audience is the path from its last /invoke/{s}/{h} or /discover on", () => {
    const cases: [string, string][] = [
      ["/invoke/a/b", "/invoke/a/b"],
      ["/foo/bar/invoke/a/b", "/invoke/a/b"],
      ["/foo/discover", "/discover"],
      ["foo/invoke/a/b", "/invoke/a/b"],
      ["/invoke/a", "/invoke/a"],
      ["/foo/invoke", "/foo/invoke"],
      ["/", "/"],
      ["", ""],
    ];
    for (const [path, audience] of cases) assert.equal(normalisePath(path), audience, path);
  });
});
