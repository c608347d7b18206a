// The browser tests. Each gets a fresh browser context (no session) and the running env.
import assert from "node:assert/strict";
import { insightsTests } from "./insights.mjs";

const T = 15_000;

export async function signIn(page, url, name, profile = "Engineer", groups = []) {
  await page.goto(`${url}/`);
  await page.waitForURL(/\/signin/, { timeout: T });
  await page.getByLabel("Filter users").fill(name.split(" ")[0]);
  await page.getByRole("radio", { name: new RegExp(name) }).check();
  await page.getByRole("radio", { name: new RegExp(`^${profile}`) }).check();
  for (const g of groups) await page.getByRole("checkbox", { name: new RegExp(`^${g}`) }).check();
  await page.getByRole("button", { name: `Sign in as ${name}` }).click();
}

async function devSession(context, url, user, groups) {
  const r = await context.request.post(`${url}/api/v1/dev/token`, { data: { user, groups } });
  assert.equal(r.status(), 200, await r.text());
  const { token } = await r.json();
  return { token, user, groups, expiresAt: Date.now() + 3600_000 };
}

export const tests = [
  {
    id: "signin",
    title: "sign in as a dev user and see the dashboard",
    async run({ page, url, shot }) {
      await page.goto(`${url}/`);
      await page.waitForURL(/\/signin/, { timeout: T });
      await shot("signin");
      await signIn(page, url, "Aisha Khan");
      await page.getByRole("heading", { level: 1, name: "Hello, Aisha Khan" }).waitFor({ timeout: T });
      const services = page.getByRole("region", { name: /My services/ });
      await services.getByRole("link", { name: "Checkout API" }).first().waitFor({ timeout: T });
      await page.getByRole("region", { name: /My costs/ }).getByText(/FinOps integration/).waitFor();
      await page.getByRole("link", { name: "Checkout & Storefront" }).waitFor();
      await shot("dashboard");
      // The session survives a reload; signing out ends it.
      await page.reload();
      await page.getByRole("heading", { level: 1, name: "Hello, Aisha Khan" }).waitFor({ timeout: T });
      await page.getByRole("button", { name: "Sign out" }).click();
      await page.waitForURL(/\/signin/, { timeout: T });
    },
  },
  {
    id: "search",
    title: "typeahead with the keyboard, open an entity, results page with facets",
    async run({ page, url, shot }) {
      await signIn(page, url, "Aisha Khan");
      await page.getByRole("heading", { level: 1, name: /Hello/ }).waitFor({ timeout: T });
      await page.keyboard.press("/");
      const box = page.getByRole("combobox", { name: "Search the catalog" });
      assert.ok(await box.evaluate((el) => el === document.activeElement), "/ focuses the search box");
      await box.pressSequentially("chekout", { delay: 20 }); // a typo on purpose
      await page.getByRole("option", { name: /Checkout API/ }).first().waitFor({ timeout: T });
      await shot("typeahead");
      const options = await page.getByRole("option").allTextContents();
      const index = options.findIndex((o) => /Component.*Checkout API/.test(o));
      assert.ok(index >= 0, `a Component "Checkout API" among ${JSON.stringify(options)}`);
      for (let i = 0; i <= index; i++) await box.press("ArrowDown");
      await box.press("Enter");
      await page.waitForURL(/\/entities\/component\/team-checkout\/checkout-api$/, { timeout: T });
      await page.getByRole("heading", { level: 1, name: /Checkout API/ }).waitFor({ timeout: T });
      const owner = page.getByRole("region", { name: "Owner" });
      await owner.getByRole("link").first().waitFor();
      assert.match(await owner.textContent(), /declared in the entity's spec\.owner|CODEOWNERS|Entra|Azure/);
      await page.getByRole("region", { name: "Status" }).getByText(/Ready|ready/).first().waitFor();
      const relations = page.getByRole("region", { name: "Relations" });
      await relations.getByText("Depends on").waitFor();
      await shot("entity-component");

      // Results page: Enter without a highlighted suggestion.
      await box.fill("checkout");
      await box.press("Enter");
      await page.waitForURL(/\/search\?q=checkout$/, { timeout: T });
      const h1 = page.getByRole("heading", { level: 1 });
      await h1.filter({ hasText: /\d+ results? for “checkout”/ }).waitFor({ timeout: T });
      const before = Number((await h1.textContent()).match(/\d+/)[0]);
      const filters = page.getByRole("complementary", { name: "Filters" });
      // Facet checkboxes follow the URL: click, then the address changes, then the box (within a
      // render or two), so not check(), which wants the box changed the moment the click returns.
      const componentBox = filters.getByRole("group", { name: "Kind" }).getByRole("checkbox", { name: /Component/ });
      await componentBox.click();
      await page.waitForURL(/kind=Component/i, { timeout: T });
      await page.waitForFunction(() => [...document.querySelectorAll('[aria-label="Filters"] input:checked')].length === 1, null, { timeout: T });
      assert.ok(await componentBox.isChecked(), "the Component box is ticked");
      await page.waitForFunction((n) => {
        const m = document.querySelector("h1")?.textContent?.match(/\d+/);
        return m && Number(m[0]) < n;
      }, before, { timeout: T });
      const kinds = await page.locator(".result .kind").allTextContents();
      assert.ok(kinds.length > 0 && kinds.every((k) => k === "Component"), `only components: ${kinds}`);
      await shot("search-results");
      // Back button undoes the facet.
      await page.goBack();
      await page.waitForURL(/\/search\?q=checkout$/, { timeout: T });
    },
  },
  {
    id: "catalog",
    title: "catalog: virtualised rows, cursor pages while scrolling, filters in the URL",
    async run({ page, url, shot, figures }) {
      await signIn(page, url, "Aisha Khan");
      await page.getByRole("heading", { level: 1, name: /Hello/ }).waitFor({ timeout: T });
      await page.goto(`${url}/catalog`);
      const table = page.getByRole("table", { name: "Catalog entities" });
      await table.waitFor({ timeout: T });
      const total = Number(await table.getAttribute("aria-rowcount")) - 1;
      assert.ok(total > 200, `the example org has more than one page of 200 (${total})`);
      const rendered = await table.locator('[role="rowgroup"] [role="row"]').count();
      assert.ok(rendered < 80, `only visible rows are in the DOM (${rendered} of ${total})`);
      await shot("catalog");
      // Scroll to the end: the next page is fetched by cursor and the last row shows up.
      const scroller = page.getByTestId("catalog-scroller");
      await page.waitForFunction(
        ({ total }) => {
          const s = document.querySelector('[data-testid="catalog-scroller"]');
          s.scrollTop = s.scrollHeight;
          const rows = [...s.querySelectorAll('[role="row"]')].map((r) => Number(r.getAttribute("aria-rowindex")));
          return Math.max(...rows) === total + 1 && !s.textContent.includes("Loading more");
        },
        { total },
        { timeout: T, polling: 300 },
      );
      figures.catalogEntities = total;
      await scroller.evaluate((s) => (s.scrollTop = 0));
      // Filter by a facet and sort: deep-linkable.
      await page.getByRole("complementary", { name: "Filters" }).getByRole("group", { name: "Namespace" }).getByRole("checkbox", { name: /team-payments/ }).click();
      await page.waitForURL(/namespace=team-payments/, { timeout: T });
      await page.getByLabel("Sort by").selectOption("kind");
      await page.waitForURL(/sort=kind/, { timeout: T });
      await page.waitForFunction(() => {
        const cells = [...document.querySelectorAll('[data-testid="catalog-scroller"] .col-namespace')].map((c) => c.textContent);
        return cells.length > 0 && cells.every((c) => c === "team-payments");
      }, null, { timeout: T });
      await page.reload();
      await page.waitForFunction(() => document.querySelectorAll('[data-testid="catalog-scroller"] .col-namespace').length > 0, null, { timeout: T });
      const namespaces = await page.locator('[data-testid="catalog-scroller"] .col-namespace').allTextContents();
      assert.ok(namespaces.every((n) => n === "team-payments"), "the filter survives a reload");
    },
  },
  {
    id: "graph",
    title: "graph renders, depth and relation filters, highlight, click-through and back",
    async run({ page, url, shot }) {
      await signIn(page, url, "Aisha Khan");
      await page.getByRole("heading", { level: 1, name: /Hello/ }).waitFor({ timeout: T });
      await page.goto(`${url}/entities/component/team-checkout/checkout-api`);
      await page.getByRole("link", { name: "Relationship graph" }).click();
      await page.waitForURL(/checkout-api\/graph$/, { timeout: T });
      const canvas = page.getByTestId("graph-canvas");
      await canvas.waitFor({ timeout: T });
      const nodes2 = Number(await canvas.getAttribute("data-nodes"));
      assert.ok(nodes2 > 3, `depth 2 has neighbours (${nodes2})`);
      assert.ok((await canvas.locator("canvas").count()) > 0, "cytoscape drew on a canvas");
      await shot("graph");
      await page.getByLabel("Depth").selectOption("1");
      await page.waitForURL(/depth=1/, { timeout: T });
      await page.waitForFunction((n) => Number(document.querySelector('[data-testid="graph-canvas"]')?.getAttribute("data-nodes")) < n, nodes2, { timeout: T });
      // Only dependsOn: fewer edges, every edge a dependsOn.
      await page.getByRole("button", { name: /Relation types/ }).click();
      await page.getByRole("checkbox", { name: "Depends on" }).click();
      await page.waitForURL(/relations=dependsOn/, { timeout: T });
      await page.waitForFunction(() => [...document.querySelectorAll('input[type="checkbox"]')].some((c) => c.checked && c.closest("label")?.textContent?.includes("Depends on")), null, { timeout: T });
      await page.waitForFunction(() => !document.querySelector('[role="status"]')?.textContent?.includes("Updating"), null, { timeout: T });
      const list = page.getByRole("region", { name: /Entities in this graph/ });
      const rows = list.locator("tbody tr");
      await rows.nth(1).waitFor({ timeout: T });
      // Highlight a dependency: it is upstream of checkout-api, so checkout-api is downstream of it.
      const dep = rows.filter({ hasText: "upstream" }).first();
      const depName = (await dep.locator("td a").textContent()).trim();
      await dep.getByRole("button", { name: "Highlight" }).click();
      await page.waitForURL(/focus=/, { timeout: T });
      assert.match(await list.locator("tbody tr", { hasText: "Checkout API" }).first().textContent(), /downstream/);
      await shot("graph-highlight");
      const before = page.url();
      await page.getByRole("complementary", { name: "Selected entity" }).getByRole("link", { name: "Centre the graph here" }).click();
      await page.waitForURL((u) => u.href !== before && /\/graph\?depth=1&relations=dependsOn$/.test(u.href), { timeout: T });
      await page.getByRole("link", { name: depName }).first().waitFor({ timeout: T });
      await page.goBack();
      await page.waitForURL(before, { timeout: T });
      await page.getByRole("link", { name: /Open component|Open/ }).first().click();
      await page.getByRole("heading", { level: 1, name: new RegExp(depName) }).waitFor({ timeout: T });
    },
  },
  {
    id: "live",
    title: "a kubectl change appears on the open page within 5 s",
    async run({ page, url, env, shot, figures }) {
      await signIn(page, url, "Aisha Khan");
      await page.getByRole("heading", { level: 1, name: /Hello/ }).waitFor({ timeout: T });
      await page.goto(`${url}/entities/component/team-checkout/checkout-api`);
      await page.getByRole("heading", { level: 1, name: /Checkout API/ }).waitFor({ timeout: T });
      await page.locator(".live-live").waitFor({ timeout: T });
      const marker = `Changed live ${Date.now()}`;
      const t0 = Date.now();
      env.kubectl("patch", "components.catalog.nexus.dev", "checkout-api", "-n", "team-checkout", "--type", "merge", "-p", JSON.stringify({ spec: { description: marker } }));
      await page.getByText(marker).waitFor({ timeout: 5000 });
      figures.liveUpdateMs = Date.now() - t0;
      // The change also reaches lists: the search page shows the new description.
      await page.goto(`${url}/search?q=checkout`);
      await page.getByText(marker).first().waitFor({ timeout: T });
      const t1 = Date.now();
      const marker2 = `${marker} again`;
      env.kubectl("patch", "components.catalog.nexus.dev", "checkout-api", "-n", "team-checkout", "--type", "merge", "-p", JSON.stringify({ spec: { description: marker2 } }));
      await page.getByText(marker2).first().waitFor({ timeout: 5000 });
      figures.liveListUpdateMs = Date.now() - t1;
      await shot("live-search");
    },
  },
  {
    id: "rbac",
    title: "a contractor sees only team-checkout; without a role, a 403 explained",
    async run({ page, url, shot, context }) {
      await signIn(page, url, "Aisha Khan", "Contractor");
      await page.getByRole("heading", { level: 1, name: /Hello/ }).waitFor({ timeout: T });
      // The dashboard links nothing outside team-checkout. (Her User entity is in nexus-org, which
      // a contractor cannot read, so the dashboard cannot resolve her teams: it says so.)
      await page.getByRole("region", { name: /My services/ }).getByText(/No User entity matches/).waitFor({ timeout: T });
      const dashboardLinks = await page.locator("main a[href^='/entities/'], main a[href^='/teams/']").evaluateAll((as) => as.map((a) => a.getAttribute("href")));
      assert.deepEqual(dashboardLinks.filter((h) => !h.includes("/team-checkout/")), [], "only team-checkout entities on the dashboard");
      await page.goto(`${url}/catalog`);
      const filters = page.getByRole("complementary", { name: "Filters" });
      const nsGroup = filters.getByRole("group", { name: "Namespace" });
      await nsGroup.waitFor({ timeout: T });
      const namespaces = await nsGroup.locator(".facet-name").allTextContents();
      assert.deepEqual(namespaces, ["team-checkout"], "facets count only visible entities");
      const cells = await page.locator('[data-testid="catalog-scroller"] .col-namespace').allTextContents();
      assert.ok(cells.length > 0 && cells.every((c) => c === "team-checkout"), `rows: ${cells}`);
      // Search does not find another team's entities.
      const box = page.getByRole("combobox", { name: "Search the catalog" });
      await box.fill("payments");
      await box.press("Enter");
      await page.waitForURL(/\/search\?q=payments/, { timeout: T });
      await page.getByRole("heading", { level: 1 }).filter({ hasText: /result/ }).waitFor({ timeout: T });
      assert.equal(await page.locator(".result").filter({ hasText: "team-payments/" }).count(), 0, "no team-payments hit");
      // A direct link to a hidden entity: the same answer as a missing one, explained.
      await page.goto(`${url}/entities/team/team-payments/payments`);
      const alert = page.getByRole("alert");
      await alert.getByText("Not found").waitFor({ timeout: T });
      assert.match(await alert.textContent(), /may not see it/);
      await shot("rbac-hidden");
      // The graph does not walk through hidden entities.
      await page.goto(`${url}/entities/component/team-checkout/checkout-api/graph?depth=3`);
      await page.getByTestId("graph-canvas").waitFor({ timeout: T });
      const graphNamespaces = await page.locator(".graph-list tbody td .muted").allTextContents();
      assert.ok(graphNamespaces.every((n) => n === "team-checkout"), `graph: ${graphNamespaces}`);

      // Someone with no Nexus role at all: a 403 that says what to ask for.
      const other = await context.newPage();
      await signIn(other, url, "Chen Wei", "No groups");
      const denied = other.getByRole("alert");
      await denied.getByText("You do not have access").waitFor({ timeout: T });
      assert.match(await denied.textContent(), /cannot get resource "dashboards"/);
      assert.match(await denied.textContent(), /Ask your team lead/);
      await other.screenshot({ path: new URL("../test-results/rbac-403.png", import.meta.url).pathname, fullPage: true });
    },
  },
  {
    id: "perf",
    title: "first load on localhost (cold cache) and the JavaScript it downloads",
    async run({ context, url, figures, page }) {
      const session = await devSession(context, url, "aisha.khan@contoso.com", ["nexus:engineering"]);
      const runs = [];
      for (let i = 0; i < 3; i++) {
        const ctx = await page.context().browser().newContext({ ignoreHTTPSErrors: true, viewport: { width: 1366, height: 768 } });
        await ctx.addInitScript((s) => sessionStorage.setItem("nexus.devSession", s), JSON.stringify(session));
        const p = await ctx.newPage();
        const t0 = Date.now();
        await p.goto(`${url}/`);
        await p.getByRole("heading", { level: 1, name: "Hello, Aisha Khan" }).waitFor({ timeout: T });
        await p.getByRole("region", { name: /My services/ }).getByRole("link").first().waitFor({ timeout: T });
        const wall = Date.now() - t0;
        const m = await p.evaluate(() => {
          const nav = performance.getEntriesByType("navigation")[0];
          const res = performance.getEntriesByType("resource");
          const js = res.filter((r) => r.name.endsWith(".js"));
          return {
            domContentLoadedMs: Math.round(nav.domContentLoadedEventEnd),
            loadMs: Math.round(nav.loadEventEnd),
            jsTransferredBytes: js.reduce((n, r) => n + r.encodedBodySize, 0),
            jsDecodedBytes: js.reduce((n, r) => n + r.decodedBodySize, 0),
            jsFiles: js.length,
          };
        });
        runs.push({ dashboardReadyMs: wall, ...m });
        await ctx.close();
      }
      runs.sort((a, b) => a.dashboardReadyMs - b.dashboardReadyMs);
      figures.firstLoad = runs[1];
      // Figures only (recorded in results.json and docs/benchmarks.md), never a timed assertion:
      // the targets are 1 s and 300 KB gzipped. The page must have loaded at all.
      assert.ok(runs[1].dashboardReadyMs > 0 && runs[1].jsFiles > 0, "the dashboard did not load");
      console.log(`first load ${runs[1].dashboardReadyMs} ms, initial JS ${runs[1].jsTransferredBytes} B (targets 1 s, 300 KB gzipped)`);
    },
  },
  {
    id: "actions",
    title: "run an action from an entity, self-approval refused, a second user approves, the run succeeds live; a waiting run cancelled; audit trail",
    async run({ page, context, url, env, shot, figures }) {
      // Something for the action to act on: the component's Deployment (kubernetes executor).
      env.kubectlApply(`apiVersion: apps/v1
kind: Deployment
metadata: {name: checkout-api, namespace: team-checkout}
spec:
  replicas: 1
  selector: {matchLabels: {app: checkout-api}}
  template:
    metadata: {labels: {app: checkout-api}}
    spec: {containers: [{name: app, image: registry.invalid/checkout-api:1}]}
`);
      // Aisha may run actions and is a team lead too, so only the self-approval rule stops her.
      await signIn(page, url, "Aisha Khan", "Engineer", ["nexus-developers", "nexus-team-leads"]);
      await page.getByRole("heading", { level: 1, name: /Hello/ }).waitFor({ timeout: T });
      await page.goto(`${url}/entities/component/team-checkout/checkout-api`);
      const panel = page.getByRole("region", { name: /^Actions/ });
      await panel.getByRole("link", { name: /Scale a service/ }).click();
      await page.waitForURL(/\/actions\/team-checkout\/aks-scale-deployment\?target=component/, { timeout: T });
      await page.getByRole("heading", { level: 1, name: /Scale a service/ }).waitFor({ timeout: T });
      const replicas = page.getByLabel(/^replicas/);
      await replicas.waitFor({ timeout: T });
      // Out of the schema's range: refused in the form, nothing created.
      await replicas.fill("99");
      await page.getByRole("button", { name: "Request run" }).click();
      // The field's own error names the maximum.
      await page.locator(".rjsf .error-detail").filter({ hasText: /50/ }).first().waitFor({ timeout: T });
      assert.match(page.url(), /\/actions\//, "still on the form");
      await replicas.fill("3");
      await shot("action-run-form");
      await page.getByRole("button", { name: "Request run" }).click();
      await page.waitForURL(/\/runs\/team-checkout\/aks-scale-deployment-/, { timeout: T });
      const runPath = new URL(page.url()).pathname;
      const runName = runPath.split("/").pop();
      await page.locator('[data-phase="WaitingForApproval"]').first().waitFor({ timeout: T });
      assert.equal(env.kubectl("get", "actionrun", runName, "-n", "team-checkout", "-o", "jsonpath={.spec.requester}"), "aisha.khan@contoso.com", "created as the signed-in user");

      // Approving her own run: the admission policy refuses, and the page says why.
      await page.getByRole("button", { name: "Approve" }).click();
      const refused = page.getByRole("alert").filter({ hasText: "Your decision was refused" });
      await refused.waitFor({ timeout: T });
      assert.match(await refused.textContent(), /someone else must approve it/);
      await shot("action-self-approval-refused");

      // Tom, a team lead, finds it in his inbox and approves with a comment.
      const lead = await context.browser().newContext({ ignoreHTTPSErrors: true, viewport: { width: 1366, height: 768 } });
      const tom = await lead.newPage();
      try {
        await signIn(tom, url, "Tom Becker", "Engineer", ["nexus-team-leads"]);
        await tom.getByRole("heading", { level: 1, name: /Hello/ }).waitFor({ timeout: T });
        await tom.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Approvals" }).click();
        const item = tom.locator(".result").filter({ hasText: runName });
        await item.waitFor({ timeout: T });
        assert.match(await item.textContent(), /Requested by aisha\.khan@contoso\.com/);
        await tom.screenshot({ path: new URL("../test-results/approvals-inbox.png", import.meta.url).pathname, fullPage: true });
        await item.getByRole("link").first().click();
        await tom.waitForURL(new RegExp(`${runPath}$`), { timeout: T });
        await tom.getByLabel(/^Comment/).fill("LGTM, peak traffic expected");
        const t0 = Date.now();
        await tom.getByRole("button", { name: "Approve" }).click();
        await tom.getByText("Your approval was recorded.").waitFor({ timeout: T });
        // Aisha's page moves on its own (live stream), no reload.
        await page.locator('[data-phase="Succeeded"]').first().waitFor({ timeout: 30_000 });
        figures.approvalToSucceededOnPageMs = Date.now() - t0;
        await page.getByText("LGTM, peak traffic expected").waitFor({ timeout: T });
        const outputs = page.getByRole("region", { name: "Outputs" });
        await outputs.getByText("Previous replicas").waitFor({ timeout: T });
        assert.match((await outputs.textContent()).replace(/\s+/g, " "), /Previous replicas ?1 ?Replicas ?3/);
        await shot("action-run-succeeded");
        assert.equal(env.kubectl("get", "deployment", "checkout-api", "-n", "team-checkout", "-o", "jsonpath={.spec.replicas}"), "3");
        // Tom's inbox is empty again.
        await tom.goto(`${url}/approvals`);
        await tom.getByText(/Nothing waits for you/).waitFor({ timeout: T });
      } finally {
        await lead.close();
      }

      // A second request, cancelled by its requester while it waits: never executed.
      await page.goto(`${url}/actions/team-checkout/aks-scale-deployment?target=component:team-checkout/checkout-api`);
      await page.getByLabel(/^replicas/).fill("5");
      await page.getByRole("button", { name: "Request run" }).click();
      await page.waitForURL((u) => /\/runs\/team-checkout\/aks-scale-deployment-/.test(u.pathname) && !u.pathname.endsWith(runName), { timeout: T });
      await page.locator('[data-phase="WaitingForApproval"]').first().waitFor({ timeout: T });
      page.once("dialog", (d) => d.accept());
      await page.getByRole("button", { name: "Cancel run" }).click();
      await page.locator('[data-phase="Cancelled"]').first().waitFor({ timeout: T });
      assert.equal(env.kubectl("get", "deployment", "checkout-api", "-n", "team-checkout", "-o", "jsonpath={.spec.replicas}"), "3", "the cancelled run changed nothing");

      // The run is in the runs list and the audit trail, with who did what.
      await page.goto(`${url}/runs?mine=1`);
      await page.getByRole("link", { name: runName }).waitFor({ timeout: T });
      await page.goto(`${url}/audit?run=${runName}`);
      const audit = page.getByRole("table", { name: "Audit entries" });
      await audit.waitFor({ timeout: T });
      const text = await audit.textContent();
      assert.match(text, /aisha\.khan@contoso\.com/);
      assert.match(text, /tom\.becker@contoso\.com/);
      await shot("audit");
    },
  },
  ...insightsTests,
];
