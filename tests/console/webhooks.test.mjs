// A webhook endpoint's deliveries and their redelivery: a receiver that answers 500
// makes a failed attempt the endpoint's page shows (status, attempts, the last answer);
// once the delivery has failed and the receiver is fixed, an admin redelivers it after
// the confirmation and sees the new attempt delivered. A caller without billing:admin
// is not offered Redeliver and is refused if it forges it. A server of its own, that
// lets webhooks go to this machine (--allow-loopback-webhooks).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { startServer, launch, axeViolations, signIn, reloadUntil } from "./harness.mjs";

let server, chrome, receiver, broken = true;
const received = [];
before(async () => {
  receiver = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      received.push(req.headers["webhook-id"]);
      res.writeHead(broken ? 500 : 200, { "content-type": "text/plain" });
      res.end(broken ? "receiver down" : "ok");
    });
  });
  await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
  server = await startServer(["--allow-loopback-webhooks"]);
  chrome = await launch();
});
after(async () => {
  await chrome?.close();
  server?.stop();
  receiver?.close();
});

async function accessible(page, what) {
  assert.deepEqual(await axeViolations(page), [], `axe-core on ${what}`);
}

const endpoint = (enabled) => ({
  url: `http://127.0.0.1:${receiver.address().port}/hook`,
  events: ["run.created"],
  enabled,
  description: "ledger sync",
});

test("a failed delivery is shown on its endpoint's page and redelivered after the confirmation", async () => {
  const { base, api } = server;
  const made = await api("PUT", "/v1/webhook-endpoints/ledger", endpoint(true));
  assert.ok(made.secret, "the API shows the secret once");
  await api("POST", "/v1/invoice-runs", { targetDate: "2024-02-01", name: "February" });

  const context = await chrome.browser.newContext();
  const page = await context.newPage();
  await signIn(page, base, "alice");
  await page.goto(`${base}/console/webhooks`);
  await accessible(page, "webhook endpoints");
  await page.getByRole("link", { name: "ledger", exact: true }).click();
  await page.waitForURL(`${base}/console/webhooks/ledger`);
  assert.equal(await page.locator("h1").innerText(), "Webhook endpoint ledger");
  const html = await page.content();
  assert.ok(!html.includes(made.secret), "the secret is never on the page");
  assert.match(await page.getByTestId("endpoint").innerText(), /Made or last rotated \d{4}-\d\d-\d\d/);

  const row = page.getByTestId("delivery");
  await reloadUntil(page, async () => (await row.count()) === 1 && (await row.getByTestId("attempts").innerText()) === "1", "the first attempt");
  assert.equal(await row.getByTestId("last-answer").innerText(), "HTTP 500");
  assert.match(await row.innerText(), /run\.created/);
  // Still on its retry schedule: not offered, with the reason.
  assert.equal(await row.getByRole("link", { name: /Redeliver/ }).count(), 0);
  assert.match(await row.innerText(), /still being tried on its retry schedule/);
  await accessible(page, "an endpoint with a pending delivery");

  // The endpoint is disabled while its receiver is down: the retry finds it disabled
  // and the delivery fails.
  await api("PUT", "/v1/webhook-endpoints/ledger", endpoint(false));
  await reloadUntil(page, async () => /Failed/.test(await row.innerText()), "the delivery to fail", 30000);
  assert.match(await page.getByTestId("endpoint-state").innerText(), /Disabled/);
  assert.match(await row.innerText(), /its endpoint is disabled/);

  // Fixed and enabled again: redeliver it.
  broken = false;
  await api("PUT", "/v1/webhook-endpoints/ledger", endpoint(true));
  await page.reload();
  assert.match(await page.getByTestId("endpoint-state").innerText(), /Enabled/);
  await row.getByRole("link", { name: /Redeliver/ }).click();
  await page.waitForURL(/\/console\/webhook-deliveries\/[0-9a-f-]{36}\/actions\/redeliver$/);
  assert.match(
    await page.getByTestId("consequence").innerText(),
    /^Redelivering sends the run\.created event again to this endpoint, with the same webhook-id .* Its 1 earlier attempts stay/,
  );
  await accessible(page, "confirm redeliver");
  await page.getByRole("button", { name: "Confirm: Redeliver" }).click();
  await page.waitForURL(/\/console\/webhooks\/ledger#delivery-[0-9a-f-]{36}$/);
  await reloadUntil(page, async () => /Delivered/.test(await row.innerText()), "the redelivery");
  assert.equal(await row.getByTestId("attempts").innerText(), "2");
  assert.equal(await row.getByTestId("last-answer").innerText(), "HTTP 200");
  assert.equal(received.length, 2, "the receiver got the event twice");
  assert.equal(received[0], received[1], "with the same webhook-id");
  await accessible(page, "the endpoint after the redelivery");

  const audit = await api("GET", "/v1/audit-events?resource=ledger");
  assert.ok(audit.items.length >= 3, "the endpoint's changes are audited");
  await context.close();
});

test("a caller without billing:admin is not offered Redeliver and a forged one is refused", async () => {
  const { base, api } = server;
  const deliveries = await api("GET", "/v1/webhook-endpoints/ledger/deliveries");
  const id = deliveries.items[0].id;
  const context = await chrome.browser.newContext();
  const page = await context.newPage();
  await signIn(page, base, "bob");
  await page.goto(`${base}/console/webhooks/ledger`);
  assert.equal(await page.getByTestId("delivery").count(), 1);
  assert.equal(await page.getByRole("link", { name: /Redeliver/ }).count(), 0);
  await accessible(page, "an endpoint for a reader");
  assert.equal((await page.goto(`${base}/console/webhook-deliveries/${id}/actions/redeliver`)).status(), 403);
  await context.close();
});
