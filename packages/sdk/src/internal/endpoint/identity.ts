/**
 * Request identity, scheme v1 (as Restate does it): a server that holds an ed25519 private key
 * signs every request to a deployment with a JWT (EdDSA) in `x-restate-jwt-v1`, next to
 * `x-restate-signature-scheme: v1`. Its claims are `aud` (the request path, from `/invoke/…` or
 * `/discover` on), `iat`, `nbf` and `exp` (seconds). The deployment knows the public key as
 * `publickeyv1_` + base58 of the raw 32-byte key, and refuses (401) a request that carries no
 * valid token from one of its keys. Built on node:crypto alone; no JWT library.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from "node:crypto";

/** The prefix of a v1 public key. */
export const IDENTITY_V1_PREFIX = "publickeyv1_";
const SCHEME_HEADER = "x-restate-signature-scheme";
const JWT_HEADER = "x-restate-jwt-v1";

const BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

function base58Encode(bytes: Uint8Array): string {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  let out = "";
  while (n > 0n) {
    out = BASE58[Number(n % 58n)]! + out;
    n /= 58n;
  }
  for (const b of bytes) {
    if (b !== 0) break;
    out = "1" + out;
  }
  return out;
}

function base58Decode(text: string): Uint8Array | undefined {
  let n = 0n;
  for (const ch of text) {
    const v = BASE58.indexOf(ch);
    if (v < 0) return undefined;
    n = n * 58n + BigInt(v);
  }
  const bytes: number[] = [];
  while (n > 0n) {
    bytes.unshift(Number(n & 0xffn));
    n >>= 8n;
  }
  for (const ch of text) {
    if (ch !== "1") break;
    bytes.unshift(0);
  }
  return Uint8Array.from(bytes);
}

/**
 * Reads a `publickeyv1_…` key. Throws a TypeError that says what is wrong with it.
 *
 * @example
 * const key = parsePublicKeyV1("publickeyv1_2G8dCQhArfvGpzPw5Vx2ALciR4xCLHfS5YaT93XjNxX9");
 */
export function parsePublicKeyV1(key: string): KeyObject {
  if (!key.startsWith(IDENTITY_V1_PREFIX)) {
    throw new TypeError(
      `request identity key ${JSON.stringify(key)} does not start with ${IDENTITY_V1_PREFIX}`,
    );
  }
  const raw = base58Decode(key.slice(IDENTITY_V1_PREFIX.length));
  if (raw === undefined) throw new TypeError(`request identity key ${JSON.stringify(key)} is not base58`);
  if (raw.length !== 32) {
    throw new TypeError(`request identity key ${JSON.stringify(key)} has ${raw.length} bytes; expected 32`);
  }
  return createPublicKey({
    key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(raw).toString("base64url") },
    format: "jwk",
  });
}

/** The `publickeyv1_…` name of an ed25519 public key. */
function publicKeyV1(key: KeyObject): string {
  const jwk = key.export({ format: "jwk" });
  return IDENTITY_V1_PREFIX + base58Encode(Buffer.from(jwk.x!, "base64url"));
}

/**
 * The audience a token is checked against: the request path from its last `/invoke/{s}/{h}` or
 * `/discover` on, so a deployment behind a path prefix verifies the same token (as Restate does).
 */
export function normalisePath(path: string): string {
  const slashes: number[] = [];
  for (let i = 0; i < path.length; i++) if (path[i] === "/") slashes.push(i);
  const n = slashes.length;
  if (n >= 3 && path.slice(slashes[n - 3], slashes[n - 2]) === "/invoke") return path.slice(slashes[n - 3]);
  if (n > 0 && path.slice(slashes[n - 1]) === "/discover") return path.slice(slashes[n - 1]);
  return path;
}

/** Checks requests against a set of v1 public keys. */
export interface IdentityVerifier {
  /**
   * Undefined when the request carries a valid token for `path` from one of the keys; else why
   * not (for the log; the caller answers 401 and runs nothing).
   */
  verify(path: string, header: (name: string) => string | undefined, nowSec?: number): string | undefined;
}

/**
 * A verifier for these `publickeyv1_…` keys. Throws a TypeError for a malformed key (at
 * configuration time, not per request).
 *
 * @example
 * const verifier = identityVerifier(["publickeyv1_…"]);
 * const refused = verifier.verify("/invoke/Greeter/greet", (h) => req.headers[h]);
 * if (refused !== undefined) return respond(401);
 */
