//! The built `nexus` binary over every file of the supported `../shared/corpus` folders (read in
//! place, never copied). Whatever the input, the command keeps its contract:
//! - exit 0 with YAML documents on stdout, or
//! - exit 0 with `ignored: <reason>` on stderr (a well-formed payload Nexus does not use), or
//! - exit 1 with `error: <file>: …` on stderr (malformed input);
//!
//! never a panic (exit 101) or a signal. A few real values per source are checked on top.
// Helpers outside #[test] functions read the corpus and run the binary; failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    io::Write as _,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use serde::Deserialize as _;
use serde_json::{Value, json};

const NEXUS: &str = env!("CARGO_BIN_EXE_nexus");

fn corpus() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpus")).to_path_buf()
}

/// Every payload file under `dir`, recursively, sorted (SOURCE.md / README.md excluded).
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if !matches!(
                path.file_name().and_then(|n| n.to_str()),
                Some("SOURCE.md" | "README.md")
            ) {
                out.push(path);
            }
        }
    }
    out.sort();
    assert!(!out.is_empty(), "{}: no files", dir.display());
    out
}

/// What one run of the binary produced, once its contract has been checked.
#[derive(Debug)]
enum Verdict {
    /// Exit 0 and these documents on stdout.
    Docs(Vec<Value>),
    /// Exit 0, nothing on stdout, `ignored: <reason>` on stderr.
    Ignored(String),
    /// Exit 1 and `error: <file>: <message>` on stderr.
    Error(String),
}

impl Verdict {
    fn docs(self, what: &str) -> Vec<Value> {
        match self {
            Verdict::Docs(d) => d,
            other => panic!("{what}: expected documents, got {other:?}"),
        }
    }

    fn ignored(self, what: &str) -> String {
        match self {
            Verdict::Ignored(r) => r,
            other => panic!("{what}: expected `ignored:`, got {other:?}"),
        }
    }

    fn error(self, what: &str) -> String {
        match self {
            Verdict::Error(e) => e,
            other => panic!("{what}: expected an error, got {other:?}"),
        }
    }
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    what: String,
}

fn run(args: &[&str], stdin: Option<&[u8]>) -> Run {
    let mut child = Command::new(NEXUS)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run nexus");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(input).expect("write stdin");
    }
    let out = child.wait_with_output().expect("nexus output");
    let what = format!("nexus {}", args.join(" "));
    let code = out.status.code();
    assert!(
        code.is_some(),
        "{what}: killed by a signal: {:?}",
        out.status
    );
    assert_ne!(
        code,
        Some(101),
        "{what}: panicked:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Run {
        code,
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
        what,
    }
}

