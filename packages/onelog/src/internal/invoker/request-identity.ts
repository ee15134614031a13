/**
 * Request identity (server mode): with a private key configured, every request to a deployment
 * carries Restate's v1 signature — `x-restate-signature-scheme: v1` and an EdDSA JWT whose
 * audience is the request's path — so a deployment that verifies it (`withIdentityV1(publicKey)`
 * in onelog's and Restate's SDKs) runs nothing sent by anyone else.
 *
 * Tokens are valid for a minute on either side of their issue time, and one is reused per path
 * for half of that, so signing costs one ed25519 signature per handler per 30 s, not per request.
 */
import { createPrivateKey, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { signRequestV1 } from "@onelog/sdk/internal";

const VALIDITY_SEC = 60;

/** A signer of request paths with the PKCS#8 PEM private key in `pemFile`; throws if unreadable. */
export function requestIdentitySigner(
  pemFile: string,
  nowMs: () => number = Date.now,
): (path: string) => Record<string, string> {
  let key: KeyObject;
  try {
    key = createPrivateKey(readFileSync(pemFile, "utf8"));
  } catch (e) {
    throw new Error(`the request identity key ${pemFile} cannot be read: ${(e as Error).message}`);
  }
  if (key.asymmetricKeyType !== "ed25519") {
    throw new Error(
      `the request identity key ${pemFile} is ${key.asymmetricKeyType ?? "not"} an ed25519 key`,
    );
  }
  const cache = new Map<string, { headers: Record<string, string>; issuedSec: number }>();
  return (path) => {
    const nowSec = Math.floor(nowMs() / 1000);
    const hit = cache.get(path);
    if (hit !== undefined && nowSec - hit.issuedSec < VALIDITY_SEC / 2) return hit.headers;
    const headers = signRequestV1(key, path, { nowSec, validitySec: VALIDITY_SEC });
    if (cache.size > 10_000) cache.clear();
    cache.set(path, { headers, issuedSec: nowSec });
    return headers;
  };
}
