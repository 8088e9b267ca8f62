// Every admin page, and the sign-in and user pages, at a phone's width (390×844) and a
// laptop's (1366×900), in light and dark mode: the page itself never scrolls sideways
// (wide tables scroll inside their box), the navigation stays above the content at 390 px
// in a few lines, no page logs a console error, and axe-core finds no accessibility
// violation (contrast in both schemes included). Screenshots of each go to SCREENSHOT_DIR.
//
// Usage: node responsive.mjs BASE_URL USERNAME PASSWORD SCREENSHOT_DIR

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { axe } from "./axe.mjs";

const [base, username, password, shots] = process.argv.slice(2);
if (!shots) {
  console.error("usage: node responsive.mjs BASE_URL USERNAME PASSWORD SCREENSHOT_DIR");
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const problems = [];
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
});

try {
  for (const [width, height] of [[390, 844], [1366, 900]]) {
    for (const colorScheme of ["light", "dark"]) {
      const ctx = await browser.newContext({ viewport: { width, height }, colorScheme });
      const page = await ctx.newPage();
      page.on("console", (msg) => {
        // (The 404 page's own status is reported as a failed load: that one is meant.)
        const expected = page.url().endsWith("/no-such-page/") && msg.text().includes("404");
        if (msg.type() === "error" && !expected) problems.push(`console error on ${page.url()}: ${msg.text()}`);
      });
      await page.goto(`${base}/if/admin/`);
      await axe(page, `sign-in at ${width}px (${colorScheme})`, problems);
      await page.getByLabel(/username/i).fill(username);
      await page.getByRole("button", { name: "Log in" }).click();
      await page.getByLabel("Password").fill(password);
      await axe(page, `password at ${width}px (${colorScheme})`, problems);
      await page.getByRole("button", { name: "Continue" }).click();
      await page.waitForURL(`${base}/if/admin/invitations/`);
      const links = await page.$$eval("nav.sidebar li a", (as) => as.map((a) => a.getAttribute("href")));
      // The navigation's pages, then every admin page they link to (a flow, a user, an
      // edit form, a confirmation), each once.
      // The shipped flows a signed-in person reaches (profile, password, and the sign-up and
      // recovery pages, which refuse someone signed in) are checked the same way.
      const flows = ["default-user-settings-flow", "default-password-change", "default-recovery-flow", "default-enrollment-flow"].map((slug) => `/if/flow/${slug}/`);
      const queue = [...new Set(links), "/if/admin/invitations/new/", "/if/admin/invitations/import/", "/if/user/", ...flows, "/if/admin/no-such-page/"];
      const seen = new Set(queue);
      while (queue.length > 0) {
        const path = queue.shift();
        await page.goto(`${base}${path}`);
        const linked = await page.$$eval("main a[href^='/if/admin/']", (as) => as.map((a) => a.getAttribute("href").split("#")[0]));
        for (const next of linked) {
          if (!seen.has(next) && seen.size < 40) {
            seen.add(next);
            queue.push(next);
          }
        }
        await axe(page, `${path} at ${width}px (${colorScheme})`, problems);
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        if (overflow > 1) problems.push(`${path} at ${width}px (${colorScheme}) scrolls sideways by ${overflow}px`);
        if (width === 390 && path.startsWith("/if/admin/")) {
          const top = await page.$eval("main h1", (h) => h.getBoundingClientRect().top + window.scrollY);
          if (top > 320) problems.push(`${path} at 390px: the heading starts ${Math.round(top)}px down, below the navigation`);
        }
        const name = path.replaceAll("/", "_").replace(/^_+|_+$/g, "") || "root";
        await page.screenshot({ path: join(shots, `responsive-${width}-${colorScheme}-${name}.png`), fullPage: true });
      }
      await ctx.close();
    }
  }
  if (problems.length > 0) throw new Error(problems.join("\n"));
  console.log("responsive passed");
} catch (error) {
  console.error(`responsive failed: ${error.stack ?? error}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