/// YAML documents of a stream, as JSON values.
fn yaml_docs(text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).expect("stdout is YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

/// Checks the contract of an `ingest` run over `file` (as named on the command line).
fn verdict(r: Run, file: &str) -> Verdict {
    let Run {
        code,
        stdout,
        stderr,
        what,
    } = r;
    match code {
        Some(0) => {
            if let Some(reason) = stderr.strip_prefix("ignored: ") {
                assert!(
                    stdout.trim().is_empty(),
                    "{what}: ignored but printed {stdout}"
                );
                assert!(
                    !reason.trim().is_empty(),
                    "{what}: ignored without a reason"
                );
                return Verdict::Ignored(reason.trim().to_string());
            }
            assert!(stderr.is_empty(), "{what}: unexpected stderr {stderr}");
            let docs = if stdout.trim_start().starts_with('[') {
                serde_json::from_str::<Vec<Value>>(&stdout).expect("stdout is a JSON array")
            } else {
                yaml_docs(&stdout)
            };
            assert!(
                !docs.is_empty(),
                "{what}: exit 0 without documents or `ignored:`"
            );
            Verdict::Docs(docs)
        }
        Some(1) => {
            let prefix = format!("error: {file}: ");
            assert!(
                stderr.starts_with(&prefix),
                "{what}: expected `{prefix}…` on stderr, got {stderr:?}"
            );
            assert!(stdout.is_empty(), "{what}: error but printed {stdout}");
            Verdict::Error(stderr[prefix.len()..].trim().to_string())
        }
        other => panic!("{what}: exit code {other:?}; stderr: {stderr}"),
    }
}

fn ingest(source: &str, event: Option<&str>, file: &Path, extra: &[&str]) -> Verdict {
    let f = file.to_str().expect("UTF-8 path");
    let mut args = vec!["ingest", source, "--file", f];
    if let Some(e) = event {
        args.extend(["--event", e]);
    }
    args.extend(extra);
    verdict(run(&args, None), f)
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn status_patches(docs: &[Value]) -> Vec<&Value> {
    docs.iter()
        .filter_map(|d| d.get("statusPatch"))
        .collect::<Vec<_>>()
}

/// Every list item of every status patch.
fn list_items(docs: &[Value]) -> Vec<&Value> {
    status_patches(docs)
        .into_iter()
        .flat_map(|p| p["lists"].as_array().into_iter().flatten())
        .filter_map(|op| op.get("item"))
        .collect()
}

/// Runs every file of a folder through `source`; returns the verdicts by file name.
fn every(source: &str, folder: &str) -> Vec<(String, Verdict)> {
    files(&corpus().join(folder))
        .into_iter()
        .map(|f| {
            let name = f.file_name().unwrap().to_string_lossy().to_string();
            (name, ingest(source, None, &f, &[]))
        })
        .collect()
}

fn take(results: &mut Vec<(String, Verdict)>, name: &str) -> Verdict {
    let i = results
        .iter()
        .position(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("{name} not in the corpus"));
    results.remove(i).1
}

#[test]
fn github_webhooks_every_delivery() {
    let root = corpus().join("github-webhooks/octokit-webhooks");
    let mut counts = [0usize; 3];
    for dir in files(&root)
        .iter()
        .filter_map(|f| f.parent())
        .collect::<std::collections::BTreeSet<_>>()
    {
        let event = dir.file_name().unwrap().to_str().unwrap();
        for f in files(dir) {
            match ingest("github", Some(event), &f, &[]) {
                Verdict::Docs(_) => counts[0] += 1,
                Verdict::Ignored(_) => counts[1] += 1,
                Verdict::Error(_) => counts[2] += 1,
            }
        }
    }
    assert!(counts[0] >= 20, "documents / ignored / errors: {counts:?}");
    assert!(counts[1] >= 100, "documents / ignored / errors: {counts:?}");

    // pull_request opened: a status patch on the repository listing the PR by number.
    let file = root.join("pull_request/opened.payload.json");
    let payload: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let docs = ingest("github", Some("pull_request"), &file, &[]).docs("pull_request opened");
    let patches = status_patches(&docs);
    assert!(!patches.is_empty(), "{docs:?}");
    assert_eq!(patches[0]["target"]["by"], "repositoryUrl");
    assert_eq!(
        patches[0]["target"]["url"],
        payload["repository"]["html_url"]
    );
    let numbers: Vec<&Value> = list_items(&docs).iter().map(|i| &i["number"]).collect();
    assert!(numbers.contains(&&payload["number"]), "{numbers:?}");

    // repository created: a Repository object.
    let docs = ingest(
        "github",
        Some("repository"),
        &root.join("repository/created.payload.json"),
        &[],
    )
    .docs("repository created");
    let repos = of_kind(&docs, "Repository");
    assert_eq!(repos[0]["metadata"]["name"], "octocoders-hello-world");
    assert_eq!(
        repos[0]["spec"]["url"],
        "https://github.com/Octocoders/Hello-World"
    );

    // ping and events Nexus does not use are ignored with a reason.
    let reason = ingest("github", Some("ping"), &files(&root.join("ping"))[0], &[]).ignored("ping");
    assert!(reason.contains("ping"), "{reason}");
    let reason = ingest("github", Some("star"), &files(&root.join("star"))[0], &[]).ignored("star");
    assert!(reason.contains("not used by Nexus"), "{reason}");
}

/// Each GitHub REST example with the resource that reads it (None: Nexus does not read it).
const GITHUB_REST: &[(&str, Option<&str>)] = &[
    ("check-run-paginated.json", None),
    ("check-run.json", None),
    ("codeowners-errors.json", None),
    ("dependabot-alert-dismissed.json", Some("dependabot-alerts")),
    ("dependabot-alert-open.json", Some("dependabot-alerts")),
    (
        "dependabot-alerts-for-repository.json",
        Some("dependabot-alerts"),
    ),
    ("deployment-items.json", Some("deployments")),
    ("deployment-status-items.json", Some("deployment-statuses")),
    ("deployment-status.json", Some("deployment-statuses")),
    ("deployment.json", Some("deployments")),
    ("environments.json", None),
    ("full-repository.json", Some("repositories")),
    ("installation.json", None),
    ("minimal-repository-items.json", Some("repositories")),
    ("pull-request-simple-items.json", Some("pulls")),
    ("pull-request.json", Some("pulls")),
    ("release.json", None),
    ("repository-ruleset.json", Some("rulesets")),
    ("team-items.json", None),
    ("workflow-paginated.json", None),
    ("workflow-run-paginated.json", Some("workflow-runs")),
    ("workflow-run.json", Some("workflow-runs")),
];

const GITHUB_RESOURCES: &[&str] = &[
    "repositories",
    "pulls",
    "deployments",
    "deployment-statuses",
    "workflow-runs",
    "dependabot-alerts",
    "rulesets",
    "branch-protection",
    "sbom",
    "codeowners",
];

#[test]
fn github_rest_every_response() {
    let dir = corpus().join("github-rest-api");
    let on_disk: Vec<String> = files(&dir)
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().to_string())
        .collect();
    let listed: Vec<&str> = GITHUB_REST.iter().map(|(f, _)| *f).collect();
    assert_eq!(
        on_disk, listed,
        "a new file in github-rest-api: map it here"
    );
    let repo = ["--repository", "https://github.com/octocat/Hello-World"];
    for (file, resource) in GITHUB_REST {
        let path = dir.join(file);
        match resource {
            Some(r) => {
                let docs = ingest("github", Some(&format!("rest/{r}")), &path, &repo)
                    .docs(&format!("{file} as {r}"));
                assert!(!docs.is_empty());
            }
            None => {
                let e = ingest("github", Some("rest/checks"), &path, &[]).error(file);
                assert!(e.contains("unknown GitHub REST resource `checks`"), "{e}");
            }
        }
        // Read as any resource, right or wrong, with and without the repository: the contract holds.
        for r in GITHUB_RESOURCES {
            let _ = ingest("github", Some(&format!("rest/{r}")), &path, &[]);
            let _ = ingest("github", Some(&format!("rest/{r}")), &path, &repo);
        }
    }

    let docs = ingest(
        "github",
        Some("rest/pulls"),
        &dir.join("pull-request-simple-items.json"),
        &repo,
    )
    .docs("pulls");
    // A full list: the open pull requests replace the status list.
    let patch = status_patches(&docs)[0];
    assert_eq!(
        patch["target"]["url"],
        "https://github.com/octocat/Hello-World"
    );
    assert_eq!(patch["set"]["pullRequests"][0]["number"], 1347);
    let docs = ingest(
        "github",
        Some("rest/repositories"),
        &dir.join("full-repository.json"),
        &[],
    )
    .docs("repositories");
    assert_eq!(
        of_kind(&docs, "Repository")[0]["metadata"]["name"],
        "octocat-hello-world"
    );
}

#[test]
fn ado_service_hooks_every_delivery() {
    let mut results = every("azure-devops", "ado-service-hooks");
    let e = take(&mut results, "bad.noEventType.json").error("bad.noEventType");
    assert!(e.starts_with("eventType: "), "{e}");
    let r = take(&mut results, "bad.notMappedEventType.json").ignored("notMapped");
    assert!(r.contains("unknownType"), "{r}");
    let r = take(&mut results, "tfvc.checkin.json").ignored("tfvc");
    assert!(r.contains("tfvc.checkin"), "{r}");

    let docs = take(&mut results, "git.pullrequest.created.json").docs("PR created");
    let items = list_items(&docs);
    assert!(items.iter().any(|i| i["number"] == 1), "{items:?}");
    let docs = take(&mut results, "git.push.json").docs("git.push");
    assert!(!status_patches(&docs).is_empty(), "{docs:?}");
    // Everything else that is not ignored yields documents.
    for (name, v) in results {
        if !matches!(v, Verdict::Ignored(_)) {
            v.docs(&name);
        }
    }
}

/// Each Azure DevOps REST example (a spec example file; the CLI reads its 200 body) with the
/// resource that reads it.
const ADO_REST: &[(&str, Option<&str>)] = &[
    ("approvalsAndChecks__7.1__runs__GET__CheckSuite.json", None),
    (
        "git__7.1__pullRequests__GET__git_repositories__repositoryId__pullRequests.json",
        Some("pullRequests"),
    ),
    (
        "git__7.1__pushes__GET__git_repositories__repositoryId__pushes.json",
        Some("pushes"),
    ),
    ("hooks__7.1__publishers__GET__hooks_publishers.json", None),
    (
        "hooks__7.1__subscriptions__GET__hooks_subscriptions_.json",
        None,
    ),
    (
        "release__7.1__deployments__GET__ListDeploymentsForAGivenDefinitionId.json",
        Some("deployments"),
    ),
    (
        "release__7.1__releases__GET__GetARelease.json",
        Some("releases"),
    ),
    (
        "release__7.1__releases__Query_ListAllReleases.json",
        Some("releases"),
    ),
    (
        "wit__7.1__workItems__GET__wit_WorkItems_id.json",
        Some("workItems"),
    ),
    (
        "wit__7.1__workItems__GET__wit_WorkItems_ids-_ids_.json",
        Some("workItems"),
    ),
];

const ADO_RESOURCES: &[&str] = &[
    "projects",
    "repositories",
    "pipelines",
    "buildDefinitions",
    "builds",
    "workItems",
    "pullRequests",
    "pushes",
    "releases",
    "deployments",
];

#[test]
fn ado_rest_every_response() {
    let dir = corpus().join("ado-rest-api");
    let on_disk: Vec<String> = files(&dir)
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().to_string())
        .collect();
    let listed: Vec<&str> = ADO_REST.iter().map(|(f, _)| *f).collect();
    assert_eq!(on_disk, listed, "a new file in ado-rest-api: map it here");
    for (file, resource) in ADO_REST {
        let path = dir.join(file);
        match resource {
            // Releases that deployed nothing change nothing: `ignored:` says so.
            Some("releases") => {
                let r = ingest("azure-devops", Some("rest/releases"), &path, &[]).ignored(file);
                assert!(r.contains("nothing to apply"), "{r}");
            }
            Some(r) => {
                ingest("azure-devops", Some(&format!("rest/{r}")), &path, &[]).docs(file);
            }
            None => {
                let e = ingest("azure-devops", Some("rest/hooks"), &path, &[]).error(file);
                assert!(
                    e.contains("unknown Azure DevOps REST resource `hooks`"),
                    "{e}"
                );
            }
        }
        for r in ADO_RESOURCES {
            let _ = ingest("azure-devops", Some(&format!("rest/{r}")), &path, &[]);
        }
    }
    let docs = ingest(
        "azure-devops",
        Some("rest/pullRequests"),
        &dir.join(ADO_REST[1].0),
        &[],
    )
    .docs("pullRequests");
    let numbers: Vec<&Value> = list_items(&docs).iter().map(|i| &i["number"]).collect();
    assert_eq!(numbers, [&json!(22), &json!(21), &json!(1)]);
}

