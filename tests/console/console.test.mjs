// The operator console in a real browser: sign in, create a run from the form (a bad
// date shown at its field), watch it complete, read a failed account's reason, open an
// invoice and its PDF, post the run after the confirmation, see the status and the audit
// entry with the signed-in name; a caller without billing:post is not offered Post and
// is refused if it forges the request; CSRF refusals. axe-core on every page visited.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launch, axeViolations, signIn, reloadUntil } from "./harness.mjs";

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
  const found = await axeViolations(page);
  assert.deepEqual(found, [], `axe-core on ${what}`);
}

let runUrl;

test("an operator signs in, creates a run, reads a failure, opens an invoice and its PDF, and posts the run", async () => {
  const { base } = server;
  const context = await chrome.browser.newContext();
  const page = await context.newPage();

  await page.goto(`${base}/console/runs`);
  assert.match(page.url(), /\/console\/sign-in$/, "signed out, the console asks for a token");
  await accessible(page, "sign-in");
  await page.getByLabel("API token").fill("not-a-token");
  await page.getByRole("button", { name: "Sign in" }).click();
  assert.match(await page.locator("#token-error").innerText(), /not one of this server's/);

  await signIn(page, base, "alice");
  const [cookie] = await context.cookies();
  assert.equal(cookie.name, "billrun_console");
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, "Strict");
  assert.equal(cookie.path, "/console");
  assert.equal(await page.getByTestId("who").innerText(), "alice");
  await accessible(page, "runs (empty)");

  // The form: a bad date is named at its field, by the API's own validation.
  await page.getByRole("link", { name: "New run" }).click();
  await accessible(page, "new run");
  await page.getByLabel("Name").fill("February");
  await page.getByLabel("Target date").fill("2024-02-31");
  await page.getByRole("button", { name: "Create run" }).click();
  const fieldError = page.getByTestId("error-targetDate");
  assert.ok((await fieldError.innerText()).length > 0, "an error at the target date");
  assert.equal(await page.getByLabel("Target date").getAttribute("aria-invalid"), "true");
  assert.equal(await page.getByLabel("Name").inputValue(), "February", "the form keeps what was typed");
  await accessible(page, "new run with a field error");
  await page.getByLabel("Target date").fill("2024-02-01");
  await page.getByRole("button", { name: "Create run" }).click();
  await page.waitForURL(/\/console\/runs\/[0-9a-f-]{36}$/);
  runUrl = page.url();

  // Watch it complete (the progress bar reloads the page when the run moves on).
  const status = page.getByTestId("run-status");
  await reloadUntil(page, async () => /Completed/.test(await status.innerText()), "the run to complete");
  assert.match(await status.innerText(), /CompletedWithErrors/);
  assert.match(await page.getByTestId("reconciliation").innerText(), /2 selected = 1 billed \+ 0 suppressed \+ 0 nothing to bill \+ 1 failed — reconciles/);
  await accessible(page, "run");

  // Keyboard first: the first Tab reaches the skip link, which moves focus to the content.
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.textContent), "Skip to content");
  // 200% zoom of a 1280-pixel window: the page reflows (wide tables scroll in their own
  // region, the page itself does not scroll sideways).
  const viewport = page.viewportSize();
  await page.setViewportSize({ width: 640, height: 800 });
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1),
    "no horizontal scrolling at 200%");
  await page.setViewportSize(viewport);

  // The failed account and its reason.
  const failedRow = page.getByTestId("accounts").locator("tbody tr", { hasText: "A-1002" });
  const reason = await failedRow.locator("td").nth(1).innerText();
  assert.ok(/EUR|currency/i.test(reason), `a reason is given: ${reason}`);

  // PDFs, through the confirmation page.
  await page.getByRole("link", { name: "Request PDFs" }).click();
  assert.match(await page.getByTestId("consequence").innerText(), /Generates the PDFs of the run's 1 document/);
  await accessible(page, "confirm PDFs");
  await page.getByRole("button", { name: "Confirm: Request PDFs" }).click();
  await page.waitForURL(runUrl);
  const docRow = page.locator("table", { hasText: "Documents in numbering order" }).locator("tbody tr").first();
  await reloadUntil(page, async () => (await docRow.innerText()).includes("Generated"), "the PDF");
  assert.match(await docRow.innerText(), /\$1,403\.13|\$1,353\.13|\$/, "a total formatted as on the PDFs");

  // The invoice and its PDF.
  await docRow.getByRole("link").click();
  await page.waitForURL(/\/console\/invoices\//);
  assert.match(await page.locator("h1").innerText(), /^Invoice /);
  assert.ok(await page.getByText("Gold plan").count() > 0, "its lines");
  const frame = page.locator("iframe.pdf");
  const src = await frame.getAttribute("src");
  const pdf = await page.evaluate(async (u) => {
    const r = await fetch(u);
    const b = new Uint8Array(await r.arrayBuffer());
    return { type: r.headers.get("content-type"), head: String.fromCharCode(...b.slice(0, 5)) };
  }, src);
  assert.deepEqual(pdf, { type: "application/pdf", head: "%PDF-" });
  await accessible(page, "invoice");

  // Post, after the confirmation that states the consequence.
  await page.goto(runUrl);
  await page.getByRole("link", { name: "Post", exact: true }).click();
  assert.match(await page.getByTestId("consequence").innerText(), /^Posting locks 1 document:/);
  await accessible(page, "confirm post");
  await page.getByRole("button", { name: "Confirm: Post" }).click();
  await page.waitForURL(runUrl);
  assert.match(await status.innerText(), /Posted/);
  // Run changes reach the audit trail from the run's outbox, shortly after the change.
  const posted = page.getByTestId("audit").locator("tbody tr", { hasText: "run.posted" });
  await reloadUntil(page, async () => (await posted.count()) === 1, "the audit entry of the post");
  assert.match(await posted.innerText(), /alice/);
  // A posted run refuses a second post: disabled, with the reason.
  const disabled = page.getByRole("button", { name: "Post", exact: true });
  assert.equal(await disabled.isDisabled(), true);
  assert.match(await page.locator("#why-post").innerText(), /this run is Posted/);
  await accessible(page, "posted run");

  await page.getByRole("link", { name: "Runs", exact: true }).click();
  await page.getByLabel("Status").selectOption("Posted");
  await page.getByRole("button", { name: "Filter" }).click();
  assert.ok(await page.getByRole("link", { name: /^BR-/ }).count() === 1, "the posted run is listed");
  await accessible(page, "runs (filtered)");
  for (const path of ["/console/aging", "/console/webhooks"]) {
    await page.goto(base + path);
    await accessible(page, path);
  }
  await context.close();
});

