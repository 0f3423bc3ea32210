// Relying party built on Node openid-client v6, against `wxgate dev` (run by
// scripts/oidc-clients.sh): discovery, code flow with PKCE S256 + nonce + state, id_token
// signature (JWKS) and claims, userinfo, refresh rotation with reuse detection, the public
// client demo-spa and its pairwise subject, RP-initiated logout. The person signs in with the
// simulator's website QR login, driven over fetch with a small cookie jar.
// Exits non-zero, naming the step, on the first failure.
import { createHash } from "node:crypto";
import * as client from "openid-client";

const ISSUER = "http://127.0.0.1:8080/_auth";
const SECRET = "demo-oidc-secret-0123456789";
const CALLBACK = "http://127.0.0.1:8765/callback";
const SIGNED_OUT = "http://127.0.0.1:8765/signed-out";

function check(ok, what) {
  if (!ok) throw new Error(what);
}

// Every server here is 127.0.0.1, and cookies ignore ports: one name → value map does.
const jar = new Map();
function remember(response) {
  for (const line of response.headers.getSetCookie()) {
    const [pair, ...attrs] = line.split(";");
    const name = pair.slice(0, pair.indexOf("=")).trim();
    const gone = attrs.some((a) => /^\s*max-age\s*=\s*0\s*$/i.test(a));
    if (gone) jar.delete(name);
    else jar.set(name, pair.slice(pair.indexOf("=") + 1).trim());
  }
}
async function get(url) {
  const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
  const response = await fetch(url, { redirect: "manual", headers: cookie ? { cookie } : {} });
  remember(response);
  return response;
}
// One browser request that must redirect; returns the absolute Location.
async function hop(url) {
  const response = await get(url);
  check([302, 303].includes(response.status), `GET ${url}: expected a redirect, got ${response.status}`);
  return new URL(response.headers.get("location"), url).href;
}

// Follows an authorization request as a browser would, signing alice in by the website QR
// login unless `signedIn`; returns the redirect to the RP's callback.
async function signIn(authorizeUrl, signedIn) {
  const next = await hop(authorizeUrl);
  if (signedIn) {
    check(next.startsWith(CALLBACK), `a signed-in browser was sent to ${next}`);
    return next;
  }
  check(new URL(next).pathname === "/_auth/login", `expected the login page, went to ${next}`);
  const page = await (await get(next)).text();
  const link = page.match(/href="(\/_auth\/web\/authorize\?[^"]+)"/);
  check(link, "the login page has no website QR login link");
  const qr = await hop(new URL(link[1].replaceAll("&amp;", "&"), next).href);
  check(qr.startsWith("http://127.0.0.1:9200/"), `expected the simulator's QR page, got ${qr}`);
  // The simulated person scans and allows; the parameter must precede `#wechat_redirect`.
  const wxCallback = await hop(qr.split("#")[0] + "&sim_user=alice");
  const back = await hop(wxCallback);
  check([...jar.keys()].some((k) => k.startsWith("wxgate")), "no wxgate session cookie");
  return hop(back);
}

// OIDC Core 3.1.3.6: left half of SHA-256 of the access token, base64url.
const atHash = (token) => createHash("sha256").update(token).digest().subarray(0, 16).toString("base64url");

