// The seed's walkthrough in a real browser (Debian's Chromium, driven by playwright-core):
// the administrator logs in, imports authentik's 2-stage enrollment blueprint through
// Flows -> Import, creates an invitation with custom attributes, expands its row and reads
// the link; a fresh browser opens the link, finds the fixed data filled in, enrolls and
// lands on the user page; the link then refuses a second use with its reason. Then the
// same enrollment with JavaScript turned off and the keyboard only, the administrator
// logs out, and no page logged a console error. axe-core checks every page a screenshot
// is taken of (with JavaScript on: axe runs in the page).
//
// Usage: node walkthrough.mjs BASE_URL USERNAME PASSWORD BLUEPRINT SCREENSHOT_DIR
// Prints `figures {...}` (page weight, first paint) and exits non-zero on any failure.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { axe } from "./axe.mjs";

const [base, username, password, blueprint, shots] = process.argv.slice(2);
if (!shots) {
  console.error("usage: node walkthrough.mjs BASE_URL USERNAME PASSWORD BLUEPRINT SCREENSHOT_DIR");
  process.exit(2);
}
mkdirSync(shots, { recursive: true });

const problems = [];
function check(condition, message) {
  if (!condition) throw new Error(message);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});

let step = 0;
const withoutScript = new WeakSet();
async function shot(page, name) {
  step += 1;
  if (!withoutScript.has(page.context())) await axe(page, name, problems);
  await page.screenshot({ path: join(shots, `${String(step).padStart(2, "0")}-${name}.png`), fullPage: true });
}