#[test]
fn azure_monitor_every_alert() {
    for (name, v) in every("azure-monitor", "azure-monitor-alerts") {
        if name.starts_with("full-payload.") {
            let docs = v.docs(&name);
            let incidents = of_kind(&docs, "Incident");
            assert_eq!(incidents.len(), 1, "{name}: {docs:?}");
            assert_eq!(incidents[0]["spec"]["source"], "azureMonitor", "{name}");
        } else if name.starts_with("alertContext.") {
            // A bare alertContext fragment is not a delivery.
            let e = v.error(&name);
            assert!(e.starts_with("data.essentials: "), "{name}: {e}");
        } else {
            let r = v.ignored(&name);
            assert!(r.contains("common alert schema"), "{name}: {r}");
        }
    }
}

#[test]
fn pagerduty_every_delivery() {
    for (name, v) in every("pagerduty", "pagerduty") {
        let path = corpus().join("pagerduty/zulip-fixtures").join(&name);
        let payload: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let id = payload["event"]["data"]["id"]
            .as_str()
            .expect("incident id");
        let docs = v.docs(&name);
        let incidents = of_kind(&docs, "Incident");
        assert_eq!(incidents.len(), 1, "{name}");
        assert_eq!(
            incidents[0]["metadata"]["name"],
            format!("pagerduty-{}", id.to_lowercase()),
            "{name}"
        );
        assert_eq!(incidents[0]["spec"]["externalId"], id, "{name}");
        if name == "triggered_v3.json" {
            assert_eq!(incidents[0]["spec"]["state"], "triggered");
            assert_eq!(incidents[0]["spec"]["title"], "Test Incident 3");
        }
        if name == "resolved_v3.json" {
            assert_eq!(incidents[0]["spec"]["state"], "resolved");
        }
    }
}