// One authorization code flow; returns the tokens and the id_token's claims.
async function login(config, scope, signedIn) {
  const verifier = client.randomPKCECodeVerifier();
  const nonce = client.randomNonce();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: CALLBACK,
    scope,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
    nonce,
    state,
  });
  const callback = await signIn(url.href, signedIn);
  // Checks state and iss (RFC 9207) on the callback, sends the verifier, validates the
  // id_token (signature via jwks_uri, see enableNonRepudiationChecks; iss, aud, exp, nonce).
  const tokens = await client.authorizationCodeGrant(config, new URL(callback), {
    pkceCodeVerifier: verifier,
    expectedNonce: nonce,
    expectedState: state,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  const clientId = config.clientMetadata().client_id;
  check(claims.sub, "id_token has no sub");
  check([claims.aud].flat().length === 1 && [claims.aud].flat()[0] === clientId, `aud ${claims.aud}`);
  check(claims.nonce === nonce, "nonce mismatch");
  // openid-client leaves at_hash alone in the code flow (optional there), so compare it here.
  check(claims.at_hash === atHash(tokens.access_token), `at_hash ${claims.at_hash} does not match`);
  return { tokens, claims };
}

async function expectInvalidGrant(config, refreshToken, what) {
  try {
    await client.refreshTokenGrant(config, refreshToken);
  } catch (err) {
    check(err.error === "invalid_grant", `${what}: expected invalid_grant, got ${err.error ?? err}`);
    return;
  }
  throw new Error(`${what}: the refresh token was accepted`);
}

async function main() {
  // http:// needs allowInsecureRequests; enableNonRepudiationChecks makes openid-client verify
  // the id_token signature too (by default it relies on TLS to the token endpoint).
  const execute = [client.allowInsecureRequests, client.enableNonRepudiationChecks];
  const app = await client.discovery(new URL(ISSUER), "demo-app", SECRET, undefined, { execute });
  check(app.serverMetadata().issuer === ISSUER, "issuer mismatch");

  const { tokens, claims } = await login(app, "openid profile phone offline_access", false);
  const info = await client.fetchUserInfo(app, tokens.access_token, claims.sub); // checks sub
  check(info.name && info.phone_number, `userinfo lacks name/phone: ${JSON.stringify(info)}`);

  // Rotation. The gateway forgives a retry of `old` for 20 s while `next` is unused (a lost
  // response), answering with the same `next`; once `next` has been used, `old` again is reuse.
  const old = tokens.refresh_token;
  const next = (await client.refreshTokenGrant(app, old)).refresh_token;
  check(next && next !== old, "refresh did not rotate the refresh token");
  check((await client.refreshTokenGrant(app, old)).refresh_token === next, "grace retry differs");
  const newer = (await client.refreshTokenGrant(app, next)).refresh_token;
  check(![old, next].includes(newer), "second refresh did not rotate");
  await expectInvalidGrant(app, old, "reused refresh token");
  await expectInvalidGrant(app, newer, "refresh token of a revoked family");

  // The public client, on the same browser session: PKCE and no secret; its pairwise sub
  // must differ from demo-app's public one for the same person.
  const spa = await client.discovery(new URL(ISSUER), "demo-spa", undefined, client.None(), { execute });
  const pairwise = await login(spa, "openid profile", true);
  await client.fetchUserInfo(spa, pairwise.tokens.access_token, pairwise.claims.sub);
  check(pairwise.claims.sub !== claims.sub, "demo-spa got demo-app's subject");

  // A second demo-app authorization rides on the browser session, then RP-initiated logout.
  const second = await login(app, "openid profile offline_access", true);
  const state = client.randomState();
  const url = client.buildEndSessionUrl(app, {
    id_token_hint: second.tokens.id_token,
    post_logout_redirect_uri: SIGNED_OUT,
    state,
  });
  const before = new Map(jar); // to show the session itself ended, not just its cookies
  const back = new URL(await hop(url.href));
  check(back.href.startsWith(SIGNED_OUT), `logout went to ${back}`);
  check(back.searchParams.get("state") === state, "logout lost the state");
  check(![...jar.keys()].some((k) => k.startsWith("wxgate")), "logout left wxgate cookies");
  check((await get(`${ISSUER}/me`)).status === 401, "/_auth/me still answers after logout");
  jar.clear();
  for (const [k, v] of before) jar.set(k, v);
  check((await get(`${ISSUER}/me`)).status === 401, "/_auth/me takes the pre-logout cookies");
  await expectInvalidGrant(app, second.tokens.refresh_token, "after logout");
  console.log(`openid-client: ok (sub ${claims.sub}, demo-spa pairwise ${pairwise.claims.sub}; refresh reuse and logout refused)`);
}

main().catch((err) => {
  console.error(`openid-client: FAILED: ${err.name}: ${err.message}${err.cause ? ` (${JSON.stringify(err.cause)})` : ""}`);
  process.exit(1);
});
