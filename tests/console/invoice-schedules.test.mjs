// Invoice schedules in a real browser: the list, a schedule's items with their amounts
// and the next ones to fall due (00:00 UTC, the exact instant on hover), an item
// executed after the confirmation and shown with the run that billed it; a reader
// without billing:run is not offered Execute and a forged execution is refused with 403.
// axe-core on every page visited.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launch, axeViolations, signIn } from "./harness.mjs";

let server, chrome;
before(async () => {
  server = await startServer();
  chrome = await launch();
  // Dated ahead: serve's scheduler executes an item that is due by itself.
  await server.api("PUT", "/v1/invoice-schedules/IS-1", {
    id: "IS-1", accountId: "A-1001", subscriptionIds: ["S-1"],
    items: [
      { id: "I-1", invoiceDate: "2030-01-15", amount: "1500.00" },
      { id: "I-2", invoiceDate: "2030-07-15", amount: "750.50" },
    ],
  });
});
after(async () => {
  await chrome?.close();
  server?.stop();
});

async function accessible(page, what) {
  assert.deepEqual(await axeViolations(page), [], `axe-core on ${what}`);
}

test("an invoice schedule is listed, opened with its next items, and an item executed after the confirmation", async () => {
  const { base, api } = server;
  const context = await chrome.browser.newContext();
  const page = await context.newPage();
  await signIn(page, base, "alice");
  await page.getByRole("link", { name: "Invoice schedules", exact: true }).click();
  await page.waitForURL(`${base}/console/invoice-schedules`);
  const row = page.getByTestId("invoice-schedules").locator("tbody tr", { hasText: "IS-1" });
  assert.match(await row.innerText(), /A-1001/);
  assert.match(await row.innerText(), /2030-01-15 \(I-1\)/, "the first pending item");
  await accessible(page, "invoice schedules");

  await row.getByRole("link", { name: "IS-1", exact: true }).click();
  await page.waitForURL(`${base}/console/invoice-schedules/IS-1`);
  assert.equal(await page.getByTestId("account").innerText(), "A-1001");
  const next = page.getByTestId("next-items").locator("li");
  assert.match(await next.nth(0).innerText(), /^I-1: \$1,500\.00 dated 2030-01-15, falls due 2030-01-15 00:00 UTC/);
  assert.equal(await next.nth(0).locator("time").getAttribute("title"), "2030-01-15 00:00:00 UTC");
  assert.match(await next.nth(1).innerText(), /^I-2: \$750\.50/);
  await accessible(page, "invoice schedule");

  await page.getByRole("link", { name: "Execute item I-1" }).click();
  assert.match(await page.getByTestId("consequence").innerText(),
    /^Executing bills item I-1 now instead of when it falls due \(2030-01-15 00:00 UTC\): account A-1001 is invoiced \$1,500\.00 dated 2030-01-15, in a run of its own, a Draft until it is posted/);
  await accessible(page, "confirm execute");
  await page.getByRole("button", { name: "Confirm: Execute" }).click();
  await page.waitForURL(`${base}/console/invoice-schedules/IS-1`);
  const item = page.getByTestId("schedule-items").locator("tbody tr", { hasText: "I-1" });
  assert.equal(await item.getByTestId("item-status").innerText(), "Processed");
  assert.equal(await page.getByRole("link", { name: "Execute item I-1" }).count(), 0, "executed once");
  assert.equal(await page.getByRole("link", { name: "Execute item I-2" }).count(), 1);
  const stored = await api("GET", "/v1/invoice-schedules/IS-1");
  assert.equal(stored.processed.length, 1);
  await accessible(page, "invoice schedule (executed)");
  // The run that billed it.
  await item.getByRole("link", { name: "its run" }).click();
  await page.waitForURL(`${base}/console/runs/${stored.processed[0].runId}`);
  await context.close();
});

test("a reader without billing:run is not offered Execute, and a forged execution is 403", async () => {
  const { base, api } = server;
  const context = await chrome.browser.newContext();
  const page = await context.newPage();
  await signIn(page, base, "carol");
  const url = `${base}/console/invoice-schedules/IS-1`;
  await page.goto(url);
  assert.equal(await page.getByRole("link", { name: /^Execute/ }).count(), 0);
  await accessible(page, "invoice schedule (billing:read)");
  const confirm = await page.goto(`${url}/items/I-2/execute`);
  assert.equal(confirm.status(), 403);
  const csrf = await page.locator("input[name=csrf]").first().inputValue();
  const forged = await page.evaluate(async ([u, csrf]) => {
    const r = await fetch(u, { method: "POST", body: new URLSearchParams({ csrf }) });
    return r.status;
  }, [`${url}/items/I-2/execute`, csrf]);
  assert.equal(forged, 403);
  const stored = await api("GET", "/v1/invoice-schedules/IS-1");
  assert.equal(stored.items.find((i) => i.id === "I-2").status, "Pending", "not executed");
  await context.close();
});
