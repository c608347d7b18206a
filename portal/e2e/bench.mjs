// `make bench-portal`: the catalog browser against a large catalog, in Debian's Chromium.
// Expects a local control plane that already holds the org (the Makefile fills it with
// `nexus-read-bench --cluster --keep`); starts nexus-apiserver (dev-auth, serving portal/dist)
// on loopback, waits until its cache holds everything, then measures in a real browser:
//   - navigation → the first catalog rows on screen, and the DOM rows rendered;
//   - scrolling: frame times (requestAnimationFrame intervals) while the table is scrolled
//     continuously through N pages of 200 (each page fetched by cursor as the end comes near);
//   - a facet click → the filtered rows on screen;
//   - the JS heap after scrolling.
// Figures only (one JSON line per figure on stdout); nothing is asserted. Bounded: at most
// --pages pages and --seconds of scrolling.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, openSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { freePort, repo } from "./env.mjs";

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const state = process.env.NEXUS_CLUSTER_DIR;
if (!state || !process.env.KUBECONFIG) throw new Error("set NEXUS_CLUSTER_DIR and KUBECONFIG of a running local control plane (make bench-portal does)");
const bin = arg("bin", path.join(repo, "target/release"));
const pages = Number(arg("pages", "25"));
const seconds = Number(arg("seconds", "30"));
const assets = path.join(repo, "portal/dist");
if (!existsSync(path.join(assets, "index.html"))) throw new Error("portal/dist is missing: make portal");
const emit = (o) => console.log(JSON.stringify({ bench: "portal", ...o }));