#[test]
fn opsgenie_every_delivery() {
    let mut results = every("opsgenie", "opsgenie");
    let r = take(&mut results, "escalate.json").ignored("escalate");
    assert!(r.contains("escalation"), "{r}");
    let docs = take(&mut results, "create.json").docs("create");
    let incident = of_kind(&docs, "Incident")[0];
    assert_eq!(incident["spec"]["source"], "opsgenie");
    assert!(
        incident["metadata"]["name"]
            .as_str()
            .unwrap()
            .starts_with("opsgenie-")
    );
    let docs = take(&mut results, "close.json").docs("close");
    assert_eq!(of_kind(&docs, "Incident")[0]["spec"]["state"], "resolved");
    for (name, v) in results {
        assert_eq!(of_kind(&v.docs(&name), "Incident").len(), 1, "{name}");
    }
}

#[test]
fn resource_graph_every_response() {
    let mut results = every("resource-graph", "azure-resource-graph");
    let e = take(
        &mut results,
        "test_mgmt_resourcegraph.test_resources_malformed_query.yaml",
    )
    .error("malformed query");
    assert!(e.contains("HTTP 400"), "{e}");
    for name in [
        "ResourcesSummarizeQuery.2024-04-01.json",
        "ResourcesComplexQuery.2024-04-01.json",
        "ResourcesPropertiesQuery.2024-04-01.json",
    ] {
        let r = take(&mut results, name).ignored(name);
        assert!(r.contains("no resource ids"), "{name}: {r}");
    }
    for (name, v) in results {
        let docs = v.docs(&name);
        let resources = of_kind(&docs, "AzureResource");
        assert!(!resources.is_empty(), "{name}");
        for r in resources {
            let id = r["spec"]["resourceId"].as_str().unwrap();
            assert!(id.starts_with("/subscriptions/"), "{name}: {id}");
        }
    }
}