test("a caller without billing:post is not offered Post, and a forged post is refused with 403", async () => {
  const { base, api } = server;
  // A completed run nobody posted.
  const run = await api("POST", "/v1/invoice-runs", { targetDate: "2024-03-01", name: "March" });
  const context = await chrome.browser.newContext();
  const page = await context.newPage();
  await signIn(page, base, "bob");
  const url = `${base}/console/runs/${run.id}`;
  await page.goto(url);
  await reloadUntil(page, async () => /Completed/.test(await page.getByTestId("run-status").innerText()), "the run to complete");
  assert.equal(await page.getByRole("link", { name: "Post", exact: true }).count(), 0);
  assert.equal(await page.getByRole("button", { name: "Post", exact: true }).count(), 0);
  assert.equal(await page.getByRole("link", { name: "Request PDFs" }).count(), 1, "billing:run actions are offered");
  await accessible(page, "run (without billing:post)");
  const confirm = await page.goto(`${url}/actions/post`);
  assert.equal(confirm.status(), 403);
  // Forged: this session's own CSRF token, from the console's own page.
  const csrf = await page.locator("input[name=csrf]").first().inputValue();
  const forged = await page.evaluate(async ([u, csrf]) => {
    const r = await fetch(u, { method: "POST", body: new URLSearchParams({ csrf }) });
    return r.status;
  }, [`${url}/actions/post`, csrf]);
  assert.equal(forged, 403);
  const after = await api("GET", `/v1/invoice-runs/${run.id}`);
  assert.match(after.status, /^Completed/, "not posted");
  await context.close();
});

test("a state change without the session's CSRF token, or from another origin, is refused", async () => {
  const { base, api } = server;
  const run = await api("POST", "/v1/invoice-runs", { targetDate: "2024-04-01", runType: "Manual" });
  const context = await chrome.browser.newContext();
  const page = await context.newPage();
  await signIn(page, base, "alice");
  const url = `${base}/console/runs/${run.id}/actions/cancel`;
  const csrf = await page.locator("input[name=csrf]").first().inputValue();
  const missing = await context.request.post(url, { form: {}, maxRedirects: 0 });
  assert.equal(missing.status(), 403);
  assert.match(await missing.text(), /CSRF/);
  const wrong = await context.request.post(url, { form: { csrf: (csrf[0] === "A" ? "B" : "A") + csrf.slice(1) }, maxRedirects: 0 });
  assert.equal(wrong.status(), 403);
  const foreign = await context.request.post(url, {
    form: { csrf }, headers: { origin: "http://evil.example" }, maxRedirects: 0,
  });
  assert.equal(foreign.status(), 403);
  const crossSite = await context.request.post(url, {
    form: { csrf }, headers: { "sec-fetch-site": "cross-site" }, maxRedirects: 0,
  });
  assert.equal(crossSite.status(), 403);
  assert.equal((await api("GET", `/v1/invoice-runs/${run.id}`)).status, "Pending", "nothing changed");
  // The same request from the console's page goes through.
  const ok = await context.request.post(url, { form: { csrf }, maxRedirects: 0 });
  assert.equal(ok.status(), 303);
  assert.equal((await api("GET", `/v1/invoice-runs/${run.id}`)).status, "Canceled");
  // Signed out, the session is gone.
  await page.goto(`${base}/console/runs`);
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL(`${base}/console/sign-in`);
  await context.close();
});

