// Document templates in a real browser: the list with the active one, a template's
// fields, logo and sample PDF, its activation after the confirmation with the audit
// entry naming who; a caller without billing:admin is not offered Activate and a forged
// activation is refused with 403. axe-core on every page visited.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launch, axeViolations, signIn } from "./harness.mjs";

let server, chrome;
before(async () => {
  server = await startServer();
  chrome = await launch();
  // A second template beside the harness's active "default", with a logo (a 1×1 PNG).
  await server.api("PUT", "/v1/document-templates/plain", {
    name: "Plain <b>letterhead</b>",
    content: {
      companyName: "Fabrikam Sample Works GmbH",
      address: { line1: "Hauptstraße 5", city: "Berlin", postalCode: "10115", country: "Germany" },
      taxId: "DE 123456789", locale: "de-DE", footer: "Bitte zahlen Sie innerhalb von 14 Tagen.",
      logoPngBase64: "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
    },
  });
});
after(async () => {
  await chrome?.close();
  server?.stop();
});

/// Reloads the template page until its sample PDF is shown: the documents worker renders
/// it after the put, and until then the page says it is being rendered.
async function sampleShown(page) {
  for (let i = 0; (await page.locator("iframe.pdf").count()) === 0; i++) {
    assert.ok(i < 100, "the sample is rendered within 20 s");
    assert.equal(await page.getByTestId("sample-pending").count(), 1, "no sample yet: the page says it is being rendered");
    await page.waitForTimeout(200);
    await page.reload();
  }
}

async function accessible(page, what) {
  assert.deepEqual(await axeViolations(page), [], `axe-core on ${what}`);
}

/// The content type and first five bytes of what the page's URL `u` answers.
function head(page, u) {
  return page.evaluate(async (u) => {
    const r = await fetch(u);
    const b = new Uint8Array(await r.arrayBuffer());
    return { type: r.headers.get("content-type"), head: String.fromCharCode(...b.slice(0, 5)) };
  }, u);
}

test("a template is listed, opened with its fields, logo and sample PDF, and activated after the confirmation", async () => {
  const { base, api } = server;
  const context = await chrome.browser.newContext();
  const page = await context.newPage();
  await signIn(page, base, "alice");
  await page.getByRole("link", { name: "Templates", exact: true }).click();
  await page.waitForURL(`${base}/console/templates`);
  const rows = page.getByTestId("templates").locator("tbody tr");
  assert.equal(await rows.count(), 2);
  const row = (id) => page.getByTestId("templates").locator("tbody tr", { has: page.getByRole("link", { name: id, exact: true }) });
  assert.equal(await row("default").getByTestId("template-state").innerText(), "Active");
  assert.equal(await row("plain").getByTestId("template-state").innerText(), "Inactive");
  assert.match(await row("plain").innerText(), /Plain <b>letterhead<\/b>/, "the name is text, not markup");
  await accessible(page, "templates");

  await row("plain").getByRole("link", { name: "plain", exact: true }).click();
  await page.waitForURL(`${base}/console/templates/plain`);
  const fields = page.getByTestId("template-fields");
  for (const f of ["Fabrikam Sample Works GmbH", "Hauptstraße 5", "DE 123456789", "de-DE"]) {
    assert.match(await fields.innerText(), new RegExp(f), `the field ${f}`);
  }
  const logo = page.getByTestId("logo");
  assert.equal(await logo.getAttribute("alt"), "Logo of Fabrikam Sample Works GmbH");
  assert.equal(await logo.evaluate((img) => img.complete && img.naturalWidth), 1, "the logo is drawn");
  await sampleShown(page);
  const src = await page.locator("iframe.pdf").getAttribute("src");
  assert.equal(src, "/console/templates/plain/sample");
  assert.deepEqual(await head(page, src), { type: "application/pdf", head: "%PDF-" });
  await accessible(page, "template");

  await page.getByRole("link", { name: "Activate", exact: true }).click();
  assert.match(await page.getByTestId("consequence").innerText(),
    /^Activating makes template plain \(“Plain <b>letterhead<\/b>”\) the one every PDF requested from now on is rendered with/);
  await accessible(page, "confirm activate");
  await page.getByRole("button", { name: "Confirm: Activate" }).click();
  await page.waitForURL(`${base}/console/templates/plain`);
  assert.equal(await page.getByTestId("template-state").innerText(), "Active");
  assert.equal(await page.getByRole("link", { name: "Activate", exact: true }).count(), 0, "active: nothing to activate");
  const entry = page.getByTestId("audit").locator("tbody tr", { hasText: "template.activated" });
  assert.equal(await entry.count(), 1);
  assert.match(await entry.innerText(), /alice/);
  assert.equal((await api("GET", "/v1/document-templates/plain")).active, true);
  assert.equal((await api("GET", "/v1/document-templates/default")).active, false);
  await accessible(page, "template (activated)");
  await context.close();
});

test("a caller without billing:admin sees a template but is not offered Activate, and a forged activation is 403", async () => {
  const { base, api } = server;
  const context = await chrome.browser.newContext();
  const page = await context.newPage();
  await signIn(page, base, "bob");
  const url = `${base}/console/templates/default`;
  await page.goto(url);
  await sampleShown(page);
  assert.equal(await page.getByTestId("template-state").innerText(), "Inactive");
  assert.equal(await page.getByRole("link", { name: "Render sample", exact: true }).count(), 0, "Render sample needs billing:admin");
  assert.equal(await page.getByRole("link", { name: "Activate", exact: true }).count(), 0);
  assert.equal(await page.getByRole("button", { name: "Activate", exact: true }).count(), 0);
  assert.deepEqual(await head(page, "/console/templates/default/sample"), { type: "application/pdf", head: "%PDF-" },
    "billing:read reads the sample");
  await accessible(page, "template (without billing:admin)");
  const confirm = await page.goto(`${url}/actions/activate`);
  assert.equal(confirm.status(), 403);
  const csrf = await page.locator("input[name=csrf]").first().inputValue();
  const forged = await page.evaluate(async ([u, csrf]) => {
    const r = await fetch(u, { method: "POST", body: new URLSearchParams({ csrf }) });
    return r.status;
  }, [`${url}/actions/activate`, csrf]);
  assert.equal(forged, 403);
  assert.equal((await api("GET", "/v1/document-templates/default")).active, false, "not activated");
  await context.close();
});

test("Render sample queues the sample again after the confirmation, and the page shows it once rendered", async () => {
  const { base } = server;
  const context = await chrome.browser.newContext();
  const page = await context.newPage();
  await signIn(page, base, "alice");
  await page.goto(`${base}/console/templates/plain`);
  await sampleShown(page);
  const before = await head(page, "/console/templates/plain/sample");
  await page.getByRole("link", { name: "Render sample", exact: true }).click();
  await page.waitForURL(`${base}/console/templates/plain/actions/render-sample`);
  assert.match(await page.getByTestId("consequence").innerText(),
    /^Rendering queues the sample PDF of template plain \(“Plain <b>letterhead<\/b>”\) as its content reads now/);
  await accessible(page, "confirm render sample");
  await page.getByRole("button", { name: "Confirm: Render sample" }).click();
  await page.waitForURL(`${base}/console/templates/plain`);
  await accessible(page, "template (sample requested)");
  await sampleShown(page);
  assert.deepEqual(await head(page, "/console/templates/plain/sample"), before, "the same sample");
  await context.close();
});
