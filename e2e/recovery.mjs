// Password recovery in a real browser (Debian's Chromium, driven by playwright-core): on
// the sign-in page "Forgot password?", the address, "check your inbox"; the link from the
// message the SMTP server received, opened in a second browser; the new password twice;
// signed in on the user page; then a fresh browser signs in with the new password, and
// the old one fails. No page may log a console error, and axe-core finds no accessibility
// violation on any page a screenshot is taken of.
//
// Usage: node recovery.mjs BASE_URL MAIL_DIR USERNAME EMAIL OLD_PASSWORD NEW_PASSWORD SCREENSHOT_DIR
// MAIL_DIR is where the SMTP server files messages as NNNNN.json ({"data": raw message}).

import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { axe } from "./axe.mjs";

const [base, mailDir, username, email, oldPassword, newPassword, shots] = process.argv.slice(2);
if (!shots) {
  console.error("usage: node recovery.mjs BASE_URL MAIL_DIR USERNAME EMAIL OLD_PASSWORD NEW_PASSWORD SCREENSHOT_DIR");
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
async function shot(page, name) {
  step += 1;
  await axe(page, name, problems);
  await page.screenshot({ path: join(shots, `recovery-${String(step).padStart(2, "0")}-${name}.png`), fullPage: true });
}

async function newPage() {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  page.on("console", (msg) => {
    if (msg.type() === "error") problems.push(`console error on ${page.url()}: ${msg.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`exception on ${page.url()}: ${error.message}`));
  return page;
}

/// The link in the first message the SMTP server filed, waiting up to 30 seconds.
async function mailedLink() {
  for (let i = 0; i < 300; i++) {
    const names = readdirSync(mailDir).filter((n) => n.endsWith(".json")).sort();
    if (names.length > 0) {
      const raw = JSON.parse(readFileSync(join(mailDir, names[0]), "utf8")).data;
      // Quoted-printable: soft line breaks and `=3D`.
      const text = raw.replace(/=\r?\n/g, "").replace(/=3D/g, "=");
      const match = text.match(/https?:\/\/[^\s"<]+flow_token=[A-Za-z0-9]+/);
      check(match, `the message carries a link: ${text}`);
      return match[0].replace(/&amp;/g, "&");
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("no message arrived");
}

/// Signs in through the sign-in page; the URL it ends on.
async function signIn(password) {
  const page = await newPage();
  await page.goto(`${base}/if/user/`);
  await page.getByLabel(/username/i).fill(username);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Continue" }).click();
  await page.waitForLoadState("load");
  const url = page.url();
  await page.context().close();
  return url;
}

try {
  const page = await newPage();
  await page.goto(`${base}/if/user/`);
  await shot(page, "sign-in");
  await page.getByRole("link", { name: "Forgot password?" }).click();
  await page.waitForURL(/\/if\/flow\/default-recovery-flow\//);
  check((await page.locator("h1").textContent()).trim() === "Reset your password", "the recovery page's title");
  await page.getByLabel(/email or username/i).fill(email);
  await shot(page, "address");
  await page.getByRole("button", { name: "Continue" }).click();
  await page.getByText("Check your inbox").waitFor();
  await shot(page, "check-your-inbox");

  const link = await mailedLink();
  check(link.startsWith(`${base}/if/flow/default-recovery-flow/?`), `the link leads back to the flow: ${link}`);
  const phone = await newPage();
  await phone.goto(link);
  await phone.getByLabel(/^New password(?! \()/).fill(newPassword);
  await phone.getByLabel(/^New password \(repeat\)/).fill(newPassword);
  await shot(phone, "new-password");
  await phone.getByRole("button", { name: "Continue" }).click();
  await phone.waitForURL(`${base}/if/user/`);
  check((await phone.locator("#profile-username").textContent()) === username, "signed in as the account");
  await shot(phone, "signed-in");

  check((await signIn(newPassword)) === `${base}/if/user/`, "the new password signs in");
  check((await signIn(oldPassword)) !== `${base}/if/user/`, "the old password does not");
  check(problems.length === 0, `no console errors or accessibility violations: ${problems.join("; ")}`);
  console.log("recovery passed");
} catch (error) {
  console.error(`recovery failed: ${error.stack ?? error}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