test("a Pending run is previewed, its diff read, then started", async () => {
  const { base, api } = server;
  const run = await api("POST", "/v1/invoice-runs", { targetDate: "2024-05-01", runType: "Manual", name: "May" });
  const context = await chrome.browser.newContext();
  const page = await context.newPage();
  await signIn(page, base, "alice");
  const url = `${base}/console/runs/${run.id}`;
  await page.goto(url);
  await page.getByRole("link", { name: "Preview", exact: true }).click();
  assert.match(await page.getByTestId("consequence").innerText(), /without numbering a document/);
  await page.getByRole("button", { name: "Confirm: Preview" }).click();
  await page.waitForURL((u) => u.href !== url && /\/console\/runs\/[0-9a-f-]{36}$/.test(u.href));
  const status = page.getByTestId("run-status");
  await reloadUntil(page, async () => /Completed/.test(await status.innerText()), "the preview to complete");
  assert.ok(await page.getByTestId("diff-totals").count() === 1, "the diff is shown");
  assert.equal(await page.getByRole("link", { name: "Post", exact: true }).count(), 0, "a preview is never posted");
  await accessible(page, "preview with its diff");
  await page.goto(url);
  await page.getByRole("link", { name: "Start", exact: true }).click();
  await page.getByRole("button", { name: "Confirm: Start" }).click();
  await page.waitForURL(url);
  await reloadUntil(page, async () => /Completed/.test(await status.innerText()), "the run to complete");
  await context.close();
});

test("a run schedule is listed with its next occurrence in its time zone, and paused after the confirmation", async () => {
  const { base, api } = server;
  const schedule = await api("PUT", "/v1/run-schedules/month-end", {
    runTemplate: { name: "Month end" },
    recurrence: { kind: "Monthly", dayOfMonth: 31, localTime: "02:30", timeZone: "Europe/Berlin" },
  });
  const context = await chrome.browser.newContext();
  const page = await context.newPage();
  await signIn(page, base, "alice");
  await page.getByRole("link", { name: "Schedules", exact: true }).click();
  await page.waitForURL(`${base}/console/schedules`);
  const row = page.getByTestId("schedules").locator("tbody tr", { hasText: "month-end" });
  assert.match(await row.innerText(), /Monthly on day 31 at 02:30/);
  assert.equal(await row.getByTestId("schedule-state").innerText(), "Enabled");
  assert.equal(await row.getByTestId("next-occurrence").innerText(),
    `${schedule.nextOccurrence.localDate} 02:30 Europe/Berlin`, "the next occurrence, in the schedule's own time zone");
  await accessible(page, "schedules");

  await row.getByRole("link", { name: "Pause", exact: true }).click();
  assert.match(await page.getByTestId("consequence").innerText(), /^Pausing stops the schedule from creating runs/);
  await accessible(page, "confirm pause");
  await page.getByRole("button", { name: "Confirm: Pause" }).click();
  await page.waitForURL(`${base}/console/schedules`);
  assert.equal(await row.getByTestId("schedule-state").innerText(), "Paused");
  assert.equal(await row.getByTestId("next-occurrence").innerText(), "none while paused");
  assert.equal(await row.getByRole("link", { name: "Resume", exact: true }).count(), 1, "a paused schedule offers Resume");
  assert.equal((await api("GET", "/v1/run-schedules/month-end")).enabled, false);
  await accessible(page, "schedules (paused)");
  await context.close();
});

test("the audit trail lists the schedule's pause with the signed-in name, and filters by actor", async () => {
  const { base } = server;
  const context = await chrome.browser.newContext();
  const page = await context.newPage();
  await signIn(page, base, "alice");
  await page.getByRole("link", { name: "Audit trail", exact: true }).click();
  await page.waitForURL(`${base}/console/audit`);
  const pause = page.getByTestId("audit").locator("tbody tr", { hasText: "runSchedule.updated" });
  assert.equal(await pause.count(), 1, "the pause of the previous test");
  assert.match(await pause.innerText(), /alice/);
  assert.match(await pause.innerText(), /runSchedule month-end/);
  // A run's entry links to the run's page.
  assert.ok(await page.getByTestId("audit").locator("a[href^='/console/runs/']").count() > 0, "run entries link to their run");
  await accessible(page, "audit trail");

  await page.getByLabel("Actor").fill("bob");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForURL(/actor=bob/);
  assert.equal(await pause.count(), 0, "bob did not pause it");
  await page.getByLabel("Actor").fill("alice");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForURL(/actor=alice/);
  assert.equal(await pause.count(), 1);
  const actors = await page.getByTestId("audit").locator("tbody tr td:nth-child(2)").allInnerTexts();
  assert.ok(actors.length > 0 && actors.every((a) => a === "alice"), `only alice's entries: ${actors}`);

  // A bad date is the API's error, at its field.
  await page.getByLabel("Since (UTC date)").fill("2024-02-31");
  await page.getByRole("button", { name: "Filter" }).click();
  assert.ok((await page.getByTestId("error-since").innerText()).length > 0, "an error at since");
  assert.equal(await page.getByLabel("Since (UTC date)").getAttribute("aria-invalid"), "true");
  await accessible(page, "audit trail with a field error");
  await context.close();
});
