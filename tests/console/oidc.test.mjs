// The console's OpenID Connect sign-in in a real browser against a real OpenID provider:
// panva's oidc-provider on loopback, with one public client (PKCE, no secret) and JWT
// access tokens (RS256) for the resource `urn:billrun`. `serve --oidc-issuer` sends the
// browser to the provider's login and consent pages (its development interactions take
// any login) and back to /console/callback; the access token's `scope` and `groups`
// claims become the visitor's scopes as on AWS. A tampered `state` is refused with the
// reason and no session. axe-core on every console page visited (the provider's pages
// are not ours).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { generateKeyPairSync } from "node:crypto";
import Provider from "oidc-provider";
import { startServer, launch, axeViolations, reloadUntil } from "./harness.mjs";

const CLIENT_ID = "billrun-console";
const RESOURCE = "urn:billrun";
/// Logins the provider puts in the `finance` group, which serve maps to billing:post.
const FINANCE = new Set(["ada"]);

/// The provider's HTTP server first (a free port makes the issuer URL serve needs), its
/// configuration once serve's callback URL is known.
async function startProvider() {
  let handle = (_req, res) => { res.statusCode = 503; res.end(); };
  const server = http.createServer((req, res) => handle(req, res));
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const configure = (callback) => {
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const jwk = { ...privateKey.export({ format: "jwk" }), kid: "test-rs256", use: "sig", alg: "RS256" };
    const provider = new Provider(issuer, {
      clients: [{
        client_id: CLIENT_ID,
        token_endpoint_auth_method: "none",
        redirect_uris: [callback],
        grant_types: ["authorization_code"],
        response_types: ["code"],
      }],
      jwks: { keys: [jwk] },
      cookies: { keys: ["oidc-test-cookie-key"] },
      pkce: { required: () => true },
      findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
      // Groups ride in the access token, as an IdP's group claim does.
      extraTokenClaims: async (_ctx, token) => ({ groups: FINANCE.has(token.accountId) ? ["finance"] : [] }),
      features: {
        devInteractions: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: async () => RESOURCE,
          useGrantedResource: async () => true,
          getResourceServerInfo: async (_ctx, resource) => {
            if (resource !== RESOURCE) throw new Provider.errors.InvalidTarget();
            return {
              scope: "billing:read billing:run billing:post billing:admin",
              audience: RESOURCE,
              accessTokenFormat: "jwt",
              accessTokenTTL: 600,
              jwt: { sign: { alg: "RS256" } },
            };
          },
        },
      },
    });
    handle = provider.callback();
  };
  return { issuer, configure, stop: () => server.close() };
}

let idp, server, chrome;
before(async () => {
  idp = await startProvider();
  server = await startServer([
    "--oidc-issuer", idp.issuer,
    "--oidc-client-id", CLIENT_ID,
    "--oidc-audience", RESOURCE,
    "--oidc-scope", "openid billing:read billing:run",
    "--oidc-group-scopes", "finance=billing:post",
  ]);
  idp.configure(`${server.base}/console/callback`);
  chrome = await launch();
});
after(async () => {
  await chrome?.close();
  server?.stop();
  idp?.stop();
});

async function accessible(page, what) {
  assert.deepEqual(await axeViolations(page), [], `axe-core on ${what}`);
}

/// From a signed-out console page, through the provider's login and consent pages.
async function throughProvider(page, login) {
  await page.waitForURL((u) => u.href.startsWith(`${idp.issuer}/interaction/`));
  await page.locator("input[name=login]").fill(login);
  await page.locator("input[name=password]").fill("any password");
  await page.getByRole("button", { name: "Sign-in" }).click();
  await page.getByRole("button", { name: "Continue" }).click();
}

