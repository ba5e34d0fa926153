// Creating and editing document templates and invoice schedules from the console: the
// API's field errors shown at their fields (inside a template's content; at an item's
// row), the created resource's page, an edit of a template's name in its audit trail, an
// item row added without script; a caller without billing:admin is offered neither form
// and a forged POST is refused with 403.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launch, axeViolations, signIn } from "./harness.mjs";

let server, chrome;
before(async () => {
  server = await startServer();
  chrome = await launch();
});
after(async () => {
  await chrome?.close();
  server?.stop();
});

async function accessible(page, what) {
  assert.deepEqual(await axeViolations(page), [], `axe-core on ${what}`);
}

test("an admin creates a template (after an error in its content) and renames it", async () => {
  const { base, api } = server;
  const context = await chrome.browser.newContext();
  const page = await context.newPage();
  await signIn(page, base, "alice");
  await page.goto(`${base}/console/templates`);
  await page.getByRole("link", { name: "New template" }).click();
  await page.waitForURL(`${base}/console/templates/new`);
  await accessible(page, "new template");
  await page.getByLabel("Template id").fill("plain");
  await page.getByLabel("Name", { exact: true }).fill("Plain");
  await page.getByLabel("Content").fill(JSON.stringify({ companyName: "Plain Co", accentColor: "blue" }, null, 2));
  await page.getByRole("button", { name: "Save template" }).click();
  const error = page.getByTestId("error-content");
  assert.match(await error.innerText(), /^accentColor: /, "the error inside the content, with its path");
  assert.equal(await page.getByLabel("Content").getAttribute("aria-invalid"), "true");
  assert.match(await page.getByLabel("Content").inputValue(), /blue/, "the form keeps what was typed");
  await accessible(page, "new template with an error in its content");

  await page.getByLabel("Content").fill(JSON.stringify({ companyName: "Plain Co", accentColor: "#224466" }, null, 2));
  await page.getByRole("button", { name: "Save template" }).click();
  await page.waitForURL(`${base}/console/templates/plain`);
  assert.match(await page.getByTestId("template-fields").innerText(), /Plain Co/);
  await accessible(page, "the created template");

  await page.getByRole("link", { name: "Edit template plain" }).click();
  await page.waitForURL(`${base}/console/templates/plain/edit`);
  assert.match(await page.getByLabel("Content").inputValue(), /"companyName": "Plain Co"/);
  await accessible(page, "edit template");
  await page.getByLabel("Name", { exact: true }).fill("Plain, renamed");
  await page.getByRole("button", { name: "Save template" }).click();
  await page.waitForURL(`${base}/console/templates/plain`);
  assert.match(await page.locator("main").innerText(), /Plain, renamed/);
  assert.match(await page.locator("main").innerText(), /template\.updated/, "the rename's audit entry");
  assert.equal((await api("GET", "/v1/document-templates/plain")).name, "Plain, renamed");

  // A new template with an id that exists is refused at the id; nothing is replaced.
  await page.goto(`${base}/console/templates/new`);
  await page.getByLabel("Template id").fill("plain");
  await page.getByLabel("Name", { exact: true }).fill("Other");
  await page.getByLabel("Content").fill(JSON.stringify({ companyName: "Other Co" }));
  await page.getByRole("button", { name: "Save template" }).click();
  assert.match(await page.getByTestId("error-id").innerText(), /exists/);
  assert.equal((await api("GET", "/v1/document-templates/plain")).name, "Plain, renamed");
  await context.close();
});