export function identityVerifier(keys: readonly string[]): IdentityVerifier {
  const parsed = keys.map(parsePublicKeyV1);
  return {
    verify(path, header, nowSec = Math.floor(Date.now() / 1000)) {
      const scheme = header(SCHEME_HEADER);
      if (scheme === undefined) return `missing header ${SCHEME_HEADER}`;
      if (scheme === "unsigned") return "an unsigned request, and this endpoint accepts only signed ones";
      if (scheme !== "v1") return `unknown ${SCHEME_HEADER} ${JSON.stringify(scheme)}`;
      const jwt = header(JWT_HEADER);
      if (jwt === undefined) return `missing header ${JWT_HEADER}`;
      return checkJwt(jwt, parsed, normalisePath(path), nowSec);
    },
  };
}

function jsonPart(part: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(Buffer.from(part, "base64url").toString("utf8")) as unknown;
    return typeof v === "object" && v !== null && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function checkJwt(
  jwt: string,
  keys: readonly KeyObject[],
  audience: string,
  nowSec: number,
): string | undefined {
  const parts = jwt.split(".");
  if (parts.length !== 3) return "the JWT does not have three parts";
  const [h, p, s] = parts as [string, string, string];
  const header = jsonPart(h);
  if (header?.alg !== "EdDSA") return "the JWT is not signed with EdDSA";
  const signed = Buffer.from(`${h}.${p}`);
  const signature = Buffer.from(s, "base64url");
  if (!keys.some((k) => verify(null, signed, k, signature)))
    return "the JWT's signature matches none of the keys";
  const claims = jsonPart(p);
  if (claims === undefined) return "the JWT's claims are not a JSON object";
  for (const c of ["aud", "exp", "iat", "nbf"]) if (!(c in claims)) return `the JWT has no ${c} claim`;
  const { aud, exp, nbf } = claims;
  const audiences = Array.isArray(aud) ? aud : [aud];
  if (!audiences.includes(audience)) return `the JWT is for ${JSON.stringify(aud)}, not ${audience}`;
  if (typeof exp !== "number" || exp < nowSec) return "the JWT has expired";
  if (typeof nbf !== "number" || nbf > nowSec) return "the JWT is not valid yet";
  return undefined;
}

/**
 * The headers that sign a request to `path` (scheme v1), as a server holding `privateKey` (an
 * ed25519 KeyObject or PKCS#8 PEM) sends them. The token is valid `validitySec` either side of
 * now (default 60 s, Restate's default).
 *
 * @example
 * const headers = signRequestV1(privateKeyPem, "/invoke/Greeter/greet");
 * await fetch(url, { method: "POST", headers: { ...headers, "content-type": "…" }, body });
 */
export function signRequestV1(
  privateKey: KeyObject | string,
  path: string,
  options: { readonly nowSec?: number; readonly validitySec?: number } = {},
): Record<string, string> {
  const key = typeof privateKey === "string" ? createPrivateKey(privateKey) : privateKey;
  const now = options.nowSec ?? Math.floor(Date.now() / 1000);
  const validity = options.validitySec ?? 60;
  const header = { typ: "JWT", alg: "EdDSA", kid: publicKeyV1(createPublicKey(key)) };
  const claims = { aud: normalisePath(path), exp: now + validity, iat: now, nbf: now - validity };
  const part = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString("base64url");
  const unsigned = `${part(header)}.${part(claims)}`;
  const signature = sign(null, Buffer.from(unsigned), key).toString("base64url");
  return { [SCHEME_HEADER]: "v1", [JWT_HEADER]: `${unsigned}.${signature}` };
}

/**
 * A fresh ed25519 key pair: the public key as an endpoint takes it (`withIdentityV1`), the
 * private key as PKCS#8 PEM, as a server takes it (Restate's
 * `request-identity-private-key-pem-file`) and as {@link signRequestV1} takes it.
 *
 * @example
 * const { publicKey, privateKeyPem } = generateIdentityKeyPair();
 * endpoint().bind(greeter).withIdentityV1(publicKey);
 */
export function generateIdentityKeyPair(): { publicKey: string; privateKeyPem: string } {
  const pair = generateKeyPairSync("ed25519");
  return {
    publicKey: publicKeyV1(pair.publicKey),
    privateKeyPem: pair.privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
  };
}