#[test]
fn terraform_state_every_file() {
    let mut results = every("terraform-state", "terraform-state");
    let docs = take(&mut results, "azure.tfstate").docs("azure.tfstate");
    let resources = of_kind(&docs, "AzureResource");
    assert!(resources.len() >= 2, "{docs:?}");
    assert!(
        resources
            .iter()
            .any(|r| r["metadata"]["name"] == "myvm-0c3045"
                && r["spec"]["resourceGroup"] == "myResourceGroup")
    );
    for name in [
        "version_3_state.json",
        "invalid_version_state.json",
        "roundtrip_v1-simple.in.tfstate",
        "roundtrip_v3-simple.in.tfstate",
    ] {
        let e = take(&mut results, name).error(name);
        assert!(e.starts_with("unsupported version: "), "{name}: {e}");
    }
    // No other Azure state in the corpus: all the rest is ignored, naming the providers.
    for (name, v) in results {
        let r = v.ignored(&name);
        assert!(r.contains("no azurerm resources"), "{name}: {r}");
    }
}

#[test]
fn arm_deployments_every_recording() {
    for (name, v) in every("arm-deployment", "arm-deployments") {
        let docs = v.docs(&name);
        let resources = of_kind(&docs, "AzureResource");
        assert!(!resources.is_empty(), "{name}");
        assert!(
            resources[0]["metadata"]["annotations"]["nexus.dev/arm-deployment"]
                .as_str()
                .unwrap()
                .contains("/providers/Microsoft.Resources/deployments/"),
            "{name}"
        );
    }
}

fn backstage_dir() -> PathBuf {
    corpus().join("backstage-examples/packages/catalog-model/examples")
}

/// `convert backstage` over every catalog file, one at a time, then over the whole folder.
#[test]
fn backstage_every_catalog_file() {
    let dir = backstage_dir();
    for f in files(&dir) {
        let p = f.to_str().unwrap();
        let r = run(&["convert", "backstage", p], None);
        assert_eq!(r.code, Some(0), "{}: {}", r.what, r.stderr);
        assert!(r.stderr.contains("converted "), "{}: {}", r.what, r.stderr);
        for doc in yaml_docs(&r.stdout) {
            assert!(doc["apiVersion"].is_string(), "{p}: {doc}");
            assert!(doc["metadata"]["name"].is_string(), "{p}: {doc}");
        }
    }
    let r = run(&["convert", "backstage", dir.to_str().unwrap()], None);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let docs = yaml_docs(&r.stdout);
    assert!(docs.len() >= 40, "{}", docs.len());
    let petstore = docs
        .iter()
        .find(|d| d["kind"] == "Component" && d["metadata"]["name"] == "petstore")
        .expect("petstore component");
    assert_eq!(
        petstore["metadata"]["annotations"]["nexus.dev/external-id"],
        "component:default/petstore"
    );
    assert!(!of_kind(&docs, "Team").is_empty());
    assert!(!of_kind(&docs, "User").is_empty());
    assert!(!of_kind(&docs, "API").is_empty());
}