/// A browser context whose pages report console errors and uncaught exceptions.
async function context(options = {}) {
  const ctx = await browser.newContext(options);
  if (options.javaScriptEnabled === false) withoutScript.add(ctx);
  ctx.on("page", (page) => watch(page));
  return ctx;
}
function watch(page) {
  page.on("console", (msg) => {
    if (msg.type() === "error") problems.push(`console error on ${page.url()}: ${msg.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`exception on ${page.url()}: ${error.message}`));
}

/// A cold load of `url` in a new browser context (cookies from `storageState`, empty cache):
/// bytes transferred, requests made, and when the page first rendered.
async function weigh(url, storageState) {
  const ctx = await context(storageState ? { storageState } : {});
  const page = await ctx.newPage();
  const requests = [];
  page.on("requestfinished", (request) => requests.push(request));
  await page.goto(url, { waitUntil: "load" });
  let bytes = 0;
  for (const request of requests) {
    const sizes = await request.sizes();
    bytes += sizes.responseBodySize + sizes.responseHeadersSize;
  }
  const timing = await page.evaluate(
    () =>
      new Promise((resolve) => {
        const nav = performance.getEntriesByType("navigation")[0];
        const done = (paint) =>
          resolve({ first_contentful_paint_ms: paint, dom_content_loaded_ms: Math.round(nav.domContentLoadedEventEnd) });
        new PerformanceObserver((list) => {
          const fcp = list.getEntriesByName("first-contentful-paint")[0];
          if (fcp) done(Math.round(fcp.startTime));
        }).observe({ type: "paint", buffered: true });
        setTimeout(() => done(null), 1000);
      }),
  );
  await ctx.close();
  return { kb: Math.round((bytes / 1024) * 10) / 10, requests: requests.length, ...timing };
}

/// Tabs to the next control and checks it is `id`: the order a keyboard user meets.
async function tabTo(page, id) {
  await page.keyboard.press("Tab");
  const focused = await page.evaluate(() => document.activeElement?.id);
  check(focused === id, `Tab reaches #${id} (focus is on #${focused})`);
}

/// Enrolls `who` through the invitation `link`. With `keyboard`, only the keyboard is
/// used: Tab between fields, typing, Enter to submit.
async function enroll(page, link, who, label, keyboard = false) {
  await page.goto(link);
  const password = "Corr3ct-horse-battery";
  if (keyboard) {
    await tabTo(page, "field-username");
    await page.keyboard.type(who);
    await tabTo(page, "field-password");
    await page.keyboard.type(password);
    await tabTo(page, "field-password_repeat");
    await page.keyboard.type(password);
    await shot(page, `${label}-first-prompt`);
    await Promise.all([page.waitForNavigation(), page.keyboard.press("Enter")]);
  } else {
    // Labels end with a required marker (`*`).
    await page.getByLabel(/^Username/).fill(who);
    await page.getByLabel(/^Password(?! \()/).fill(password);
    await page.getByLabel(/^Password \(repeat\)/).fill(password);
    await shot(page, `${label}-first-prompt`);
    await page.getByRole("button", { name: "Continue" }).click();
  }
  const email = page.getByLabel(/Email/);
  check((await email.inputValue()) === `${who}@example.com`, `the invitation's email is filled in (${await email.inputValue()})`);
  check(await email.evaluate((el) => el.readOnly), "the invitation's email is read-only");
  if (keyboard) {
    await tabTo(page, "field-name");
    await page.keyboard.type(`${who} Doe`);
    await shot(page, `${label}-second-prompt`);
    await Promise.all([page.waitForNavigation(), page.keyboard.press("Enter")]);
  } else {
    await page.getByLabel(/^Name/).fill(`${who} Doe`);
    await shot(page, `${label}-second-prompt`);
    await page.getByRole("button", { name: "Continue" }).click();
  }
  await page.waitForURL(`${base}/if/user/`);
  check((await page.locator("#profile-username").textContent()) === who, "the user page names the new account");
  check((await page.locator("#profile-email").textContent()) === `${who}@example.com`, "with the invitation's email");
  await shot(page, `${label}-user-page`);
}

async function createInvitation(page, name, email) {
  await page.getByRole("link", { name: "Invitations" }).click();
  await page.getByRole("link", { name: "Create an invitation" }).click();
  await page.getByLabel("Name", { exact: true }).fill(name);
  await page.getByLabel("Flow", { exact: true }).selectOption({ label: "Default enrollment Flow (default-enrollment-flow)" });
  await page.getByLabel("Custom attributes").fill(`email: ${email}`);
  check(await page.getByLabel("Single use").isChecked(), "single use is on by default");
  await page.getByRole("button", { name: "Create" }).click();
  // The new invitation's row is open: its link is there to copy.
  const row = page.locator("details.row[open]");
  await row.waitFor();
  check((await row.locator(".name").textContent()) === name, "the created invitation's row is expanded");
  const link = await row.locator("input.invitation-link").inputValue();
  check(link.startsWith(`${base}/if/flow/default-enrollment-flow/?itoken=`), `the link is the flow page with the token: ${link}`);
  return link;
}

const figures = {};
try {
  // 1. The administrator logs in through the default authentication flow.
  const admin = await context();
  const adminPage = await admin.newPage();
  await adminPage.goto(`${base}/if/admin/`);
  await adminPage.getByLabel(/username/i).fill(username);
  await shot(adminPage, "login-identification");
  await adminPage.getByRole("button", { name: "Log in" }).click();
  await adminPage.getByLabel("Password").fill(password);
  await adminPage.getByRole("button", { name: "Continue" }).click();
  await adminPage.waitForURL(`${base}/if/admin/invitations/`);
  await shot(adminPage, "admin-landing");

  // 2. Flows -> Import: authentik's own blueprint, unchanged.
  await adminPage.getByRole("link", { name: "Flows", exact: true }).click();
  await adminPage.getByLabel("Blueprint file").setInputFiles(blueprint);
  await adminPage.getByRole("button", { name: "Import" }).click();
  const result = await adminPage.locator("#import-result").textContent();
  check(result.includes("Successfully imported"), `the import succeeded: ${result}`);
  check(await adminPage.getByRole("cell", { name: "default-enrollment-flow" }).isVisible(), "the flow is listed");
  await shot(adminPage, "flows-imported");

  // 3. Directory -> Invitations -> Create an invitation, with custom attributes; the row expands.
  const link = await createInvitation(adminPage, "jane", "jane@example.com");
  await adminPage.getByRole("button", { name: "Copy" }).first().click();
  await shot(adminPage, "invitation-created");
  figures.invitations_page = await weigh(`${base}/if/admin/invitations/`, await admin.storageState());

  // 4. The invitee, in a browser of their own, opens the link and enrolls.
  const invitee = await context();
  const inviteePage = await invitee.newPage();
  // (Opening the link consumes nothing, so measuring it first changes nothing.)
  figures.flow_page = await weigh(link);
  await enroll(inviteePage, link, "jane", "invitee");

  // 5. The link, used, refuses a second use with its reason.
  const late = await context();
  const latePage = await late.newPage();
  await latePage.goto(link);
  const reason = await latePage.locator("#denied-reason").textContent();
  check(reason === "This invitation has already been used.", `the second use is refused with its reason: ${reason}`);
  await shot(latePage, "second-use-refused");

  // 6. The same enrollment with JavaScript turned off, with the keyboard only.
  const secondLink = await createInvitation(adminPage, "john", "john@example.com");
  const noScript = await context({ javaScriptEnabled: false });
  await enroll(await noScript.newPage(), secondLink, "john", "no-javascript-keyboard", true);

  // 7. The administrator logs out.
  await adminPage.getByRole("link", { name: "Log out" }).click();
  await adminPage.goto(`${base}/if/admin/`);
  check(adminPage.url().includes("/if/flow/default-authentication-flow/"), `logged out: ${adminPage.url()}`);

  // 8. Every page was free of console errors (CSP violations included).
  check(problems.length === 0, `console errors or accessibility violations:\n${problems.join("\n")}`);
  console.log(`figures ${JSON.stringify(figures)}`);
  console.log("walkthrough passed");
} catch (error) {
  console.error(`walkthrough failed: ${error.message}`);
  if (problems.length) console.error(problems.join("\n"));
  process.exitCode = 1;
} finally {
  await browser.close();
}
