// Browser tests of the insight pages: scorecards, DORA, the scorecard builder, runbooks.
// Expected figures are computed by hand from examples/, scorecards/templates/ and
// hack/dev-history.sh (see the comments), never read back from the API.
import assert from "node:assert/strict";
import { signIn } from "./tests.mjs";

const T = 20_000;
const PR = "nexus-org/production-readiness";

async function signedIn(page, url, groups = []) {
  await signIn(page, url, "Aisha Khan", "Engineer", groups);
  await page.getByRole("heading", { level: 1, name: /Hello/ }).waitFor({ timeout: T });
}

// Production Readiness (Components of type service/website/worker/function; on-call owner [3]
// and runbook linked [2] at Bronze decide the score today, the other 5 weight is unknown):
// every example Team has spec.onCall → 30; plus a Runbook naming it → 50 (Bronze, passes the
// gate); a User-owned component → 0.
//   Checkout & Storefront: storefront-web 30, storefront-bff 50, checkout-api 50, cart-service 50,
//     order-orchestrator 30 → 210/5 = 42.0, 3 of 5 pass
//   Payments: payments-api 50, payments-worker 50, legacy-payment-gateway 30, fraud-scoring 30 → 40.0, 2/4
//   Customer Identity: identity-api 50, account-web 30, consent-service 30 → 36.7, 1/3 (33 %)
//   Catalog & Search: search-api 50, search-indexer 50, four others 30 → 220/6 = 36.7, 2/6 (33 %)
//   Platform Engineering: nexus-portal 30, log-shipper 30 → 30.0, 0/2
//   No team: fraud-rules-admin, promotions-engine, recommendations-api 0 → 0.0, 0/3
//   Org: 23 entities, (3×0 + 12×30 + 8×50)/23 = 33.0, 8 pass (34 %); bins 0–9: 3, 30–39: 12, 50–59: 8
const HEAT = [
  ["team:team-checkout/checkout", "42.0", "3/5 pass"],
  ["team:team-payments/payments", "40.0", "2/4 pass"],
  ["team:team-identity/identity", "36.7", "1/3 pass"],
  ["team:team-catalog/catalog", "36.7", "2/6 pass"],
  ["team:team-platform/platform", "30.0", "0/2 pass"],
  ["none", "0.0", "0/3 pass"],
];

async function kpi(panel, title) {
  const item = panel.getByRole("listitem").filter({ hasText: title });
  await item.waitFor({ timeout: T });
  return (await item.textContent()).replace(/\s+/g, " ");
}