test("an admin creates an invoice schedule row by row (after an amount error)", async () => {
  const { base, api } = server;
  const context = await chrome.browser.newContext();
  const page = await context.newPage();
  await signIn(page, base, "alice");
  await page.goto(`${base}/console/invoice-schedules`);
  await page.getByRole("link", { name: "New invoice schedule" }).click();
  await page.waitForURL(`${base}/console/invoice-schedules/new`);
  await accessible(page, "new invoice schedule");
  assert.equal(await page.getByTestId("item-row").count(), 3);
  await page.getByLabel("Schedule id").fill("IS-web");
  await page.getByLabel("Account", { exact: true }).fill("A-1001");
  await page.getByLabel("Subscriptions").fill("S-1");
  const rows = [["I-1", "2027-01-01", "600.00"], ["I-2", "2027-02-01", "300.00"], ["I-3", "2027-03-01", "200.00"]];
  for (const [i, [id, date, amount]] of rows.entries()) {
    await page.getByLabel(`Item id (item ${i + 1})`, { exact: true }).fill(id);
    await page.getByLabel(`Invoice date (item ${i + 1})`, { exact: true }).fill(date);
    await page.getByLabel(`Amount (item ${i + 1})`, { exact: true }).fill(amount);
  }
  await page.getByRole("button", { name: "Add a row" }).click();
  assert.equal(await page.getByTestId("item-row").count(), 4, "one more row, no script");
  assert.equal(await page.getByLabel("Amount (item 3)", { exact: true }).inputValue(), "200.00", "the rows typed are kept");
  await page.getByLabel("Item id (item 4)", { exact: true }).fill("I-4");
  await page.getByLabel("Invoice date (item 4)", { exact: true }).fill("2027-04-01");
  await page.getByLabel("Amount (item 4)", { exact: true }).fill("100.005");
  await page.getByRole("button", { name: "Save schedule" }).click();
  const error = page.getByTestId("error-items[3].amount");
  assert.ok((await error.innerText()).length > 0, "the API's error at the fourth row's amount");
  assert.equal(await page.getByLabel("Amount (item 4)", { exact: true }).getAttribute("aria-invalid"), "true");
  await accessible(page, "new invoice schedule with an amount error");

  await page.getByLabel("Amount (item 4)", { exact: true }).fill("100.00");
  await page.getByRole("button", { name: "Save schedule" }).click();
  await page.waitForURL(`${base}/console/invoice-schedules/IS-web`);
  const items = await page.getByTestId("schedule-items").innerText();
  for (const text of ["I-1", "$600.00", "2027-02-01", "I-4", "$100.00"]) assert.match(items, new RegExp(text.replace("$", "\\$")));
  await accessible(page, "the created invoice schedule");

  await page.getByRole("link", { name: "Edit invoice schedule IS-web" }).click();
  await page.waitForURL(`${base}/console/invoice-schedules/IS-web/edit`);
  assert.equal(await page.getByTestId("item-row").count(), 5, "its four items and a blank row");
  await accessible(page, "edit invoice schedule");
  await page.getByLabel("Amount (item 2)", { exact: true }).fill("350.00");
  await page.getByRole("button", { name: "Save schedule" }).click();
  await page.waitForURL(`${base}/console/invoice-schedules/IS-web`);
  const saved = await api("GET", "/v1/invoice-schedules/IS-web");
  assert.equal(saved.items[1].amount, "350.00");
  assert.equal(saved.items.length, 4);
  await context.close();
});

test("a caller without billing:admin is offered neither form and a forged POST is refused", async () => {
  const { base } = server;
  const context = await chrome.browser.newContext();
  const page = await context.newPage();
  await signIn(page, base, "bob");
  await page.goto(`${base}/console/templates`);
  assert.equal(await page.getByRole("link", { name: "New template" }).count(), 0);
  await accessible(page, "templates for bob");
  await page.goto(`${base}/console/templates/default`);
  assert.equal(await page.getByRole("link", { name: /^Edit/ }).count(), 0);
  await page.goto(`${base}/console/invoice-schedules`);
  assert.equal(await page.getByRole("link", { name: "New invoice schedule" }).count(), 0);
  assert.equal((await page.goto(`${base}/console/templates/new`)).status(), 403);
  assert.equal((await page.goto(`${base}/console/invoice-schedules/new`)).status(), 403);
  await accessible(page, "the 403 page");
  await page.goto(`${base}/console/templates`);
  const csrf = await page.locator("input[name=csrf]").first().inputValue();
  const forged = await page.evaluate(async ([base, csrf]) => {
    const post = (u, f) => fetch(base + u, { method: "POST", body: new URLSearchParams({ csrf, ...f }) });
    const t = await post("/console/templates", { id: "forged", name: "F", content: '{"companyName": "F"}' });
    const s = await post("/console/invoice-schedules", {
      id: "IS-forged", accountId: "A-1001", subscriptionIds: "S-1", rows: "1",
      "items[0].id": "I-1", "items[0].invoiceDate": "2027-01-01", "items[0].amount": "1.00",
    });
    return [t.status, s.status];
  }, [base, csrf]);
  assert.deepEqual(forged, [403, 403]);
  await context.close();
});