#[test]
fn backstage_strict_fails_on_unresolved_references() {
    let dir = backstage_dir();
    let component = dir.join("components/petstore-component.yaml");
    let r = run(
        &[
            "convert",
            "backstage",
            "--strict",
            component.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("unresolved: "), "{}", r.stderr);
    // The same file without --strict, and a self-contained file with it, succeed.
    let r = run(&["convert", "backstage", component.to_str().unwrap()], None);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let org = dir.join("acme-corp.yaml");
    let r = run(
        &["convert", "backstage", "--strict", org.to_str().unwrap()],
        None,
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    // A file that is not there.
    let r = run(
        &["convert", "backstage", "/nonexistent/catalog-info.yaml"],
        None,
    );
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.stderr.starts_with("error: "), "{}", r.stderr);
}

#[test]
fn json_output() {
    let file = corpus().join("pagerduty/zulip-fixtures/triggered_v3.json");
    let docs = ingest("pagerduty", None, &file, &["-o", "json"]).docs("json");
    let r = run(
        &[
            "ingest",
            "pagerduty",
            "-f",
            file.to_str().unwrap(),
            "-o",
            "json",
        ],
        None,
    );
    let parsed: Value = serde_json::from_str(&r.stdout).expect("one JSON array");
    assert_eq!(parsed.as_array().map(Vec::len), Some(docs.len()));
    assert_eq!(docs[0]["metadata"]["name"], "pagerduty-pfqzpsy");
    // The same documents as YAML.
    let yaml = ingest("pagerduty", None, &file, &[]).docs("yaml");
    assert_eq!(yaml, docs);
}

#[test]
fn github_needs_an_event() {
    let file = corpus().join("github-webhooks/octokit-webhooks/ping");
    let file = &files(&file)[0];
    let r = run(
        &["ingest", "github", "--file", file.to_str().unwrap()],
        None,
    );
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stderr
            .starts_with("error: --event is required for github: the X-GitHub-Event header"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("rest/<resource>"), "{}", r.stderr);
    // Checked before reading: a missing file does not hide the usage mistake.
    let r = run(&["ingest", "github", "--file", "/nonexistent"], None);
    assert!(
        r.stderr.starts_with("error: --event is required"),
        "{}",
        r.stderr
    );
    // --event where it means nothing, and a webhook event name for Azure DevOps.
    let r = run(
        &[
            "ingest",
            "pagerduty",
            "--event",
            "x",
            "--file",
            "/nonexistent",
        ],
        None,
    );
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr
            .contains("--event is only used for github and azure-devops")
    );
    let r = run(
        &[
            "ingest",
            "azure-devops",
            "--event",
            "git.push",
            "--file",
            "/nonexistent",
        ],
        None,
    );
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("rest/<resource>"), "{}", r.stderr);
    // An empty event name is a parser error naming the header.
    let e = ingest("github", Some(""), file, &[]).error("empty event");
    assert!(e.starts_with("X-GitHub-Event: "), "{e}");
    // A file that cannot be read.
    let r = run(
        &["ingest", "pagerduty", "--file", "/nonexistent/payload.json"],
        None,
    );
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.starts_with("error: /nonexistent/payload.json: "),
        "{}",
        r.stderr
    );
}

#[test]
fn stdin() {
    let file = corpus().join("pagerduty/zulip-fixtures/triggered_v3.json");
    let body = std::fs::read(&file).unwrap();
    let from_stdin = verdict(
        run(&["ingest", "pagerduty", "--file", "-"], Some(&body)),
        "<stdin>",
    )
    .docs("stdin");
    assert_eq!(
        from_stdin,
        ingest("pagerduty", None, &file, &[]).docs("file")
    );
    let e = verdict(
        run(
            &["ingest", "opsgenie", "--file", "-"],
            Some(b"{\"action\": "),
        ),
        "<stdin>",
    )
    .error("truncated stdin");
    assert!(e.starts_with("not valid JSON"), "{e}");
    let r = verdict(
        run(
            &["ingest", "github", "--event", "star", "-f", "-"],
            Some(b"{}"),
        ),
        "<stdin>",
    )
    .ignored("star");
    assert!(r.contains("star"), "{r}");
}

