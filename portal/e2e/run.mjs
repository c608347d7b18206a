// Browser tests of the portal: playwright-core driving Debian's Chromium (no browser download)
// against a `make dev`-style Nexus on loopback (e2e/env.mjs). Screenshots and timings go to
// portal/test-results/.
//
//   node e2e/run.mjs            every test        NEXUS_TESTS=live,rbac  only these
//   CHROMIUM=/usr/bin/chromium  NEXUS_BIN_DIR=<cargo target>/debug  NEXUS_KEEP_CLUSTER=1
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { repo, startEnv } from "./env.mjs";
import { a11yTests } from "./a11y.mjs";
import { tests as portalTests } from "./tests.mjs";

// The accessibility sweep runs last, over pages the other tests have filled (a run, an approval).
const tests = [...portalTests, ...a11yTests];

const out = path.join(repo, "portal/test-results");
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const only = (process.env.NEXUS_TESTS ?? "").split(",").filter(Boolean);
const log = (m) => console.log(`[portal-e2e] ${m}`);

const started = Date.now();
const env = await startEnv(log);
log(`nexus-apiserver serves the portal at ${env.url} (setup ${((Date.now() - started) / 1000).toFixed(1)} s)`);
// playwright-core launches Chromium with a fresh temporary --user-data-dir of its own (it refuses
// one in args) and removes it on close; TMPDIR decides where.
let browser;
try {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
      "--no-first-run", "--disable-component-update", "--disable-sync",
    ],
  });
} catch (e) {
  await env.stop();
  throw e;
}
const results = [];
const figures = {};
try {
  for (const t of tests) {
    if (only.length && !only.includes(t.id)) continue;
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1366, height: 768 }, ...(t.contextOptions ?? {}) });
    const page = await context.newPage();
    const consoleErrors = [];
    page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
    page.on("pageerror", (e) => consoleErrors.push(e.message));
    const t0 = Date.now();
    try {
      await t.run({ page, context, env, url: env.url, shot: (name) => page.screenshot({ path: path.join(out, `${name}.png`), fullPage: true }), figures, log });
      // A CSP violation or an uncaught error is a failure even when the page looks right.
      const bad = consoleErrors.filter((m) => !/status of 40[34]/.test(m));
      if (bad.length) throw new Error(`browser console errors:\n  ${bad.join("\n  ")}`);
      results.push({ id: t.id, ok: true, ms: Date.now() - t0 });
      log(`ok   ${t.id} — ${t.title} (${Date.now() - t0} ms)`);
    } catch (e) {
      results.push({ id: t.id, ok: false, ms: Date.now() - t0, error: String(e.stack ?? e) });
      log(`FAIL ${t.id} — ${t.title}\n${e.stack ?? e}`);
      await page.screenshot({ path: path.join(out, `FAILED-${t.id}.png`), fullPage: true }).catch(() => {});
    } finally {
      await context.close();
    }
  }
} finally {
  await browser.close();
  await env.stop();
}
writeFileSync(path.join(out, "results.json"), JSON.stringify({ results, figures, seconds: (Date.now() - started) / 1000 }, null, 2));
const failed = results.filter((r) => !r.ok);
log(`${results.length - failed.length}/${results.length} passed in ${((Date.now() - started) / 1000).toFixed(1)} s; figures ${JSON.stringify(figures)}; screenshots in ${out}`);
if (failed.length || results.length === 0) process.exit(1);
