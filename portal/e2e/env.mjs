// A `make dev`-style Nexus on loopback for the browser tests: the local control plane
// (hack/cluster.sh, own state dir), CRDs + examples/ + hack/dev-rbac.yaml, nexus-controller and
// nexus-apiserver (dev-auth, serving portal/dist). Everything it starts, it stops.
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, openSync, existsSync, writeFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";

export const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../..");

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function sh(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], ...opts });
}

async function waitFor(what, fn, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      if (await fn()) return;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ""}`);
}

export async function startEnv(log = console.log) {
  const state = process.env.NEXUS_CLUSTER_DIR ?? path.join(repo, ".nexus/portal-cluster");
  const bin = process.env.NEXUS_BIN_DIR ?? path.join(process.env.CARGO_TARGET_DIR ?? path.join(repo, "target"), "debug");
  const assets = process.env.NEXUS_PORTAL_ASSETS ?? path.join(repo, "portal/dist");
  for (const b of ["nexus-apiserver", "nexus-controller"]) {
    if (!existsSync(path.join(bin, b))) throw new Error(`${path.join(bin, b)} is missing: cargo build -p nexus-apiserver -p nexus-controller (or set NEXUS_BIN_DIR)`);
  }
  if (!existsSync(path.join(assets, "index.html"))) throw new Error(`${assets}/index.html is missing: npm run build first`);
  const k8sBin = sh(path.join(repo, "hack/build-k8s.sh"), ["path"]).trim().split("\n").pop();
  const env = { ...process.env, NEXUS_CLUSTER_DIR: state, PATH: `${k8sBin}:${process.env.PATH}` };

  log(`control plane in ${state}`);
  const up = sh(path.join(repo, "hack/cluster.sh"), ["up"], { env, cwd: repo, stdio: ["ignore", "pipe", "inherit"] });
  const kubeconfig = /export KUBECONFIG=(\S+)/.exec(up)?.[1];
  if (!kubeconfig) throw new Error(`hack/cluster.sh up printed no KUBECONFIG:\n${up}`);
  env.KUBECONFIG = kubeconfig;
  const kubectl = (...args) => sh("kubectl", args, { env, cwd: repo });
  const kubectlApply = (yaml) => execFileSync("kubectl", ["apply", "--server-side", "-f", "-"], { env, cwd: repo, input: yaml, encoding: "utf8" });
  kubectl("apply", "--server-side", "-f", "crds/");
  kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s");
  kubectl("apply", "--server-side", "-f", "examples/");
  kubectl("apply", "--server-side", "-f", "hack/dev-rbac.yaml");
  // As `make dev`: the action library in team-checkout and the approval admission policies
  // (the controller runs as nexus-admin here).
  kubectl("apply", "--server-side", "-k", "actions/", "-n", "team-checkout");
  kubectlApply(sh("helm", ["template", "nexus", "charts/nexus", "--show-only", "templates/actions-policies.yaml", "--set", "actions.controllerUsername=nexus-admin"], { env, cwd: repo }));
  // A policy is enforced a moment after it is created: wait (as the Rust e2e suites do) so the
  // first self-approval cannot slip through before it.
  await waitFor("the approval admission policies to be enforced", () => {
    try {
      execFileSync("kubectl", ["create", "--dry-run=server", "-n", "team-checkout", "-f", "-", "--as=policy-probe", "--as-group=system:masters"], {
        env, cwd: repo, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"],
        input: "apiVersion: actions.nexus.dev/v1alpha1\nkind: ActionRun\nmetadata: {name: policy-probe}\nspec: {action: none, requester: somebody-else, inputs: {}}\n",
      });
      return false;
    } catch (e) {
      return String(e.stderr).includes("spec.requester must be the user creating the run");
    }
  }, 30_000);
  // The scorecard templates, in the namespace the controller resolves bare names in (nexus-org).
  kubectl("apply", "--server-side", "-f", "scorecards/templates/");

  const ports = { aggregated: await freePort(), portal: await freePort(), metrics: await freePort(), cMetrics: await freePort(), cWebhook: await freePort() };
  const logs = path.join(state, "logs");
  mkdirSync(logs, { recursive: true });
  mkdirSync(path.join(state, "audit"), { recursive: true });
  // The audit view: nexus-apiserver reads the controller's audit log over its webhook listener
  // with a shared token.
  const auditToken = path.join(state, "audit-token");
  writeFileSync(auditToken, randomBytes(24).toString("hex"), { mode: 0o600 });
  const children = [];
  const start = (name, args) => {
    const out = openSync(path.join(logs, `${name}.log`), "a");
    const child = spawn(path.join(bin, name), args, { env, cwd: repo, stdio: ["ignore", out, out] });
    children.push(child);
    return child;
  };
  start("nexus-controller", [
    "--metrics-addr", `127.0.0.1:${ports.cMetrics}`, "--webhook-addr", `127.0.0.1:${ports.cWebhook}`,
    "--polling=false", "--lease-namespace", "default", "--log-format", "text", "--audit-log-dir", path.join(state, "audit"),
    "--audit-token-file", auditToken,
  ]);
  start("nexus-apiserver", [
    "serve", "--aggregated-addr", `127.0.0.1:${ports.aggregated}`, "--portal-addr", `127.0.0.1:${ports.portal}`,
    "--metrics-addr", `127.0.0.1:${ports.metrics}`,
    "--tls-cert-file", path.join(state, "pki/nexus-apiserver.crt"), "--tls-key-file", path.join(state, "pki/nexus-apiserver.key"),
    "--dev-auth", "--dev-key-file", path.join(state, "dev-auth/signing-key.pem"), "--log-format", "text",
    "--portal-assets-dir", assets,
    "--audit-url", `http://127.0.0.1:${ports.cWebhook}`, "--audit-token-file", auditToken,
  ]);
  const stop = async () => {
    for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
    await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once("exit", r)) : null)));
    if (!process.env.NEXUS_KEEP_CLUSTER) {
      try {
        sh(path.join(repo, "hack/cluster.sh"), ["down", "--purge"], { env, cwd: repo });
      } catch (e) {
        log(`cluster down: ${e.message}`);
      }
    }
  };
  try {
    for (const c of children) c.once("exit", (code) => code && log(`${c.spawnfile} exited with ${code}; logs in ${logs}`));
    await waitFor("nexus-apiserver /readyz", async () => (await fetch(`http://127.0.0.1:${ports.metrics}/readyz`)).ok, 90_000);
    // Ready once the catalog controller has resolved relations of the example org.
    await waitFor("the catalog controller to resolve relations", () => {
      const out = kubectl("get", "components.catalog.nexus.dev", "checkout-api", "-n", "team-checkout", "-o", "jsonpath={.status.relations[*].type}");
      return out.includes("dependsOn") || out.includes("ownedBy");
    }, 90_000);
    // Deployment history for DORA (waits for the owners it credits; see the script).
    sh(path.join(repo, "hack/dev-history.sh"), [], { env, cwd: repo });
  } catch (e) {
    await stop();
    throw e;
  }
  return { url: `https://127.0.0.1:${ports.portal}`, kubectl, kubectlApply, stop, logs, state };
}
