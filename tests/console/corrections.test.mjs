// Corrections of one document from its page: a Posted invoice is voided after the
// confirmation that states the credit memo's amount, the credit memo's page follows, and
// the invoice reads Voided with the void's audit entry; what a document's status refuses
// is disabled with the reason; a caller without billing:post is not offered them. A
// server of its own: the other file's later runs bill past its invoices, and a void of
// an invoice a later run billed past is refused (document_superseded).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launch, axeViolations, signIn } from "./harness.mjs";

let server, chrome, invoiceId;
before(async () => {
  server = await startServer();
  chrome = await launch();
  const { api } = server;
  const run = await api("POST", "/v1/invoice-runs", { targetDate: "2024-02-01", name: "February" });
  const until = Date.now() + 60000;
  while (!/^Completed/.test((await api("GET", `/v1/invoice-runs/${run.id}`)).status)) {
    if (Date.now() > until) throw new Error("the run did not complete");
    await new Promise((r) => setTimeout(r, 300));
  }
  await api("POST", `/v1/invoice-runs/${run.id}/post`, {});
  const docs = await api("GET", `/v1/invoice-runs/${run.id}/invoices`);
  invoiceId = docs.items.find((d) => d.kind === "Invoice").id;
});
after(async () => {
  await chrome?.close();
  server?.stop();
});

async function accessible(page, what) {
  assert.deepEqual(await axeViolations(page), [], `axe-core on ${what}`);
}

test("a caller without billing:post is not offered a document's corrections", async () => {
  const { base } = server;
  const context = await chrome.browser.newContext();
  const page = await context.newPage();
  await signIn(page, base, "bob");
  await page.goto(`${base}/console/invoices/${invoiceId}`);
  for (const name of ["Approve", "Post", "Void", "Cancel"]) {
    assert.equal(await page.getByRole("link", { name, exact: true }).count(), 0, `${name} is not offered`);
    assert.equal(await page.getByRole("button", { name, exact: true }).count(), 0, `${name} is not offered`);
  }
  assert.equal((await page.goto(`${base}/console/invoices/${invoiceId}/actions/void`)).status(), 403);
  await context.close();
});

test("a Posted invoice is voided after the confirmation, and its credit memo and audit entry are shown", async () => {
  const { base, api } = server;
  const context = await chrome.browser.newContext();
  const page = await context.newPage();
  await signIn(page, base, "alice");
  const url = `${base}/console/invoices/${invoiceId}`;
  await page.goto(url);
  // What a Posted invoice's status refuses is disabled, with the reason.
  assert.equal(await page.getByRole("button", { name: "Cancel", exact: true }).isDisabled(), true);
  assert.match(await page.locator("#why-cancel").innerText(), /void it/);
  assert.match(await page.locator("#why-post").innerText(), /this one is Posted/);
  await accessible(page, "posted invoice with its actions");

  const invoice = await api("GET", `/v1/invoices/${invoiceId}`);
  await page.getByRole("link", { name: "Void", exact: true }).click();
  const consequence = await page.getByTestId("consequence").innerText();
  assert.match(consequence, /^Voiding issues a credit memo for \$[0-9,]+\.\d\d and marks invoice INV-/);
  assert.ok(consequence.includes(invoice.number), "the invoice's number");
  await accessible(page, "confirm void");
  await page.getByRole("button", { name: "Confirm: Void" }).click();
  await page.waitForURL((u) => /\/console\/invoices\/[0-9a-f-]{36}$/.test(u.href) && u.href !== url);
  const heading = await page.locator("h1").innerText();
  assert.match(heading, /^Credit memo CM-\d+$/, "the credit memo's page, with its number");
  await accessible(page, "credit memo");

  await page.goto(url);
  assert.match(await page.getByTestId("document-status").innerText(), /Voided/);
  const voided = page.getByTestId("audit").locator("tbody tr", { hasText: "document.voided" });
  assert.equal(await voided.count(), 1, "the void's audit entry");
  assert.match(await voided.innerText(), /alice/);
  assert.match(await page.locator("#why-void").innerText(), /this one is Voided/);
  await accessible(page, "voided invoice");
  await context.close();
});

test("a voided invoice's account is rebilled after the confirmation, once however often the form is sent", async () => {
  const { base, api } = server;
  const context = await chrome.browser.newContext();
  const page = await context.newPage();
  await signIn(page, base, "alice");
  const url = `${base}/console/invoices/${invoiceId}`;
  await page.goto(url);
  const invoice = await api("GET", `/v1/invoices/${invoiceId}`);
  const voidedRun = await api("GET", `/v1/invoice-runs/${invoice.runId}`);
  await page.getByRole("link", { name: "Rebill account" }).click();
  await page.waitForURL(`${url}/rebill`);
  const consequence = await page.getByTestId("consequence").innerText();
  assert.match(consequence, /^Rebilling makes a new Immediate run for account A-1001 alone/);
  assert.ok(consequence.includes(invoice.number), "the voided invoice's number");
  assert.equal(await page.getByLabel("Target date").inputValue(), voidedRun.targetDate, "the voided invoice's run's target date");
  await accessible(page, "confirm rebill");

  // The API's field error, at its field; the form keeps its key.
  const key = await page.locator("input[name=key]").inputValue();
  await page.getByLabel("Target date").fill("2024-02-31");
  await page.getByRole("button", { name: "Confirm: Rebill account" }).click();
  assert.match(await page.getByTestId("error-targetDate").innerText(), /out of range/);
  assert.equal(await page.getByLabel("Target date").getAttribute("aria-invalid"), "true");
  assert.equal(await page.locator("input[name=key]").inputValue(), key);
  await accessible(page, "rebill with a field error");

  const before = (await api("GET", "/v1/invoice-runs?limit=100")).items.length;
  await page.getByLabel("Target date").fill(voidedRun.targetDate);
  const csrf = await page.locator("main input[name=csrf]").inputValue();
  const accountId = await page.locator("main input[name=accountId]").inputValue();
  const number = await page.locator("main input[name=number]").inputValue();
  assert.equal(accountId, "A-1001", "the re-rendered form still carries its account");
  await page.getByRole("button", { name: "Confirm: Rebill account" }).click();
  await page.waitForURL(/\/console\/runs\/[0-9a-f-]{36}$/);
  const runId = page.url().split("/").pop();
  assert.notEqual(runId, invoice.runId);
  const run = await api("GET", `/v1/invoice-runs/${runId}`);
  assert.equal(run.request.runType, "Immediate", JSON.stringify(run.request));
  assert.deepEqual(run.request.filters.accountIds, ["A-1001"]);
  assert.equal(run.targetDate, voidedRun.targetDate);
  await accessible(page, "the rebill's run");

  // The same form sent again (a double submit) answers the same run, and makes none.
  const again = await page.request.post(`${url}/rebill`, {
    form: { csrf, key, accountId, number, targetDate: voidedRun.targetDate },
    headers: { origin: base },
    maxRedirects: 0,
  });
  assert.equal(again.status(), 303);
  assert.equal(again.headers()["location"], `/console/runs/${runId}`);
  assert.equal((await api("GET", "/v1/invoice-runs?limit=100")).items.length, before + 1, "one run");
  await context.close();
});
