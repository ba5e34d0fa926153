// What the console's browser tests and the screenshot command share: a `billrun-local
// serve --ephemeral` with two named tokens and a small book (one account fails with a
// reason), Debian's chromium through playwright-core, and axe-core.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, writeFileSync, readFileSync, existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const repo = join(here, "..", "..");

/// Every scope, everything but billing:post, and billing:read alone.
export const TOKENS = {
  alice: { token: "alice-token", scopes: ["billing:read", "billing:run", "billing:post", "billing:admin"] },
  bob: { token: "bob-token", scopes: ["billing:read", "billing:run"] },
  carol: { token: "carol-token", scopes: ["billing:read"] },
};

/// Two accounts: A-1001 bills; A-1002 has a charge in another currency and fails with
/// a reason.
const BOOK = {
  accounts: [
    {
      id: "A-1001", name: "Acme Aviation", currency: "USD", billCycleDay: 1, batch: "Batch1",
      paymentTermDays: 30, paymentTermName: "Net 30", taxRate: "0.0825",
      billTo: { name: "Acme AP", line1: "1 Main St", city: "Austin", postalCode: "78701", country: "US" },
      shipTo: null, locationId: "LOC-AUS",
    },
    {
      id: "A-1002", name: "Borealis Bakery", currency: "USD", billCycleDay: 1, batch: "Batch1",
      paymentTermDays: 30, paymentTermName: "Net 30", taxRate: "0",
      billTo: { name: "Borealis AP", line1: "2 Side St", city: "Austin", postalCode: "78702", country: "US" },
      shipTo: null, locationId: "LOC-AUS",
    },
  ],
  subscriptions: [
    {
      id: "S-1", accountId: "A-1001", productId: "P-GOLD", productName: "Gold plan", locationId: "LOC-AUS",
      startDate: "2024-01-15", endDate: null, cancellationDate: null,
      charges: [
        { id: "C-1", type: "Recurring", price: "1250.00", quantity: "1", billingPeriod: "Month", timing: "InAdvance" },
        { id: "C-2", type: "OneTime", price: "50.00", quantity: "1", chargeDate: "2024-01-15" },
      ],
    },
    {
      id: "S-2", accountId: "A-1002", productId: "P-GOLD", productName: "Gold plan", locationId: "LOC-AUS",
      startDate: "2024-01-15", endDate: null, cancellationDate: null,
      charges: [
        { id: "C-9", type: "Recurring", price: "100.00", quantity: "1", billingPeriod: "Month", timing: "InAdvance", currency: "EUR" },
      ],
    },
  ],
  usage: [],
  adjustments: [],
  invoiceSchedules: [],
};

const TEMPLATE = {
  name: "Default",
  content: {
    companyName: "Northwind Analytics, Inc.",
    address: { line1: "500 Market Street", city: "San Francisco, CA", postalCode: "94105", country: "United States" },
    taxId: "EIN 94-3187452", accentColor: "#1F4E79", footer: "Thank you for your business.", locale: "en-US",
  },
};

/// The billrun-local binary the cargo tests built (BILLRUN_LOCAL overrides).
function binary() {
  if (process.env.BILLRUN_LOCAL) return process.env.BILLRUN_LOCAL;
  const target = process.env.CARGO_TARGET_DIR || join(repo, "target");
  const bin = join(target, "debug", "billrun-local");
  if (!existsSync(bin)) throw new Error(`${bin} is missing: build it (cargo build -p billrun-local) or set BILLRUN_LOCAL`);
  return bin;
}

/// Starts serve (with `args` added to its command line); resolves with { base, stop }.
export async function startServer(args = []) {
  const dir = mkdtempSync(join(tmpdir(), "billrun-console-"));
  const tokens = Object.entries(TOKENS).map(([name, t]) => ({
    name, scopes: t.scopes, sha256: createHash("sha256").update(t.token).digest("hex"),
  }));
  const file = join(dir, "tokens.json");
  writeFileSync(file, JSON.stringify({ tokens }));
  const child = spawn(binary(), ["serve", "--ephemeral", "--port", "0", "--tokens", file, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const base = await new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${stderr}`)), 30000);
    child.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/billrun API on (http:\/\/[0-9.:]+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.on("exit", (code) => { clearTimeout(timer); reject(new Error(`serve exited ${code}: ${stderr}`)); });
  });
  const api = async (method, path, body) => {
    const res = await fetch(base + path, {
      method,
      headers: { authorization: `Bearer ${TOKENS.alice.token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
  await api("POST", "/v1/import", BOOK);
  await api("PUT", "/v1/document-templates/default", TEMPLATE);
  await api("POST", "/v1/document-templates/default/activate");
  const stop = () => { child.kill("SIGTERM"); rmSync(dir, { recursive: true, force: true }); };
  return { base, api, stop };
}

/// Debian's chromium, headless, with a fresh profile: `launch` makes a new empty
/// user-data-dir itself (and refuses a `--user-data-dir` argument). Playwright's own
/// browser is not downloaded.
export async function launch() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  return { browser, close: () => browser.close() };
}

const AXE = readFileSync(join(here, "node_modules", "axe-core", "axe.min.js"), "utf8");

/// The serious and critical axe-core violations of the page as it is now.
export async function axeViolations(page) {
  await page.addScriptTag({ content: AXE });
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

export async function signIn(page, base, who) {
  await page.goto(`${base}/console/sign-in`);
  await page.getByLabel("API token").fill(TOKENS[who].token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${base}/console/runs`);
}

/// Reloads the page until `done()` holds (a run moving on, a PDF being made).
export async function reloadUntil(page, done, what, ms = 60000) {
  const until = Date.now() + ms;
  for (;;) {
    if (await done()) return;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
    await page.reload();
  }
}