export const insightsTests = [
  {
    id: "scorecards",
    title: "scorecards: heatmap with the example org's averages, rankings, histogram, trend; keyboard to a team",
    async run({ page, url, shot }) {
      await signedIn(page, url);
      await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Scorecards" }).click();
      await page.waitForURL(/\/scorecards$/, { timeout: T });
      // Results arrive once the controller has evaluated every entity: wait for the last cell.
      const cell = (team) => page.locator(`[data-cell="${team}|${PR}"]`);
      await page.waitForFunction(
        ([sel, want]) => document.querySelector(sel)?.textContent?.includes(want),
        [`[data-cell="team:team-checkout/checkout|${PR}"]`, "42.0"],
        { timeout: 60_000, polling: 500 },
      ).catch(async () => {
        await page.reload();
        await cell("team:team-checkout/checkout").waitFor({ timeout: T });
      });
      for (const [team, avg, pass] of HEAT) {
        const text = (await cell(team).textContent()).replace(/\s+/g, " ");
        assert.ok(text.includes(avg) && text.includes(pass), `${team}: ${text}, want ${avg} ${pass}`);
      }
      assert.match(await cell("team:team-checkout/checkout").textContent(), /Checkout & Storefront, Production Readiness: average score 42\.0 \(weak\), 3 of 5 pass \(60%\)/);
      await shot("scorecards-heatmap");

      // The column header selects the scorecard: rankings, distribution, trend.
      await page.getByRole("columnheader", { name: "Production Readiness" }).getByRole("link").click();
      await page.waitForURL(/scorecard=nexus-org%2Fproduction-readiness/, { timeout: T });
      const rankings = page.getByRole("region", { name: /Team rankings: Production Readiness/ });
      const rows = rankings.getByRole("row");
      await rows.nth(5).waitFor({ timeout: T });
      const ranked = (await rows.allTextContents()).slice(1).map((r) => r.replace(/\s+/g, " ").trim());
      assert.deepEqual(
        ranked.map((r) => r.match(/^(\d)(.+?)(\d+\.\d)/).slice(1, 4).join("|")),
        ["1|Checkout & Storefront|42.0", "2|Payments|40.0", "3|Catalog & Search|36.7", "3|Customer Identity|36.7", "5|Platform Engineering|30.0"],
      );
      // Entities at both ends: the three no team owns score 0; eight score 50 (see above).
      const entities = page.getByRole("region", { name: /Entity rankings: Production Readiness/ });
      await entities.getByText("23 entities measured; the ten at each end.").waitFor({ timeout: T });
      const column = async (caption) =>
        (await entities.getByRole("table", { name: caption }).locator("tbody tr").evaluateAll((rows) => rows.map((r) => r.querySelectorAll("td")[1].textContent.trim().split(" ")[0])));
      const low = await column(/Needs most attention/);
      assert.deepEqual(low.slice(0, 4), ["0", "0", "0", "30"], `lowest scores: ${low}`);
      assert.equal(low.length, 10);
      const high = await column(/^Best/);
      assert.deepEqual(high, ["50", "50", "50", "50", "50", "50", "50", "50", "30", "30"]);
      const dist = page.locator(`.distribution[data-scorecard="${PR}"]`);
      await dist.getByText(/23 entities · average 33\.0 · 8 pass \(34 %\)/).waitFor({ timeout: T });
      const bins = (await dist.locator(".chart-figures tbody tr").allTextContents()).map((r) => r.replace(/\s+/g, " "));
      // Rows are "<from><entities> (scores from–to)".
      const counts = bins.map((b) => Number(/^(\d+)\s?(\d+) \(scores (\d+)–/.exec(b)?.[2] ?? -1));
      assert.equal(bins.length, 10, `ten bins: ${JSON.stringify(bins)}`);
      assert.ok(bins[0].startsWith("03 (scores 0–9)") && bins[3].startsWith("3012 (scores 30–39)") && bins[5].startsWith("508 (scores 50–59)"), `bins ${JSON.stringify(bins)}`);
      assert.ok([1, 2, 4, 6, 7, 8, 9].every((i) => bins[i].includes("0 (scores")) && counts.length === 10, `other bins empty: ${JSON.stringify(bins)}`);
      // Today's snapshot is the state at the controller's first full evaluation of the day (taken
      // once, never updated), so its average depends on how far the catalog controller had got;
      // the entities it counts do not.
      await page.getByRole("region", { name: /Trend: Production Readiness/ }).locator("figcaption").getByText(/1 day with a snapshot; latest \d+\.\d over 23 entities/).waitFor({ timeout: 60_000 });
      await shot("scorecards-production-readiness");

      // Keyboard: Tab to the Checkout cell, Enter filters to the team.
      const target = cell("team:team-checkout/checkout");
      await target.focus();
      assert.ok(await target.evaluate((el) => el === document.activeElement), "heatmap cells take focus");
      await page.keyboard.press("Enter");
      await page.waitForURL(/team=team%3Ateam-checkout%2Fcheckout/, { timeout: T });
      await page.getByRole("heading", { name: "Score distribution: Checkout & Storefront" }).waitFor({ timeout: T });
      await dist.getByText(/5 entities · average 42\.0 · 3 pass \(60 %\)/).waitFor({ timeout: T });
      await page.getByRole("button", { name: "Show all teams" }).waitFor();
      await shot("scorecards-team");
    },
  },
  {
    id: "entity-insights",
    title: "entity scorecard results with what to fix; runbooks next to an incident, rendered",
    async run({ page, url, shot }) {
      await signedIn(page, url);
      await page.goto(`${url}/entities/component/team-checkout/storefront-web`);
      const panel = page.getByRole("region", { name: /^Scorecards/ });
      // storefront-web: on-call owner yes, no runbook names it → 30, no level, below the gate.
      const pr = panel.getByRole("listitem").filter({ has: page.getByRole("link", { name: "Production readiness" }) });
      await pr.getByText("Below the gate").waitFor({ timeout: 60_000 });
      assert.match((await pr.textContent()).replace(/\s+/g, " "), /30 of 100 .*No level yet.*1 of 5 rules pass · 1 failing · 3 unknown/);
      await pr.getByText("What to fix").waitFor();
      await pr.getByText(/Link a runbook: add a Runbook whose spec.appliesTo names this component/).waitFor();
      await shot("entity-scorecards");

      // The incident on checkout: runbooks ranked by reasons (checkout-5xx names three affected
      // entities, cart-redis-failover two).
      await page.goto(`${url}/entities/incident/team-checkout/checkout-5xx-20261125`);
      const runbooks = page.getByRole("region", { name: "Runbooks" });
      const items = runbooks.locator(".runbook-matches > li");
      await items.nth(1).waitFor({ timeout: T });
      assert.equal(await items.count(), 2);
      assert.match(await items.nth(0).textContent(), /Checkout returning 5xx.*names team-checkout\/checkout-api, which this affects/s);
      assert.match(await items.nth(1).textContent(), /Cart Redis failover.*names team-checkout\/cart-service, which this affects/s);
      await shot("incident-runbooks");
      await items.nth(1).getByRole("link", { name: "Cart Redis failover" }).click();
      await page.waitForURL(/\/runbooks\/team-checkout\/cart-redis-failover$/, { timeout: T });
      const body = page.getByRole("article", { name: "Runbook" });
      await body.locator(".markdown h1", { hasText: "Cart Redis failover" }).waitFor({ timeout: T });
      await body.locator(".markdown code", { hasText: "redis-contoso-cart-prod" }).first().waitFor();
      assert.equal(await body.locator("script").count(), 0);
      await page.getByRole("region", { name: "Applies to" }).or(page.getByRole("complementary", { name: "Applies to" })).getByRole("link", { name: /Cart/ }).first().waitFor();
      await shot("runbook-rendered");

      // The list: search and a tag filter, both in the URL.
      await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Runbooks" }).click();
      await page.getByText(/^\d+ runbooks?$/).waitFor({ timeout: T });
      await page.getByRole("complementary", { name: "Filters" }).getByRole("checkbox", { name: /sev1/ }).click(); // the URL, then the box, changes (a router navigation)
      await page.waitForURL(/tag=sev1/, { timeout: T });
      await page.getByText("1 runbook tagged sev1").waitFor({ timeout: T });
      await page.getByRole("link", { name: "Checkout returning 5xx" }).waitFor();
      await page.getByLabel("Search runbooks").fill("redis");
      await page.getByLabel("Search runbooks").press("Enter");
      await page.waitForURL(/q=redis/, { timeout: T });
      await page.getByText(/runbooks? for “redis” tagged sev1/).waitFor({ timeout: T });
      await shot("runbooks-search");
    },
  },
  {
    id: "dora",
    title: "DORA of a service and a team with tiers per window (seeded history), trend",
    async run({ page, url, shot }) {
      await signedIn(page, url);
      await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "DORA" }).click();
      await page.getByRole("heading", { level: 1, name: "DORA metrics" }).waitFor({ timeout: T });
      await page.getByText("Service", { exact: true }).click();
      await page.getByLabel("Which service").selectOption("component:team-catalog/catalog-api");
      await page.waitForURL(/scope=service&name=component%3Ateam-catalog%2Fcatalog-api/, { timeout: T });
      const panel = page.locator("section.dora");
      // hack/dev-history.sh, month (30 days): 10 deployments → 10/30 a day = 2.3 a week (High);
      // lead time 3 h each (Elite); 2 of 10 caused an incident → 20 % (Low); recovery median
      // of 2 h and 30 min = 1 h 15 min (High).
      const wantIn = async (where, title, value, tier) => {
        const deadline = Date.now() + 60_000;
        let text = "";
        while (Date.now() < deadline) {
          text = await kpi(where, title);
          if (text.includes(value) && text.includes(tier)) return;
          await page.waitForTimeout(1000);
          if (Date.now() + 30_000 < deadline) continue;
          await page.reload();
        }
        assert.fail(`${title}: ${text}, want ${value} ${tier}`);
      };
      const want = (title, value, tier) => wantIn(panel, title, value, tier);
      await want("Deployment frequency", "2.3 per week", "High");
      await want("Lead time for changes", "3 h", "Elite");
      await want("Change failure rate", "20 %", "Low");
      await want("Failed deployment recovery time", "1 h 15 min", "High");
      assert.match(await kpi(panel, "Deployment frequency"), /10 production deployments/);
      await panel.getByTestId("dora-trend-deployments").locator("figcaption").getByText("12 deployments over 12 weeks").waitFor({ timeout: T });
      await shot("dora-service");
      // Quarter: 12 deployments → 4 a month (Medium); 2 of 12 → 16.7 % (Low).
      await panel.getByText("90 days", { exact: true }).click();
      await want("Deployment frequency", "4 per month", "Medium");
      await want("Change failure rate", "16.7 %", "Low");
      // Week: 3 deployments (High), none failed (0 %, Elite), no incident (no data).
      await panel.getByRole("radio", { name: "Week" }).check();
      await want("Deployment frequency", "3 per week", "High");
      await want("Change failure rate", "0 %", "Elite");
      await want("Failed deployment recovery time", "—", "No data");

      // Team Catalog & Search: catalog-api and search-api, month: 12 deployments → 2.8 a week
      // (High), 2 of 12 → 16.7 % (Low), lead time 3 h (search-api's commits are in no push).
      await page.goto(`${url}/teams/team-catalog/catalog`);
      const team = page.locator("section.dora");
      await wantIn(team, "Deployment frequency", "2.8 per week", "High");
      const t = async (title, value, tier) => {
        const text = await kpi(team, title);
        assert.ok(text.includes(value) && text.includes(tier), `team ${title}: ${text}, want ${value} ${tier}`);
      };
      await team.getByText(/12 production deployments/).waitFor({ timeout: T });
      await t("Deployment frequency", "2.8 per week", "High");
      await t("Lead time for changes", "3 h", "Elite");
      await t("Change failure rate", "16.7 %", "Low");
      await t("Failed deployment recovery time", "1 h 15 min", "High");
      await team.getByText(/2 services with deployment data/).waitFor();
      await shot("dora-team");
    },
  },
  {
    id: "builder",
    title: "scorecard builder: drag a rule, add and reorder with the keyboard, YAML, validate",
    async run({ page, url, shot, env }) {
      // Tall enough that the palette and the levels are on screen together: a drag does not scroll.
      await page.setViewportSize({ width: 1366, height: 2000 });
      // Platform engineers may write the organisation's scorecards (hack/dev-rbac.yaml).
      await signedIn(page, url, ["nexus-platform-engineers"]);
      await page.goto(`${url}/scorecards`);
      await page.getByRole("link", { name: "New scorecard" }).click();
      await page.waitForURL(/\/scorecards\/new$/, { timeout: T });
      await page.getByLabel("Name", { exact: true }).fill("api-standards");
      await page.getByLabel("Title", { exact: true }).fill("API standards");
      // Drag "Runbook linked" from the palette onto Silver (HTML5 drag and drop).
      await page.locator('[data-snippet="runbook-linked"]').dragTo(page.locator('[data-level="Silver"]'));
      const silver = page.getByRole("region", { name: /Level: Silver/ });
      await silver.locator('[data-rule="runbook-linked"]').waitFor({ timeout: T });
      // Keyboard: Add "On-call owner assigned" to Bronze, then move Runbook linked up into Bronze.
      await page.getByRole("button", { name: "Add On-call owner assigned to Bronze" }).focus();
      await page.keyboard.press("Enter");
      const bronze = page.getByRole("region", { name: /Level: Bronze/ });
      await bronze.locator('[data-rule="on-call-owner"]').waitFor();
      await page.getByRole("button", { name: "Move Runbook linked up" }).focus();
      await page.keyboard.press("Enter");
      await bronze.locator('[data-rule="runbook-linked"]').waitFor();
      assert.deepEqual(await bronze.locator("[data-rule]").evaluateAll((els) => els.map((e) => e.dataset.rule)), ["on-call-owner", "runbook-linked"]);
      await page.getByLabel("Gate: minimum level").selectOption("Bronze");
      const yaml = await page.getByTestId("yaml-preview").textContent();
      for (const line of [
        "apiVersion: scorecards.nexus.dev/v1alpha1",
        "kind: Scorecard",
        "  name: api-standards",
        "  namespace: nexus-org",
        "    kinds: [Component]",
        "  levels: [Bronze, Silver, Gold]",
        "    - id: on-call-owner",
        "    - id: runbook-linked",
        "    minLevel: Bronze",
      ]) assert.ok(yaml.includes(`${line}\n`), `YAML has ${JSON.stringify(line)}:\n${yaml}`);
      assert.ok(yaml.indexOf("id: on-call-owner") < yaml.indexOf("id: runbook-linked"));
      assert.match(yaml, /id: runbook-linked\n\s+title: Runbook linked\n\s+level: Bronze\n\s+weight: 2\n/);
      const download = page.waitForEvent("download");
      await page.getByRole("button", { name: "Download YAML" }).click();
      assert.equal((await download).suggestedFilename(), "api-standards.yaml");
      await page.getByRole("button", { name: "Validate" }).click();
      // A dry run through nexus-apiserver, as the signed-in user: accepted, nothing stored.
      const preview = page.locator(".preview");
      const outcome = preview.getByRole("status").filter({ hasText: /^Valid/ }).or(preview.getByRole("alert"));
      await outcome.first().waitFor({ timeout: T });
      assert.match(await outcome.first().textContent(), /Valid: the Kubernetes API server accepted the Scorecard \(dry run/);
      assert.throws(() => env.kubectl("get", "scorecard", "api-standards", "-n", "nexus-org"), /NotFound|not found/, "a dry run stores nothing");
      await shot("scorecard-builder");
      // Apply: stored as written, under the portal's field manager.
      await page.getByRole("button", { name: "Apply" }).click();
      await preview.getByRole("status").filter({ hasText: /Applied|stored|created/i }).or(preview.getByRole("alert")).first().waitFor({ timeout: T });
      assert.equal(env.kubectl("get", "scorecard", "api-standards", "-n", "nexus-org", "-o", "jsonpath={.spec.rules[*].id}"), "on-call-owner runbook-linked");
    },
  },
];
