// Regenerates the console's screenshots in docs/console/ (docs/console.md shows them):
//   cargo build -p billrun-local && ./infra/local/with-chromium.sh node tests/console/screenshots.mjs
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createServer } from "node:http";
import { startServer, launch, signIn, reloadUntil, repo } from "./harness.mjs";

const out = join(repo, "docs", "console");
mkdirSync(out, { recursive: true });
// A webhook receiver that is down (500), for the endpoint page's failed delivery.
const receiver = createServer((req, res) => {
  req.resume();
  req.on("end", () => { res.writeHead(500); res.end("receiver down"); });
});
await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
const server = await startServer(["--allow-loopback-webhooks"]);
const chrome = await launch();
try {
  const { base } = server;
  await server.api("PUT", "/v1/webhook-endpoints/ledger", {
    url: `http://127.0.0.1:${receiver.address().port}/hook`, events: ["run.created", "run.posted"], description: "ledger sync",
  });
  const context = await chrome.browser.newContext({ viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
  const shot = (name) => page.screenshot({ path: join(out, `${name}.png`), fullPage: true });
  await page.goto(`${base}/console/sign-in`);
  await shot("sign-in");
  await signIn(page, base, "alice");
  await page.goto(`${base}/console/runs/new`);
  await page.getByLabel("Name").fill("February");
  await page.getByLabel("Target date").fill("2024-02-31");
  await page.getByRole("button", { name: "Create run" }).click();
  await shot("new-run-field-error");
  await page.getByLabel("Target date").fill("2024-02-01");
  await page.getByRole("button", { name: "Create run" }).click();
  await page.waitForURL(/\/console\/runs\/[0-9a-f-]{36}$/);
  const runUrl = page.url();
  const status = page.getByTestId("run-status");
  await reloadUntil(page, async () => /Completed/.test(await status.innerText()), "the run");
  await page.getByRole("link", { name: "Request PDFs" }).click();
  await page.getByRole("button", { name: "Confirm: Request PDFs" }).click();
  await page.waitForURL(runUrl);
  const docRow = page.locator("table", { hasText: "Documents in numbering order" }).locator("tbody tr").first();
  await reloadUntil(page, async () => (await docRow.innerText()).includes("Generated"), "the PDF");
  await shot("run");
  await page.getByRole("link", { name: "Post", exact: true }).click();
  await shot("confirm-post");
  await page.getByRole("button", { name: "Confirm: Post" }).click();
  await page.waitForURL(runUrl);
  await docRow.getByRole("link").click();
  await page.waitForURL(/\/console\/invoices\//);
  await page.waitForTimeout(1000);
  await shot("invoice");
  await server.api("POST", "/v1/invoice-runs", { targetDate: "2024-03-01", runType: "Manual", name: "March" });
  await page.goto(`${base}/console/runs`);
  await shot("runs");
  await server.api("PUT", "/v1/run-schedules/month-end", {
    runTemplate: { name: "Month end" },
    recurrence: { kind: "Monthly", dayOfMonth: 31, localTime: "02:30", timeZone: "Europe/Berlin" },
  });
  await server.api("PUT", "/v1/run-schedules/weekly-usage", {
    runTemplate: { name: "Weekly usage" },
    recurrence: { kind: "Weekly", weekday: "Monday", localTime: "06:00", timeZone: "America/New_York" },
    enabled: false,
  });
  await page.goto(`${base}/console/schedules`);
  await shot("schedules");
  await page.getByRole("link", { name: "New schedule" }).click();
  await page.getByLabel("Schedule id").fill("quarter-end");
  await page.getByLabel("Day of month").fill("32");
  await page.getByLabel("Time zone").fill("Europe/Berlin");
  await page.getByRole("button", { name: "Save schedule" }).click();
  await shot("new-schedule-field-error");
  await page.goto(`${base}/console/audit`);
  await shot("audit");
  await page.goto(`${base}/console/webhooks/ledger`);
  await shot("webhook-endpoint");
  const docs = await server.api("GET", `/v1/invoice-runs/${runUrl.split("/").pop()}/invoices`);
  const invoice = docs.items.find((d) => d.kind === "Invoice");
  await server.api("POST", `/v1/invoices/${invoice.id}/void`, {});
  await page.goto(`${base}/console/invoices/${invoice.id}/rebill`);
  await shot("confirm-rebill");
  // The time-zone page, as a browser in New York sees it.
  const ny = await chrome.browser.newContext({ viewport: { width: 1200, height: 700 }, timezoneId: "America/New_York" });
  const nyPage = await ny.newPage();
  await signIn(nyPage, base, "alice");
  await nyPage.goto(`${base}/console/time-zone`);
  await nyPage.screenshot({ path: join(out, "time-zone.png"), fullPage: true });
  await server.api("PUT", "/v1/document-templates/letterhead", {
    name: "Letterhead with logo",
    content: {
      companyName: "Northwind Analytics, Inc.",
      address: { line1: "500 Market Street, Suite 1200", city: "San Francisco, CA", postalCode: "94105", country: "United States" },
      taxId: "EIN 94-3187452", accentColor: "#1F4E79", locale: "en-US",
      footer: "Thank you for your business.",
      logoPngBase64: readFileSync(join(repo, "shared", "documents", "assets", "demo-logo.png")).toString("base64"),
    },
  });
  await page.goto(`${base}/console/templates`);
  await shot("templates");
  await page.goto(`${base}/console/templates/letterhead`);
  // The documents worker renders the sample after the put: until then the page says so.
  for (let i = 0; i < 50 && (await page.locator("iframe.pdf").count()) === 0; i++) {
    await page.waitForTimeout(200);
    await page.reload();
  }
  await page.waitForTimeout(1000);
  await shot("template");
  await page.goto(`${base}/console/templates/letterhead/actions/render-sample`);
  await shot("template-render-sample");
  await page.goto(`${base}/console/templates/new`);
  await page.getByLabel("Template id").fill("plain");
  await page.getByLabel("Name", { exact: true }).fill("Plain");
  await page.getByLabel("Content").fill(JSON.stringify({ companyName: "Plain Co", accentColor: "blue" }, null, 2));
  await page.getByRole("button", { name: "Save template" }).click();
  await shot("new-template-content-error");
  // Dated ahead, so that serve's scheduler leaves its items pending.
  await server.api("PUT", "/v1/invoice-schedules/IS-2030", {
    id: "IS-2030", accountId: "A-1001", subscriptionIds: ["S-1"],
    items: [
      { id: "Q1", invoiceDate: "2030-01-15", amount: "3750.00" },
      { id: "Q2", invoiceDate: "2030-04-15", amount: "3750.00" },
      { id: "Q3", invoiceDate: "2030-07-15", amount: "3750.00" },
      { id: "Q4", invoiceDate: "2030-10-15", amount: "3750.00" },
    ],
  });
  await page.goto(`${base}/console/invoice-schedules/IS-2030`);
  await shot("invoice-schedule");
  await page.goto(`${base}/console/invoice-schedules/IS-2030/edit`);
  await page.getByLabel("Amount (item 2)", { exact: true }).fill("3750.005");
  await page.getByRole("button", { name: "Save schedule" }).click();
  await shot("edit-invoice-schedule-amount-error");
  await page.goto(`${base}/console/invoice-schedules/IS-2030`);
  await page.getByRole("link", { name: "Execute item Q1" }).click();
  await shot("confirm-execute");
  console.log(`screenshots in ${out}`);
} finally {
  await chrome.close();
  server.stop();
  receiver.close();
}