async function completedRun(name) {
  const run = await server.api("POST", "/v1/invoice-runs", { targetDate: "2024-03-01", name });
  const until = Date.now() + 60000;
  for (;;) {
    const now = await server.api("GET", `/v1/invoice-runs/${run.id}`);
    if (/^Completed/.test(now.status)) return run;
    if (Date.now() > until) throw new Error(`run ${run.id} did not complete: ${now.status}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

test("a visitor signs in at the provider, lands on the runs page as its subject, and posts a run", async () => {
  const { base } = server;
  const run = await completedRun("March");
  const context = await chrome.browser.newContext();
  const page = await context.newPage();

  const authorize = [];
  page.on("request", (r) => { if (r.url().startsWith(`${idp.issuer}/auth?`)) authorize.push(new URL(r.url())); });
  await page.goto(`${base}/console/runs`);
  assert.ok(page.url().startsWith(`${idp.issuer}/`), `signed out, the console sends the browser to the provider: ${page.url()}`);
  assert.equal(authorize.length, 1, "one authorization request");
  const asked = authorize[0].searchParams;
  assert.equal(asked.get("client_id"), CLIENT_ID);
  assert.equal(asked.get("code_challenge_method"), "S256");
  assert.equal(asked.get("redirect_uri"), `${base}/console/callback`);
  await throughProvider(page, "ada");
  await page.waitForURL(`${base}/console/runs`);
  assert.equal(await page.getByTestId("who").innerText(), "ada", "the console names the provider's subject");
  // The provider's cookies share the host (cookies ignore ports): ours by name.
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === "billrun_console");
  assert.ok(session, "a session cookie");
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, "Strict");
  assert.equal(cookies.find((c) => c.name === "billrun_console_flow"), undefined, "the flow cookie is cleared");
  assert.ok(await page.getByRole("link", { name: /^BR-/ }).count() >= 1, "the runs are listed");
  await accessible(page, "runs (signed in at the provider)");

  // billing:post from the finance group: Post is offered, and the audit names the subject.
  const url = `${base}/console/runs/${run.id}`;
  await page.goto(url);
  await accessible(page, "run (signed in at the provider)");
  await page.getByRole("link", { name: "Post", exact: true }).click();
  await accessible(page, "confirm post (signed in at the provider)");
  await page.getByRole("button", { name: "Confirm: Post" }).click();
  await page.waitForURL(url);
  assert.match(await page.getByTestId("run-status").innerText(), /Posted/);
  const posted = page.getByTestId("audit").locator("tbody tr", { hasText: "run.posted" });
  await reloadUntil(page, async () => (await posted.count()) === 1, "the audit entry of the post");
  assert.match(await posted.innerText(), /\bada\b/);
  await context.close();
});

test("a visitor whose token lacks billing:post is not offered Post", async () => {
  const { base } = server;
  const run = await completedRun("April");
  const context = await chrome.browser.newContext();
  const page = await context.newPage();
  await page.goto(`${base}/console/runs/${run.id}`);
  await throughProvider(page, "ben");
  await page.waitForURL(`${base}/console/runs`);
  assert.equal(await page.getByTestId("who").innerText(), "ben");
  await page.goto(`${base}/console/runs/${run.id}`);
  assert.match(await page.getByTestId("run-status").innerText(), /Completed/);
  assert.equal(await page.getByRole("link", { name: "Post", exact: true }).count(), 0);
  assert.equal(await page.getByRole("button", { name: "Post", exact: true }).count(), 0);
  assert.equal(await page.getByRole("link", { name: "Request PDFs" }).count(), 1, "billing:run from the token's scope");
  await accessible(page, "run (without billing:post)");
  assert.equal((await page.goto(`${base}/console/runs/${run.id}/actions/post`)).status(), 403);
  await context.close();
});

test("a callback whose state was tampered with is refused with the reason, and no session is made", async () => {
  const { base } = server;
  const context = await chrome.browser.newContext();
  const page = await context.newPage();
  // The state is altered on its way to the provider, which hands it back to the
  // callback as given: the browser still holds the flow cookie of the real one.
  const authorize = [];
  page.on("request", (r) => { if (r.url().startsWith(`${idp.issuer}/auth?`)) authorize.push(r.url()); });
  await page.goto(`${base}/console/sign-in`);
  assert.equal(authorize.length, 1);
  const tampered = new URL(authorize[0]);
  tampered.searchParams.set("state", `${tampered.searchParams.get("state")}x`);
  await page.goto(tampered.href);
  const refusal = page.waitForResponse((r) => r.url().startsWith(`${base}/console/callback?`));
  await throughProvider(page, "ada");
  const res = await refusal;
  assert.ok(new URL(res.url()).searchParams.get("code"), "the provider sent a code");
  assert.equal(res.status(), 400);
  assert.match(await page.getByRole("alert").innerText(), /its state is not the one this browser was given/);
  await accessible(page, "sign-in refused");
  assert.equal((await context.cookies()).find((c) => c.name === "billrun_console"), undefined, "no session");
  // With this browser's cookies, not following the redirect (the provider, signed in
  // now, would start a fresh sign-in that succeeds).
  const runs = await context.request.get(`${base}/console/runs`, { maxRedirects: 0 });
  assert.equal(runs.status(), 303);
  assert.equal(new URL(runs.headers().location, base).pathname, "/console/sign-in", "still signed out");
  await context.close();
});
