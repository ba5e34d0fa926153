// Times in the visitor's time zone: the console's script tells it the browser's zone
// (Playwright's timezoneId), times then read in that zone with its abbreviation and
// the exact UTC instant on hover; the time-zone page changes it (a name the tzdb does
// not have is refused at its field); without JavaScript, times are in UTC.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launch, axeViolations, signIn, reloadUntil } from "./harness.mjs";

let server, chrome;
before(async () => {
  server = await startServer();
  chrome = await launch();
  await server.api("POST", "/v1/invoice-runs", { targetDate: "2024-02-01", runType: "Manual", name: "Zones" });
});
after(async () => {
  await chrome?.close();
  server?.stop();
});

async function accessible(page, what) {
  assert.deepEqual(await axeViolations(page), [], `axe-core on ${what}`);
}

/// How `iso` reads in `timeZone`: "YYYY-MM-DD HH:MM ABBR", computed here by the
/// platform's Intl, not by the console.
function local(iso, timeZone) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-US", {
      timeZone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
      hourCycle: "h23", timeZoneName: "short",
    }).formatToParts(new Date(iso)).map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute} ${parts.timeZoneName}`;
}

const utcTitle = (iso) => `${new Date(iso).toISOString().slice(0, 19).replace("T", " ")} UTC`;

test("times read in the browser's time zone, with the UTC instant on hover", async () => {
  const { base } = server;
  const context = await chrome.browser.newContext({ timezoneId: "America/New_York" });
  const page = await context.newPage();
  await signIn(page, base, "alice");
  const zone = page.getByTestId("time-zone");
  await reloadUntil(page, async () => (await zone.innerText()) === "Times in America/New_York", "the browser's zone");
  const time = page.locator("main table time").first();
  const iso = await time.getAttribute("datetime");
  assert.equal(await time.innerText(), local(iso, "America/New_York"));
  assert.match(await time.innerText(), / E[SD]T$/);
  assert.equal(await time.getAttribute("title"), utcTitle(iso));
  await accessible(page, "runs in New York time");

  // Another zone, chosen on the time-zone page.
  await zone.click();
  await page.waitForURL(`${base}/console/time-zone`);
  assert.equal(await page.getByTestId("zone").innerText(), "America/New_York");
  await accessible(page, "time zone");
  await page.getByLabel("Time zone").fill("Mars/Olympus_Mons");
  await page.getByRole("button", { name: "Save" }).click();
  assert.match(await page.getByTestId("error-zone").innerText(), /not a time zone/);
  assert.equal(await page.getByLabel("Time zone").getAttribute("aria-invalid"), "true");
  await accessible(page, "time zone with a field error");
  await page.getByLabel("Time zone").fill("Asia/Kolkata");
  await page.getByRole("button", { name: "Save" }).click();
  await page.waitForURL(`${base}/console/time-zone?saved`);
  assert.equal(await page.getByTestId("zone").innerText(), "Asia/Kolkata");
  await page.goto(`${base}/console/runs`);
  const there = page.locator("main table time").first();
  // en-US names India's zone "GMT+5:30"; the tzdb, which the console reads, "IST".
  const minutes = local(await there.getAttribute("datetime"), "Asia/Kolkata").slice(0, 16);
  assert.equal(await there.innerText(), `${minutes} IST`);
  await context.close();
});

test("without JavaScript, times are in UTC", async () => {
  const { base } = server;
  const context = await chrome.browser.newContext({ timezoneId: "America/New_York", javaScriptEnabled: false });
  const page = await context.newPage();
  await signIn(page, base, "alice");
  assert.equal(await page.getByTestId("time-zone").innerText(), "Times in UTC");
  const time = page.locator("main table time").first();
  const iso = await time.getAttribute("datetime");
  assert.equal(await time.innerText(), `${utcTitle(iso).slice(0, 16)} UTC`);
  assert.equal(await time.getAttribute("title"), utcTitle(iso));
  await context.close();
});
