// Creating and editing a run schedule from the console: the API's field error shown at
// its field (a day of month past 31), the created schedule in the list, an edit that
// changes its recurrence and keeps its run template, an id that exists refused at the
// id field; a caller without billing:admin is offered neither.
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

test("an admin creates a schedule (after a field error) and edits it", async () => {
  const { base, api } = server;
  const context = await chrome.browser.newContext();
  const page = await context.newPage();
  await signIn(page, base, "alice");
  await page.goto(`${base}/console/schedules`);
  await page.getByRole("link", { name: "New schedule" }).click();
  await page.waitForURL(`${base}/console/schedules/new`);
  await accessible(page, "new schedule");
  await page.getByLabel("Schedule id").fill("month-end");
  await page.getByLabel("Run name").fill("Month end");
  await page.getByLabel("Recurrence").selectOption("Monthly");
  await page.getByLabel("Day of month").fill("32");
  await page.getByLabel("Local time").fill("02:30");
  await page.getByLabel("Time zone").fill("Europe/Berlin");
  await page.getByRole("button", { name: "Save schedule" }).click();
  const error = page.getByTestId("error-recurrence.dayOfMonth");
  assert.ok((await error.innerText()).length > 0, "the API's error at the day of month");
  assert.equal(await page.getByLabel("Day of month").getAttribute("aria-invalid"), "true");
  assert.equal(await page.getByLabel("Local time").inputValue(), "02:30", "the form keeps what was typed");
  await accessible(page, "new schedule with a field error");

  await page.getByLabel("Day of month").fill("31");
  await page.getByRole("button", { name: "Save schedule" }).click();
  await page.waitForURL(`${base}/console/schedules`);
  const row = page.getByTestId("schedules").locator("tbody tr", { hasText: "month-end" });
  assert.match(await row.innerText(), /Monthly on day 31 at 02:30/);
  assert.match(await row.innerText(), /Europe\/Berlin/);
  assert.match(await row.getByTestId("schedule-state").innerText(), /Enabled/);
  await accessible(page, "schedules with the new one");

  // Its run template keeps what the form does not show.
  await api("PUT", "/v1/run-schedules/month-end", {
    ...(await api("GET", "/v1/run-schedules/month-end")),
    id: undefined, createdAt: undefined, updatedAt: undefined, nextOccurrence: undefined, lastOccurrence: undefined,
    runTemplate: { name: "Month end", filters: { batches: ["Batch1"] } },
  });
  await page.reload();
  await row.getByRole("link", { name: "Edit month-end" }).click();
  await page.waitForURL(`${base}/console/schedules/month-end/edit`);
  assert.equal(await page.getByLabel("Day of month").inputValue(), "31");
  await accessible(page, "edit schedule");
  await page.getByLabel("Recurrence").selectOption("Weekly");
  await page.getByLabel("Weekday").selectOption("Monday");
  await page.getByRole("button", { name: "Save schedule" }).click();
  await page.waitForURL(`${base}/console/schedules`);
  assert.match(await row.innerText(), /Weekly on Monday at 02:30/);
  const saved = await api("GET", "/v1/run-schedules/month-end");
  assert.deepEqual(saved.runTemplate.filters.batches, ["Batch1"], "the template's filters are kept");
  assert.equal(saved.runTemplate.name, "Month end");

  // A new schedule with an id that exists is refused at the id.
  await page.goto(`${base}/console/schedules/new`);
  await page.getByLabel("Schedule id").fill("month-end");
  await page.getByRole("button", { name: "Save schedule" }).click();
  assert.match(await page.getByTestId("error-id").innerText(), /exists/);
  assert.equal((await api("GET", "/v1/run-schedules/month-end")).recurrence.kind, "Weekly", "nothing replaced");
  await context.close();
});

test("a caller without billing:admin is offered no new or edit", async () => {
  const { base } = server;
  const context = await chrome.browser.newContext();
  const page = await context.newPage();
  await signIn(page, base, "bob");
  await page.goto(`${base}/console/schedules`);
  assert.equal(await page.getByRole("link", { name: "New schedule" }).count(), 0);
  assert.equal(await page.getByRole("link", { name: /^Edit/ }).count(), 0);
  assert.equal((await page.goto(`${base}/console/schedules/new`)).status(), 403);
  assert.equal((await page.goto(`${base}/console/schedules/month-end/edit`)).status(), 403);
  await context.close();
});
