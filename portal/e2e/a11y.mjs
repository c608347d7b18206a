// Accessibility: axe-core (WCAG 2.0/2.1 A and AA rules, colour contrast included) on every main
// page, signed in as an engineer who may run and approve actions. Any serious or critical
// violation fails the test, naming the rule, the page and the elements.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { signIn } from "./tests.mjs";

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const T = 15_000;

/** Pages to check: path, and what shows that the page has loaded. Other files add theirs. */
export const A11Y_PAGES = [
  ["/", (p) => p.getByRole("region", { name: /My services/ }).getByRole("link").first()],
  ["/catalog", (p) => p.getByRole("table", { name: "Catalog entities" })],
  ["/search?q=checkout", (p) => p.locator(".result").first()],
  ["/entities/component/team-checkout/checkout-api", (p) => p.getByRole("region", { name: "Relations" })],
  ["/entities/incident/team-checkout/checkout-5xx-20261125", (p) => p.getByRole("region", { name: /What changed recently nearby/ })],
  ["/entities/component/team-checkout/checkout-api/graph", (p) => p.getByTestId("graph-canvas")],
  ["/teams/team-checkout/checkout", (p) => p.getByRole("heading", { level: 1 })],
  ["/actions", (p) => p.locator(".action-card").first()],
  ["/actions/team-checkout/aks-scale-deployment?target=component:team-checkout/checkout-api", (p) => p.getByLabel(/^replicas/)],
  ["/runs", (p) => p.getByRole("heading", { level: 1, name: "Runs" })],
  ["/approvals", (p) => p.getByRole("heading", { level: 1, name: /Approvals inbox/ })],
  ["/audit", (p) => p.getByRole("heading", { level: 1, name: "Audit trail" })],
  ["/scorecards", (p) => p.locator(".heatmap")],
  ["/scorecards/new", (p) => p.getByRole("heading", { level: 1 })],
  ["/dora", (p) => p.getByRole("heading", { level: 1, name: "DORA metrics" })],
  ["/runbooks", (p) => p.getByText(/^\d+ runbooks?$/)],
  ["/runbooks/team-checkout/cart-redis-failover", (p) => p.locator(".markdown h1")],
];

export async function axeViolations(page) {
  return page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const result = await axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] }, resultTypes: ["violations"] });
    return result.violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")) }));
  });
}

export const a11yTests = [
  {
    id: "a11y",
    title: "axe-core finds no serious or critical WCAG 2.1 AA violation on the main pages",
    // axe is injected as a script, which the portal's CSP would refuse: this context bypasses
    // CSP (the other tests run with it enforced).
    contextOptions: { bypassCSP: true },
    async run({ page, url, figures }) {
      await signIn(page, url, "Aisha Khan", "Engineer", ["nexus-developers", "nexus-team-leads"]);
      await page.getByRole("heading", { level: 1, name: /Hello/ }).waitFor({ timeout: T });
      const problems = [];
      for (const [path, ready] of A11Y_PAGES) {
        await page.goto(`${url}${path}`);
        await ready(page).waitFor({ timeout: T });
        await page.addScriptTag({ content: AXE });
        for (const v of await axeViolations(page)) problems.push(`${path}: ${v.impact} ${v.id} (${v.help}) at ${v.nodes.join(", ")}`);
      }
      figures.a11yPagesChecked = A11Y_PAGES.length;
      assert.deepEqual(problems, [], `accessibility violations:\n  ${problems.join("\n  ")}`);
    },
  },
];
