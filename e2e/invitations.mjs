// Issue 15's invitation lifecycle in Chromium, at a laptop's size (1366×900) and a phone's
// (390×844), in a browser set to Berlin's time: Create on its own page with the expiry
// typed in the browser's zone, the row shown with its link and the time back in that zone
// (UTC on hover), the admin's preview (nothing counted), the funnel counting the invitee's
// visit, revoke and the refused link, and a CSV upload with its per-row results. axe-core
// runs on every page visited: 0 violations. No page scrolls sideways or logs a console error.
//
// Usage: node invitations.mjs BASE_URL USERNAME PASSWORD SCREENSHOT_DIR

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { axe } from "./axe.mjs";

const [base, username, password, shots] = process.argv.slice(2);
if (!shots) {
  console.error("usage: node invitations.mjs BASE_URL USERNAME PASSWORD SCREENSHOT_DIR");
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const problems = [];
const check = (ok, what) => {
  if (!ok) throw new Error(`not so: ${what}`);
};
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
});

async function context(width, height) {
  const ctx = await browser.newContext({ viewport: { width, height }, timezoneId: "Europe/Berlin", locale: "en-GB" });
  return ctx;
}

async function watched(ctx) {
  const page = await ctx.newPage();
  page.on("console", (msg) => {
    if (msg.type() === "error") problems.push(`console error on ${page.url()}: ${msg.text()}`);
  });
  return page;
}

// Every page this test stands on: axe, no sideways scrolling, a screenshot.
async function visit(page, name, width) {
  await axe(page, `${name} at ${width}px`, problems);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 1) problems.push(`${name} at ${width}px scrolls sideways by ${overflow}px`);
  await page.screenshot({ path: join(shots, `invitations-${width}-${name}.png`), fullPage: true });
}

try {
  for (const [width, height] of [[1366, 900], [390, 844]]) {
    const admin = await context(width, height);
    const page = await watched(admin);
    await page.goto(`${base}/if/admin/`);
    await visit(page, "sign-in", width);
    await page.getByLabel(/username/i).fill(username);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByLabel("Password").fill(password);
    await visit(page, "password", width);
    await page.getByRole("button", { name: "Continue" }).click();
    await page.waitForURL(`${base}/if/admin/invitations/`);
    await visit(page, "list", width);

    // Create, on a page of its own; the expiry typed in Berlin's time (UTC+1 in winter).
    const name = `walk-${width}`;
    await page.getByRole("link", { name: "Create an invitation" }).click();
    await page.waitForURL(`${base}/if/admin/invitations/new/`);
    const expiryLabel = await page.locator('label[for="field-expires"]').textContent();
    check(expiryLabel.includes("Europe/Berlin"), `the expiry's label names the browser's zone: ${expiryLabel}`);
    await visit(page, "create", width);
    await page.getByLabel("Name", { exact: true }).fill(name);
    await page.getByLabel(/^Expires/).fill("2031-01-02T10:00");
    await page.getByLabel("Flow", { exact: true }).selectOption({ label: "Default enrollment Flow (default-enrollment-flow)" });
    await page.getByLabel("Custom attributes").fill(`email: ${name}@example.com`);
    await page.getByRole("button", { name: "Create" }).click();
    const row = page.locator("details.row[open]");
    await row.waitFor();
    check((await row.locator(".name").textContent()) === name, "the new invitation's row is open");
    const said = await row.locator(".alert").first().textContent();
    check(said.includes(`Created invitation ${name}.`), `the row says it was created: ${said}`);
    const expiry = row.locator("summary time");
    check((await expiry.getAttribute("datetime")) === "2031-01-02T09:00:00Z", "stored in UTC: 09:00");
    check((await expiry.getAttribute("title")) === "2031-01-02 09:00:00 UTC", "UTC on hover");
    const shown = await expiry.textContent();
    check(shown.includes("10:00") && shown.includes("2031"), `shown in Berlin's time: ${shown}`);
    await visit(page, "created", width);
    const link = await row.locator("input.invitation-link").inputValue();
    const pk = new URL(link).searchParams.get("itoken");

    // Preview: the flow as the invitee sees it, and nothing counted.
    await row.getByRole("link", { name: "Preview as the invitee" }).click();
    await page.locator("#preview-banner").waitFor();
    await visit(page, "preview", width);
    const rowUrl = `${base}/if/admin/invitations/?status=all&opened=${pk}#invitation-${pk}`;
    await page.goto(rowUrl);
    const before = await page.locator(`#invitation-${pk} p.funnel`).textContent();
    check(before.includes("0 opened"), `the preview is not counted: ${before}`);

    // The invitee opens the link: the funnel counts it.
    const invitee = await context(width, height);
    const inviteePage = await watched(invitee);
    await inviteePage.goto(link);
    await visit(inviteePage, "invitee-flow", width);
    // (The same address with its #fragment would only scroll: reload it.)
    await page.reload();
    const after = await page.locator(`#invitation-${pk} p.funnel`).textContent();
    check(after.includes("1 opened"), `the invitee's visit is counted: ${after}`);
    await visit(page, "funnel", width);

    // Revoke: the row says so, and the link is refused with its reason.
    await page.locator(`#invitation-${pk}`).getByRole("button", { name: "Revoke" }).click();
    await page.locator(`#invitation-${pk} .status-revoked`).waitFor();
    const revoked = await page.locator(`#invitation-${pk} .alert`).first().textContent();
    check(revoked.includes("Revoked"), `the row says it was revoked: ${revoked}`);
    await visit(page, "revoked", width);
    const late = await watched(await context(width, height));
    await late.goto(link);
    const reason = await late.locator("#denied-reason").textContent();
    check(reason.includes("This invitation has been withdrawn."), `a revoked link is refused with its reason: ${reason}`);
    await visit(late, "refused", width);

    // A CSV file, uploaded on the import page: a result per row.
    await page.goto(`${base}/if/admin/invitations/`);
    await page.getByRole("link", { name: "Import from a CSV file" }).first().click();
    await page.waitForURL(`${base}/if/admin/invitations/import/`);
    await visit(page, "import", width);
    await page.getByLabel("CSV file").setInputFiles({
      name: "people.csv",
      mimeType: "text/csv",
      buffer: Buffer.from(`email,team\nann-${width}@example.com,blue\nbob-${width}@example.com,green\nnot-an-address,red\n`),
    });
    await page.getByRole("button", { name: "Import" }).click();
    const summary = await page.locator("#import-summary").textContent({ timeout: 10000 }).catch(async (e) => {
      throw new Error(`${e.message}\n${await page.locator("main").innerText().catch(() => page.content())}`);
    });
    check(summary.includes("2 of 3 rows created, 1 with errors"), `the import says what it made: ${summary}`);
    check((await page.locator("tr.import-created").count()) === 2, "two rows created");
    check((await page.locator("tr.import-invalid").count()) === 1, "one row refused");
    await visit(page, "imported", width);
    await admin.close();
  }
  if (problems.length > 0) throw new Error(problems.join("\n"));
  console.log("invitations passed");
} catch (error) {
  console.error(`invitations failed: ${error.stack ?? error}`);
  if (problems.length) console.error(problems.join("\n"));
  process.exitCode = 1;
} finally {
  await browser.close();
}
