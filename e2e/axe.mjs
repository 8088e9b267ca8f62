// axe-core (Deque's accessibility engine) on the page as it stands: every violation of
// WCAG 2.x A and AA rules, and of axe's best practices, becomes a line in `problems`.
// The script is evaluated through the DevTools protocol, which the pages' CSP
// (script-src 'self') does not govern, so the pages are tested as served.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const source = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

export async function axe(page, label, problems) {
  if (!(await page.evaluate(() => typeof window.axe === "object"))) await page.evaluate(source);
  const result = await page.evaluate(() =>
    window.axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"] },
      resultTypes: ["violations"],
    }),
  );
  for (const v of result.violations) {
    const where = v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ");
    const why = (v.nodes[0]?.failureSummary ?? "").split("\n").slice(1, 2).join("").trim();
    problems.push(`axe on ${label} (${page.url()}): ${v.id} (${v.impact}): ${v.help} at ${where}: ${why}`);
  }
  return result.violations.length;
}