// The dev roles (nexus:engineering reads the catalog); their namespaced bindings need these.
for (const ns of ["team-checkout", "nexus-org"]) {
  try {
    execFileSync("kubectl", ["create", "namespace", ns], { stdio: "ignore" });
  } catch {
    // exists
  }
}
execFileSync("kubectl", ["apply", "--server-side", "-f", path.join(repo, "hack/dev-rbac.yaml")], { stdio: ["ignore", "ignore", "inherit"] });
const ports = { aggregated: await freePort(), portal: await freePort(), metrics: await freePort() };
mkdirSync(path.join(state, "logs"), { recursive: true });
const out = openSync(path.join(state, "logs/bench-portal-apiserver.log"), "a");
const t0 = Date.now();
const apiserver = spawn(path.join(bin, "nexus-apiserver"), [
  "serve", "--aggregated-addr", `127.0.0.1:${ports.aggregated}`, "--portal-addr", `127.0.0.1:${ports.portal}`,
  "--metrics-addr", `127.0.0.1:${ports.metrics}`,
  "--tls-cert-file", path.join(state, "pki/nexus-apiserver.crt"), "--tls-key-file", path.join(state, "pki/nexus-apiserver.key"),
  "--dev-auth", "--dev-key-file", path.join(state, "dev-auth/signing-key.pem"), "--log-format", "text", "--portal-assets-dir", assets,
], { stdio: ["ignore", out, out] });
const url = `https://127.0.0.1:${ports.portal}`;
let browser;
try {
  // Ready, and the search index has caught up with the cache.
  process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";
  const deadline = Date.now() + 600_000;
  let token;
  for (;;) {
    if (Date.now() > deadline) throw new Error("nexus-apiserver did not catch up in 10 minutes");
    try {
      if ((await fetch(`http://127.0.0.1:${ports.metrics}/readyz`)).ok) {
        token ??= (await (await fetch(`${url}/api/v1/dev/token`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ user: "bench@contoso.com", groups: ["nexus:engineering"] }) })).json()).token;
        const status = await (await fetch(`${url}/api/v1/status`, { headers: { Authorization: `Bearer ${token}` } })).json();
        if (status.cache?.synced && status.indexPending === 0) {
          emit({ metric: "apiserver_ready", seconds: (Date.now() - t0) / 1000, entities: status.entities ?? status.total ?? null });
          break;
        }
      }
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 500));
  }

  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync", "--enable-precise-memory-info"],
  });
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1366, height: 768 } });
  const session = JSON.stringify({ token, user: "bench@contoso.com", groups: ["nexus:engineering"], expiresAt: Date.now() + 3600_000 });
  await context.addInitScript((s) => sessionStorage.setItem("nexus.devSession", s), session);
  const page = await context.newPage();

  // 1. Navigation → first rows.
  const n0 = Date.now();
  await page.goto(`${url}/catalog`);
  const table = page.getByRole("table", { name: "Catalog entities" });
  await table.locator('[role="rowgroup"] [role="row"]').first().waitFor({ timeout: 60_000 });
  const total = Number(await table.getAttribute("aria-rowcount")) - 1;
  emit({ metric: "catalog_first_rows_ms", value: Date.now() - n0, total });

  // 2. Continuous scrolling through `pages` pages: frame intervals, rows in the DOM, pages fetched.
  const scroll = await page.evaluate(
    async ({ pages, seconds }) => {
      const s = document.querySelector('[data-testid="catalog-scroller"]');
      const frames = [];
      let maxDom = 0;
      let last = performance.now();
      const start = last;
      const target = pages * 200;
      const rowIndex = () => Math.max(...[...s.querySelectorAll('[role="row"]')].map((r) => Number(r.getAttribute("aria-rowindex")) || 0));
      let reached = 0;
      while (performance.now() - start < seconds * 1000) {
        await new Promise((r) => requestAnimationFrame(r));
        const now = performance.now();
        frames.push(now - last);
        last = now;
        s.scrollTop += 400; // ≈ 11 rows per frame: a fast fling, faster than anyone reads
        maxDom = Math.max(maxDom, s.querySelectorAll('[role="row"]').length);
        reached = Math.max(reached, rowIndex());
        if (reached >= target) break;
      }
      frames.sort((a, b) => a - b);
      const q = (p) => frames[Math.min(frames.length - 1, Math.floor((p / 100) * frames.length))];
      return { frames: frames.length, p50: q(50), p95: q(95), p99: q(99), max: frames[frames.length - 1], maxDom, reached, ms: performance.now() - start };
    },
    { pages, seconds },
  );
  emit({ metric: "catalog_scroll", pages_target: pages, rows_reached: scroll.reached, seconds: +(scroll.ms / 1000).toFixed(2), frames: scroll.frames, frame_p50_ms: +scroll.p50.toFixed(1), frame_p95_ms: +scroll.p95.toFixed(1), frame_p99_ms: +scroll.p99.toFixed(1), frame_max_ms: +scroll.max.toFixed(1), max_dom_rows: scroll.maxDom, rows_per_second: Math.round(scroll.reached / (scroll.ms / 1000)) });
  const heap = await page.evaluate(() => performance.memory?.usedJSHeapSize ?? null);
  emit({ metric: "js_heap_after_scroll_mib", value: heap ? +(heap / 1048576).toFixed(1) : null });

  // 3. A facet click → filtered rows.
  await page.evaluate(() => (document.querySelector('[data-testid="catalog-scroller"]').scrollTop = 0));
  const box = page.getByRole("complementary", { name: "Filters" }).getByRole("group", { name: "Kind" }).getByRole("checkbox").first();
  const f0 = Date.now();
  await box.click();
  await page.waitForURL(/kind=/, { timeout: 30_000 });
  await page.waitForFunction(() => {
    const t = document.querySelector('[aria-label="Catalog entities"]');
    return t && Number(t.getAttribute("aria-rowcount")) > 1 && !document.querySelector('[data-testid="catalog-scroller"]')?.textContent?.includes("Loading");
  }, null, { timeout: 30_000 });
  const filtered = Number(await table.getAttribute("aria-rowcount")) - 1;
  emit({ metric: "catalog_facet_click_ms", value: Date.now() - f0, rows: filtered, total });
} finally {
  await browser?.close();
  apiserver.kill("SIGTERM");
}
