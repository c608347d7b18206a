//! Steps the e2e suites share: apply manifests, run kubectl, wait for ActionRun phases, make a
//! GitHub App key. They fail the test by panicking, with what kubectl or the controller said.

#![allow(clippy::expect_used)] // a failed step fails the test

use std::{future::Future, process::Command, time::Duration};

use crate::{ControllerProcess, kubectl, repo_root, wait_for};

/// [`wait_for`] for checks that answer "not yet" with `None`.
pub async fn wait_some<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    wait_for(what, timeout, || {
        let fut = check();
        async move { Ok(fut.await?.ok_or_else(|| "not yet".to_string())) }
    })
    .await
}

/// `kubectl apply --server-side` of `yaml`, in `ns` when given; panics with kubectl's output.
pub fn kubectl_apply(ns: Option<&str>, yaml: &str) {
    let mut args = vec!["apply", "--server-side"];
    if let Some(ns) = ns {
        args.extend(["-n", ns]);
    }
    args.extend(["-f", "-"]);
    let (ok, out, err) = kubectl(&args, Some(yaml)).expect("kubectl");
    assert!(ok, "kubectl apply failed: {out}{err}\n{yaml}");
}

/// [`kubectl_apply`] into namespace `ns`.
pub fn apply_in(ns: &str, yaml: &str) {
    kubectl_apply(Some(ns), yaml);
}

/// A kubectl command that must succeed; its standard output.
pub fn kubectl_ok(args: &[&str]) -> String {
    let (ok, out, err) = kubectl(args, None).expect("kubectl");
    assert!(ok, "kubectl {} failed: {out}{err}", args.join(" "));
    out
}

/// A GitHub App private key (PKCS#1 PEM, as GitHub issues them), made with `openssl`.
pub fn rsa_key() -> String {
    let out = Command::new("openssl")
        .args(["genrsa", "-traditional", "2048"])
        .output()
        .expect("openssl is needed to make a test RSA key");
    assert!(out.status.success(), "openssl genrsa failed");
    String::from_utf8(out.stdout).expect("PEM is text")
}

/// Waits until ActionRun `ns/run` reports phase `want`; panics with the controller's log.
pub async fn wait_run_phase(
    ns: &str,
    run: &str,
    want: &str,
    timeout: Duration,
    controller: &ControllerProcess,
) -> serde_json::Value {
    wait_for(&format!("run {run} {want}"), timeout, || async move {
        let (_, out, _) = kubectl(
            &[
                "get",
                "actionruns.actions.nexus.dev",
                run,
                "-n",
                ns,
                "-o",
                "json",
            ],
            None,
        )?;
        let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        let phase = v
            .pointer("/status/phase")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("");
        Ok(if phase == want {
            Ok(v)
        } else {
            Err(format!("phase {phase:?}: {}", v["status"]))
        })
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\ncontroller log:\n{}", controller.log_tail()))
}

/// The chart's admission policies, with the test controller's identity as the status writer.
pub fn install_policies() {
    let chart = repo_root().join("charts/nexus");
    let out = std::process::Command::new("helm")
        .args(["template", "t"])
        .arg(&chart)
        .args([
            "--show-only",
            "templates/actions-policies.yaml",
            "--set",
            "actions.controllerUsername=nexus-admin",
        ])
        .output()
        .expect("helm");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml = String::from_utf8(out.stdout).expect("helm prints text");
    let (ok, o, e) = kubectl(&["apply", "--server-side", "-f", "-"], Some(&yaml)).expect("kubectl");
    assert!(ok, "{o}{e}");
}

/// kube-apiserver enforces a new policy a moment after it is created: probe with a server-side
/// dry run until a forged requester is refused.
pub fn wait_policies_enforced(ns: &str) {
    let probe = "apiVersion: actions.nexus.dev/v1alpha1\nkind: ActionRun\nmetadata: {name: policy-probe}\nspec: {action: none, requester: somebody-else, inputs: {}}\n";
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (ok, _, err) = kubectl(
            &[
                "create",
                "--dry-run=server",
                "-n",
                ns,
                "-f",
                "-",
                "--as=policy-probe",
                "--as-group=system:masters",
            ],
            Some(probe),
        )
        .expect("kubectl");
        if !ok && err.contains("spec.requester must be the user creating the run") {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "admission policies not enforced after 30s: {err}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}