#[test]
fn context_file() {
    let dir = std::env::temp_dir().join(format!("nexus-cli-corpus-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ctx = dir.join("context.yaml");
    std::fs::write(
        &ctx,
        "namespaces:\n  default: platform\n  rules:\n  - pattern: octocoders/*\n    namespace: team-octo\n\
         tags:\n  owner: [owner]\n  team: [team]\n  environment: [env]\n  system: [system]\n\
         services:\n  entries:\n    PXYZ: [component:platform/checkout]\n\
         repository: repository:team-platform/infra\n",
    )
    .unwrap();
    let c = ctx.to_str().unwrap();

    let repo = corpus().join("github-webhooks/octokit-webhooks/repository/created.payload.json");
    let docs = ingest("github", Some("repository"), &repo, &["--context", c]).docs("context");
    assert_eq!(
        of_kind(&docs, "Repository")[0]["metadata"]["namespace"],
        "team-octo"
    );
    // --context overrides --namespace.
    let docs = ingest(
        "github",
        Some("repository"),
        &repo,
        &["--context", c, "-n", "ignored"],
    )
    .docs("context and namespace");
    assert_eq!(
        of_kind(&docs, "Repository")[0]["metadata"]["namespace"],
        "team-octo"
    );
    let docs = ingest("github", Some("repository"), &repo, &["-n", "elsewhere"]).docs("ns");
    assert_eq!(
        of_kind(&docs, "Repository")[0]["metadata"]["namespace"],
        "elsewhere"
    );

    // The default namespace and the repository reach IaC objects.
    let state = corpus().join("terraform-state/inframap/azure.tfstate");
    let docs = ingest("terraform-state", None, &state, &["--context", c]).docs("tfstate");
    for r in of_kind(&docs, "AzureResource") {
        assert_eq!(r["metadata"]["namespace"], "platform");
        assert_eq!(r["spec"]["repository"], "repository:team-platform/infra");
    }

    // A partial context: what it leaves out keeps its default (--namespace included).
    let partial = dir.join("partial.yaml");
    std::fs::write(
        &partial,
        "namespaces:\n  rules:\n  - pattern: octocoders/*\n    namespace: team-octo\n",
    )
    .unwrap();
    let p = partial.to_str().unwrap();
    let docs = ingest("github", Some("repository"), &repo, &["--context", p]).docs("partial");
    assert_eq!(
        of_kind(&docs, "Repository")[0]["metadata"]["namespace"],
        "team-octo"
    );
    let docs = ingest(
        "terraform-state",
        None,
        &state,
        &["--context", p, "-n", "infra"],
    )
    .docs("partial tfstate");
    for r in of_kind(&docs, "AzureResource") {
        assert_eq!(r["metadata"]["namespace"], "infra");
        assert!(r["spec"].get("repository").is_none(), "{r}");
    }

    // A context file that is not one.
    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, "namespaces: [1, 2]\n").unwrap();
    let r = run(
        &[
            "ingest",
            "terraform-state",
            "-f",
            state.to_str().unwrap(),
            "--context",
            bad.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stderr.starts_with(&format!(
            "error: {}: not an ingestion context",
            bad.display()
        )),
        "{}",
        r.stderr
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Malformed input of every kind is an error naming the file, never a panic.
#[test]
fn malformed_input() {
    let dir = std::env::temp_dir().join(format!("nexus-cli-malformed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases: &[(&str, &[u8])] = &[
        ("empty.json", b""),
        ("truncated.json", b"{\"x\": "),
        ("binary.json", b"\xff\xfe\x00\x01"),
        ("array.json", b"[1, 2, 3]"),
        ("string.json", b"\"hello\""),
        (
            "nulls.json",
            b"{\"event\": null, \"data\": null, \"resources\": null}",
        ),
        ("yaml.yaml", b"interactions:\n- response: 7\n"),
    ];
    let sources: &[(&str, Option<&str>)] = &[
        ("github", Some("push")),
        ("github", Some("pull_request")),
        ("github", Some("rest/repositories")),
        ("azure-devops", None),
        ("azure-devops", Some("rest/workItems")),
        ("azure-monitor", None),
        ("pagerduty", None),
        ("opsgenie", None),
        ("resource-graph", None),
        ("terraform-state", None),
        ("arm-deployment", None),
    ];
    for (name, content) in cases {
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        for (source, event) in sources {
            // Any of the three outcomes; `verdict` rejects panics and unnamed errors.
            let _ = ingest(source, *event, &path, &[]);
        }
    }
    let e = ingest("pagerduty", None, &dir.join("truncated.json"), &[]).error("truncated");
    assert!(e.starts_with("not valid JSON"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

/// `nexus ingest runbook`: the corpus has no Markdown runbooks, so the files are written here.
#[test]
fn runbook_files() {
    let dir = std::env::temp_dir().join(format!("nexus-cli-runbook-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("failover.md");
    std::fs::write(
        &good,
        "---\ntitle: Ledger failover\ntags: [database]\nappliesTo: [component:payments/ledger]\n\
         alerts: [ledger-db-*]\n---\n# Ledger failover\n\nSteps.\n",
    )
    .unwrap();
    let docs = ingest(
        "runbook",
        None,
        &good,
        &[
            "--repository",
            "https://github.com/contoso/ops-docs",
            "--path",
            "runbooks/db/failover.md",
            "--ref",
            "main",
            "-n",
            "ops",
        ],
    )
    .docs("runbook in a repository");
    let runbooks = of_kind(&docs, "Runbook");
    assert_eq!(runbooks.len(), 1, "{docs:?}");
    let r = runbooks[0];
    assert_eq!(
        r["metadata"]["name"],
        "contoso-ops-docs-runbooks-db-failover"
    );
    assert_eq!(r["metadata"]["namespace"], "ops");
    assert_eq!(r["spec"]["source"]["path"], "runbooks/db/failover.md");
    assert_eq!(r["spec"]["source"]["ref"], "main");
    assert_eq!(r["spec"]["alerts"], json!(["ledger-db-*"]));
    assert_eq!(
        r["spec"]["content"], "# Ledger failover\n\nSteps.\n",
        "the Markdown without its front matter"
    );
    // The repository reference is resolved by URL when applied: shown as a status patch.
    let patch = status_patches(&docs)[0];
    assert_eq!(patch["resolveRefs"][0]["field"], "/spec/source/repository");

    // Without a repository: inline content only, named after the file.
    let docs = ingest("runbook", None, &good, &[]).docs("inline runbook");
    let r = of_kind(&docs, "Runbook")[0];
    assert_eq!(r["metadata"]["name"], "failover");
    assert!(r["spec"].get("source").is_none());

    // Bad front matter: an error naming the file, its line and the field.
    let bad = dir.join("bad.md");
    std::fs::write(&bad, "---\ntitle: t\nappliesTo: [\"Not A Ref!\"]\n---\nx\n").unwrap();
    let e = ingest("runbook", None, &bad, &[]).error("bad reference");
    assert!(e.starts_with("bad.md:3: appliesTo[0]: "), "{e}");
    let bad_yaml = dir.join("bad-yaml.md");
    std::fs::write(&bad_yaml, "---\ntitle: [unclosed\n---\n").unwrap();
    let e = ingest("runbook", None, &bad_yaml, &[]).error("bad YAML");
    assert!(e.contains("bad-yaml.md:"), "{e}");

    // No front matter: not a runbook.
    let readme = dir.join("README.md");
    std::fs::write(&readme, "# Runbooks\n\nAn index.\n").unwrap();
    let why = ingest("runbook", None, &readme, &[]).ignored("README");
    assert!(why.contains("no front matter"), "{why}");

    // --path/--ref belong to runbooks; --ref needs a repository.
    let r = run(
        &[
            "ingest",
            "pagerduty",
            "--path",
            "x.md",
            "--file",
            "/nonexistent",
        ],
        None,
    );
    assert!(
        r.stderr
            .contains("--path and --ref are only used for runbook"),
        "{}",
        r.stderr
    );
    let f = good.to_str().unwrap();
    let r = run(&["ingest", "runbook", "--ref", "main", "--file", f], None);
    assert!(
        r.stderr.contains("--ref needs --repository"),
        "{}",
        r.stderr
    );
    let _ = std::fs::remove_dir_all(&dir);
}
