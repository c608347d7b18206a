//! The GitHub parsers over every recorded webhook delivery and REST response in
//! `../shared/corpus` (read in place, never copied).

use std::path::{Path, PathBuf};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use nexus_ingest::{
    Change, Context, Facts, ListOp, NamespaceRule, Outcome, Target, Upsert, github,
};
use serde_json::{Value, json};

fn corpus() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpus")).to_path_buf()
}

fn webhooks() -> PathBuf {
    corpus().join("github-webhooks/octokit-webhooks")
}

const NOW: &str = "2024-05-01T12:00:00Z";

fn ctx() -> Context {
    let mut ctx = Context::in_namespace("catalog");
    ctx.namespaces.rules.push(NamespaceRule {
        pattern: "octocat/*".into(),
        namespace: "team-octo".into(),
    });
    ctx.now = NOW.parse().ok().map(Time);
    ctx
}

fn ctx_for(repository: &str) -> Context {
    Context {
        repository: Some(repository.into()),
        ..ctx()
    }
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn hook(event: &str, file: &str) -> Outcome {
    let body = read(&webhooks().join(event).join(file));
    github::webhook(event, &body, &ctx()).unwrap_or_else(|e| panic!("{event}/{file}: {e}"))
}

fn rest_file(resource: &str, file: &str, ctx: &Context) -> Outcome {
    let body = read(&corpus().join("github-rest-api").join(file));
    github::rest(resource, &body, ctx).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn upserts(o: &Outcome) -> Vec<&Upsert> {
    o.changes()
        .iter()
        .filter_map(|c| match c {
            Change::Upsert(u) => Some(u),
            _ => None,
        })
        .collect()
}

fn facts(o: &Outcome) -> Vec<&Facts> {
    o.changes()
        .iter()
        .filter_map(|c| match c {
            Change::Facts(f) => Some(f),
            _ => None,
        })
        .collect()
}

fn only_facts(o: &Outcome) -> &Facts {
    let f = facts(o);
    assert_eq!(f.len(), 1, "{o:?}");
    f[0]
}

/// The one list operation of a Facts, as JSON.
fn op(f: &Facts) -> Value {
    assert_eq!(f.lists.len(), 1, "{f:?}");
    serde_json::to_value(&f.lists[0]).unwrap_or_else(|e| panic!("{e}"))
}

fn repo_url(url: &str) -> Target {
    Target::RepositoryUrl { url: url.into() }
}

/// What a delivery produces: `Some(n)` changes, or `None` for ignored.
fn expected(event: &str, file: &str) -> Option<usize> {
    let action = file.split('.').next().unwrap_or("");
    match event {
        "repository" => Some(1),
        "installation" => (action == "created").then_some(1),
        "installation_repositories" => Some(1),
        // Only the push to master (the default branch) counts; the others delete a tag.
        "push" => (file.starts_with("with-new-branch") || file.starts_with("with-no-username"))
            .then_some(1),
        "pull_request" => matches!(
            action,
            "opened"
                | "reopened"
                | "synchronize"
                | "ready_for_review"
                | "converted_to_draft"
                | "closed"
        )
        .then_some(1),
        "workflow_run" => Some(1),
        // Components of the repository and the Environment.
        "deployment" | "deployment_status" => Some(2),
        "dependabot_alert" => Some(1),
        // Only created.1 protects the default branch (`main`); the others name `production`.
        "branch_protection_rule" => (file == "created.1.payload.json").then_some(1),
        _ => None,
    }
}

#[test]
fn every_webhook_delivery() {
    let mut seen = 0;
    let mut dirs: Vec<_> = std::fs::read_dir(webhooks()).unwrap().flatten().collect();
    dirs.sort_by_key(|d| d.file_name());
    for dir in dirs {
        let event = dir.file_name().to_string_lossy().to_string();
        let mut files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        files.sort_by_key(|d| d.file_name());
        for f in files {
            let file = f.file_name().to_string_lossy().to_string();
            seen += 1;
            let outcome = github::webhook(&event, &read(&f.path()), &ctx())
                .unwrap_or_else(|e| panic!("{event}/{file}: {e}"));
            match (expected(&event, &file), &outcome) {
                (Some(n), Outcome::Changes(c)) => {
                    assert_eq!(c.len(), n, "{event}/{file}: {c:#?}")
                }
                (None, Outcome::Ignored(reason)) => {
                    assert!(
                        reason.contains(&format!("`{event}`")),
                        "{event}/{file}: {reason}"
                    )
                }
                (want, got) => panic!("{event}/{file}: expected {want:?}, got {got:#?}"),
            }
            for u in upserts(&outcome) {
                check_object(u);
            }
        }
    }
    assert_eq!(seen, 273);
}

/// What the CRD would reject: names, namespaces, managed-by label.
fn check_object(u: &Upsert) {
    let name = u.name();
    assert!(!name.is_empty() && name.len() <= 63, "{name}");
    assert!(
        name.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
        "{name}"
    );
    assert!(!u.namespace().is_empty());
    assert_eq!(
        u.object["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "nexus-github"
    );
    assert!(u.object.get("status").is_none());
}

#[test]
fn repository_events() {
    let out = hook("repository", "created.payload.json");
    let u = upserts(&out)[0];
    assert_eq!(u.kind(), "Repository");
    assert_eq!(u.name(), "octocoders-hello-world");
    assert_eq!(u.namespace(), "catalog");
    assert_eq!(
        u.identity,
        Some(repo_url("https://github.com/Octocoders/Hello-World"))
    );
    let spec = &u.object["spec"];
    assert_eq!(spec["provider"], "github");
    assert_eq!(spec["url"], "https://github.com/Octocoders/Hello-World");
    assert_eq!(spec["organization"], "Octocoders");
    assert_eq!(spec["defaultBranch"], "master");
    assert_eq!(spec["visibility"], "public");
    assert!(spec.get("description").is_none());
    let ann = &u.object["metadata"]["annotations"];
    assert_eq!(ann["nexus.dev/external-id"], "186853261");
    assert_eq!(
        ann["nexus.dev/source-url"],
        "https://github.com/Octocoders/Hello-World"
    );

    // `private: true` wins over a stale `visibility: public`.
    let out = hook("repository", "privatized.payload.json");
    let u = upserts(&out)[0];
    assert_eq!(u.name(), "codertocat-hello-world");
    assert_eq!(u.object["spec"]["visibility"], "private");
    assert_eq!(u.object["spec"]["organization"], "Codertocat");

    let out = hook("repository", "renamed.payload.json");
    assert_eq!(
        upserts(&out)[0].object["spec"]["url"],
        "https://github.com/Octocoders/Hello-World"
    );

    // Archived and deleted: the corpus has none; made from a real delivery.
    let mut v: Value = serde_json::from_slice(&read(
        &webhooks().join("repository/publicized.payload.json"),
    ))
    .unwrap();
    for (action, delete) in [("archived", false), ("deleted", true)] {
        v["action"] = json!(action);
        let out = github::webhook("repository", &serde_json::to_vec(&v).unwrap(), &ctx()).unwrap();
        let Change::Gone(g) = &out.changes()[0] else {
            panic!("{out:?}")
        };
        assert_eq!(
            g.target,
            repo_url("https://github.com/Codertocat/Hello-World")
        );
        assert_eq!(g.delete, delete);
        assert!(g.reason.contains(action), "{}", g.reason);
    }
}

#[test]
fn installation_events() {
    let out = hook("installation", "created.payload.json");
    let u = upserts(&out)[0];
    assert_eq!(u.name(), "codertocat-hello-world");
    assert_eq!(u.namespace(), "catalog");
    assert_eq!(
        u.object["spec"]["url"],
        "https://github.com/Codertocat/Hello-World"
    );
    assert_eq!(
        u.object["metadata"]["annotations"]["nexus.dev/external-id"],
        "186853002"
    );
    // Minimal entries: unknown default branch, and `private: false` may still be internal.
    assert!(u.object["spec"].get("defaultBranch").is_none());
    assert!(u.object["spec"].get("visibility").is_none());

    let out = hook("installation_repositories", "added.payload.json");
    let u = upserts(&out)[0];
    assert_eq!(
        u.object["spec"]["url"],
        "https://github.com/Codertocat/Space"
    );
    assert_eq!(
        u.object["metadata"]["annotations"]["nexus.dev/external-id"],
        "186853007"
    );
    assert_eq!(u.object["spec"]["organization"], "Codertocat");

    let out = hook("installation_repositories", "removed.payload.json");
    let Change::Gone(g) = &out.changes()[0] else {
        panic!("{out:?}")
    };
    assert_eq!(g.target, repo_url("https://github.com/octocat/Hello-World"));
    assert!(!g.delete);

    let Outcome::Ignored(why) = hook("installation", "deleted.payload.json") else {
        panic!()
    };
    assert!(why.contains("`deleted`"), "{why}");
}

#[test]
fn push_to_the_default_branch() {
    let out = hook("push", "with-new-branch.payload.json");
    let f = only_facts(&out);
    assert_eq!(
        f.target,
        repo_url("https://github.com/Codertocat/Hello-World")
    );
    let op = op(f);
    assert_eq!(op["op"], "upsert");
    assert_eq!(op["field"], "pushes");
    assert_eq!(op["key"], "sha");
    assert_eq!(op["orderBy"], "pushedAt");
    assert_eq!(op["max"], 50);
    let push = &op["item"];
    assert_eq!(push["sha"], "6113728f27ae82c7b1a177c8d03f9e96e0adf246");
    assert_eq!(push["branch"], "master");
    assert_eq!(push["pusher"], "Codertocat");
    assert_eq!(push["pushedAt"], "2019-05-15T15:20:57Z");
    assert_eq!(push["commits"][0]["timestamp"], "2019-05-15T15:19:25Z");
    assert_eq!(push["commits"][0]["author"], "Codertocat");

    let Outcome::Ignored(why) = hook("push", "payload.json") else {
        panic!()
    };
    assert!(why.contains("refs/tags/simple-tag"), "{why}");

    let body = read(&webhooks().join("push/with-new-branch.payload.json"));
    assert!(
        !github::push_touches_catalog_files(&body).unwrap(),
        "README.md only"
    );
    let mut v: Value = serde_json::from_slice(&body).unwrap();
    v["commits"][0]["modified"] = json!(["services/api/catalog-info.yaml"]);
    assert!(github::push_touches_catalog_files(&serde_json::to_vec(&v).unwrap()).unwrap());
    v["commits"][0]["modified"] = json!([".github/CODEOWNERS"]);
    assert!(github::push_touches_catalog_files(&serde_json::to_vec(&v).unwrap()).unwrap());
    v["ref"] = json!("refs/heads/feature");
    assert!(!github::push_touches_catalog_files(&serde_json::to_vec(&v).unwrap()).unwrap());
}

#[test]
fn pull_requests() {
    let out = hook("pull_request", "opened.payload.json");
    let f = only_facts(&out);
    assert_eq!(
        f.target,
        repo_url("https://github.com/Codertocat/Hello-World")
    );
    let op = op(f);
    assert_eq!(
        (&op["field"], &op["key"], &op["orderBy"]),
        (
            &json!("pullRequests"),
            &json!("number"),
            &json!("createdAt")
        )
    );
    let pr = &op["item"];
    assert_eq!(pr["number"], 2);
    assert_eq!(pr["title"], "Update the README with new information.");
    assert_eq!(
        pr["url"],
        "https://github.com/Codertocat/Hello-World/pull/2"
    );
    assert_eq!(pr["author"], "Codertocat");
    assert_eq!(pr["createdAt"], "2019-05-15T15:20:33Z");
    assert_eq!(pr["draft"], false);
    assert_eq!(pr["sourceBranch"], "changes");
    assert_eq!(pr["targetBranch"], "master");

    let out = hook("pull_request", "converted_to_draft.payload.json");
    assert_eq!(op_of(&out)["item"]["draft"], true);

    let out = hook("pull_request", "closed.payload.json");
    assert_eq!(
        only_facts(&out).lists[0],
        ListOp::remove("pullRequests", "number", 2)
    );

    let Outcome::Ignored(why) = hook("pull_request", "labeled.payload.json") else {
        panic!()
    };
    assert!(why.contains("`labeled`"), "{why}");
}

fn op_of(o: &Outcome) -> Value {
    op(only_facts(o))
}

#[test]
fn workflow_runs() {
    let out = hook("workflow_run", "completed.payload.json");
    let f = only_facts(&out);
    assert_eq!(
        f.target,
        Target::GithubWorkflow {
            repository_url: "https://github.com/octo-org/octo-repo".into(),
            workflow: ".github/workflows/test.yml".into(),
        }
    );
    let last = &f.set["lastRun"];
    assert_eq!(last["id"], "289782451");
    assert_eq!(last["result"], "succeeded");
    assert_eq!(
        last["sourceVersion"],
        "3484a3fb816e0859fd6e1cea078d76385ff50625"
    );
    assert_eq!(last["startedAt"], "2020-10-05T16:33:49Z");
    assert_eq!(last["finishedAt"], "2020-10-05T16:33:49Z");
    assert_eq!(
        last["url"],
        "https://github.com/octo-org/octo-repo/actions/runs/289782451"
    );
    let op = op(f);
    assert_eq!(
        (&op["field"], &op["key"], &op["orderBy"], &op["max"]),
        (
            &json!("recentRuns"),
            &json!("id"),
            &json!("startedAt"),
            &json!(25)
        )
    );
    assert_eq!(&op["item"], last);

    let out = hook("workflow_run", "requested.payload.json");
    let last = &only_facts(&out).set["lastRun"];
    assert_eq!(last["result"], "inProgress");
    assert!(last.get("finishedAt").is_none());
    // Waiting for approval.
    let out = hook("workflow_run", "requested.with-conclusion.payload.json");
    assert_eq!(only_facts(&out).set["lastRun"]["result"], "inProgress");
}

fn deployment_targets(o: &Outcome) -> (Vec<Target>, Vec<Value>) {
    let f = facts(o);
    (
        f.iter().map(|f| f.target.clone()).collect(),
        f.iter().map(|f| op(f)).collect(),
    )
}

#[test]
fn deployments() {
    let (targets, ops) = deployment_targets(&hook("deployment", "payload.json"));
    assert_eq!(
        targets,
        [
            Target::ComponentsOfRepository {
                url: "https://github.com/Codertocat/Hello-World".into()
            },
            Target::Environment {
                namespace: None,
                name: "production".into()
            },
        ]
    );
    assert_eq!(ops[0], ops[1]);
    assert_eq!(
        (
            &ops[0]["field"],
            &ops[0]["key"],
            &ops[0]["orderBy"],
            &ops[0]["max"]
        ),
        (
            &json!("deployments"),
            &json!("id"),
            &json!("createdAt"),
            &json!(50)
        )
    );
    let d = &ops[0]["item"];
    assert_eq!(d["id"], "github:codertocat/hello-world:145988746");
    assert_eq!(d["environment"], "production");
    assert_eq!(d["sha"], "f95f852bd8fca8fcc58a9a2d6c842781e32a215e");
    assert_eq!(d["version"], "master");
    assert_eq!(d["status"], "pending");
    assert_eq!(d["createdAt"], "2019-05-15T15:20:53Z");
    assert_eq!(d["creator"], "Codertocat");
    assert_eq!(d["repository"], "https://github.com/Codertocat/Hello-World");

    let (_, ops) = deployment_targets(&hook("deployment_status", "payload.json"));
    let d = &ops[0]["item"];
    assert_eq!(d["id"], "github:codertocat/hello-world:145988746");
    assert_eq!(d["status"], "success");
    assert_eq!(d["createdAt"], "2019-05-15T15:20:53Z");
    assert_eq!(d["updatedAt"], "2019-05-15T15:20:55Z");
    assert!(d.get("url").is_none(), "empty target_url");

    let (targets, ops) = deployment_targets(&hook("deployment_status", "gh-pages.payload.json"));
    assert_eq!(
        targets[1],
        Target::Environment {
            namespace: None,
            name: "github-pages".into()
        }
    );
    let d = &ops[0]["item"];
    assert_eq!(d["status"], "in_progress");
    assert_eq!(d["creator"], "github-pages[bot]");
    assert_eq!(d["updatedAt"], "2022-01-03T01:28:40Z");
    assert_eq!(
        d["url"],
        "https://github.com/CorsixTH/CorsixTH/runs/4687056418?check_suite_focus=true"
    );
}

#[test]
fn dependabot_alerts() {
    let f = only_facts(&hook("dependabot_alert", "created.payload.json")).clone();
    assert_eq!(
        f.target,
        Target::Package {
            ecosystem: "npm".into(),
            name: "semver".into()
        }
    );
    let op = op(&f);
    assert_eq!(
        (&op["field"], &op["key"], &op["orderBy"], &op["max"]),
        (
            &json!("vulnerabilities"),
            &json!("id"),
            &json!("publishedAt"),
            &json!(100)
        )
    );
    assert_eq!(
        op["item"],
        json!({"id": "GHSA-c2qf-rxjj-qqgw", "severity": "moderate", "affectedVersions": "< 7.5.2",
               "fixedIn": "7.5.2", "publishedAt": "2023-06-21T06:30:28Z"})
    );
    let out = hook("dependabot_alert", "fixed.payload.json");
    let f = only_facts(&out);
    assert_eq!(
        f.target,
        Target::Package {
            ecosystem: "pypi".into(),
            name: "ansible".into()
        }
    );
    assert_eq!(
        f.lists[0],
        ListOp::remove("vulnerabilities", "id", "GHSA-8f4m-hccc-8qph")
    );

    // Ecosystems without a Nexus package kind.
    let mut v: Value = serde_json::from_slice(&read(
        &webhooks().join("dependabot_alert/created.payload.json"),
    ))
    .unwrap();
    v["alert"]["dependency"]["package"]["ecosystem"] = json!("rubygems");
    let out =
        github::webhook("dependabot_alert", &serde_json::to_vec(&v).unwrap(), &ctx()).unwrap();
    assert!(
        matches!(&out, Outcome::Ignored(r) if r.contains("rubygems")),
        "{out:?}"
    );
}

#[test]
fn branch_protection_rules() {
    let out = hook("branch_protection_rule", "created.1.payload.json");
    let f = only_facts(&out);
    assert_eq!(
        f.target,
        repo_url("https://github.com/wolfy1339/octoherd-script-replace-pika-with-esbuild")
    );
    assert_eq!(
        f.set["branchProtection"],
        json!({"protected": true, "requiredApprovingReviews": 1, "requireCodeOwnerReviews": false,
               "requiredStatusChecks": ["test"], "allowForcePushes": false, "allowDeletions": false,
               "rules": ["pull_request", "required_status_checks", "non_fast_forward", "deletion"],
               "observedAt": NOW})
    );
    let Outcome::Ignored(why) = hook("branch_protection_rule", "created.payload.json") else {
        panic!()
    };
    assert!(
        why.contains("`production`") && why.contains("`main`"),
        "{why}"
    );
}

#[test]
fn repository_ruleset_webhook() {
    // No recorded delivery exists: wrap the REST ruleset in a real repository payload.
    let ruleset: Value = serde_json::from_slice(&read(
        &corpus().join("github-rest-api/repository-ruleset.json"),
    ))
    .unwrap();
    let mut repo: Value = serde_json::from_slice(&read(
        &corpus().join("github-rest-api/full-repository.json"),
    ))
    .unwrap();
    repo["default_branch"] = json!("main");
    let mut delivery =
        json!({"action": "created", "repository_ruleset": ruleset, "repository": repo});
    let out = github::webhook(
        "repository_ruleset",
        &serde_json::to_vec(&delivery).unwrap(),
        &ctx(),
    )
    .unwrap();
    let f = only_facts(&out);
    assert_eq!(f.target, repo_url("https://github.com/octocat/Hello-World"));
    assert_eq!(
        f.set["branchProtection"],
        json!({"protected": true, "rulesets": ["super cool ruleset"],
               "rules": ["commit_author_email_pattern"], "observedAt": NOW})
    );
    // `refs/heads/dev*` is excluded, `develop` is not included.
    delivery["repository"]["default_branch"] = json!("develop");
    let out = github::webhook(
        "repository_ruleset",
        &serde_json::to_vec(&delivery).unwrap(),
        &ctx(),
    )
    .unwrap();
    assert!(
        matches!(&out, Outcome::Ignored(r) if r.contains("super cool ruleset")),
        "{out:?}"
    );
    delivery["action"] = json!("deleted");
    let out = github::webhook(
        "repository_ruleset",
        &serde_json::to_vec(&delivery).unwrap(),
        &ctx(),
    )
    .unwrap();
    assert!(matches!(out, Outcome::Ignored(_)));
}

/// Every REST example: the resource that reads it, or why Nexus does not read it.
const REST_FILES: &[(&str, Result<&str, &str>)] = &[
    (
        "check-run-paginated.json",
        Err("check runs: workflow runs carry CI results"),
    ),
    (
        "check-run.json",
        Err("check runs: workflow runs carry CI results"),
    ),
    (
        "codeowners-errors.json",
        Err("Nexus parses CODEOWNERS itself (github::codeowners)"),
    ),
    ("dependabot-alert-dismissed.json", Ok("dependabot-alerts")),
    ("dependabot-alert-open.json", Ok("dependabot-alerts")),
    (
        "dependabot-alerts-for-repository.json",
        Ok("dependabot-alerts"),
    ),
    ("deployment-items.json", Ok("deployments")),
    ("deployment-status-items.json", Ok("deployment-statuses")),
    ("deployment-status.json", Ok("deployment-statuses")),
    ("deployment.json", Ok("deployments")),
    (
        "environments.json",
        Err("Environments are declared in the catalog, not discovered"),
    ),
    ("full-repository.json", Ok("repositories")),
    (
        "installation.json",
        Err("the installation itself: its repositories are listed instead"),
    ),
    ("minimal-repository-items.json", Ok("repositories")),
    ("pull-request-simple-items.json", Ok("pulls")),
    ("pull-request.json", Ok("pulls")),
    (
        "release.json",
        Err("releases: deployments carry what DORA needs"),
    ),
    ("repository-ruleset.json", Ok("rulesets")),
    (
        "team-items.json",
        Err("teams are declared in the catalog (or imported from Backstage)"),
    ),
    (
        "workflow-paginated.json",
        Err("workflow definitions: Pipelines are declared; runs are read"),
    ),
    ("workflow-run-paginated.json", Ok("workflow-runs")),
    ("workflow-run.json", Ok("workflow-runs")),
];

#[test]
fn every_rest_example_is_mapped() {
    let mut files: Vec<String> = std::fs::read_dir(corpus().join("github-rest-api"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|f| f.ends_with(".json"))
        .collect();
    files.sort();
    let mapped: Vec<&str> = REST_FILES.iter().map(|(f, _)| *f).collect();
    assert_eq!(files, mapped);
    for (file, use_) in REST_FILES {
        let Ok(resource) = use_ else { continue };
        assert!(github::REST_RESOURCES.contains(resource));
        let out = rest_file(resource, file, &ctx());
        assert!(!out.changes().is_empty(), "{file}: {out:?}");
        for u in upserts(&out) {
            check_object(u);
        }
    }
}

#[test]
fn rest_repositories() {
    let out = rest_file("repositories", "full-repository.json", &ctx());
    let u = upserts(&out)[0];
    assert_eq!(u.name(), "octocat-hello-world");
    assert_eq!(u.namespace(), "team-octo");
    assert_eq!(u.object["spec"]["description"], "This your first repo!");
    assert_eq!(
        u.object["spec"]["tags"],
        json!(["octocat", "atom", "electron", "api"])
    );
    assert_eq!(u.object["spec"]["defaultBranch"], "master");

    // GET /installation/repositories wraps the list.
    let items: Value = serde_json::from_slice(&read(
        &corpus().join("github-rest-api/minimal-repository-items.json"),
    ))
    .unwrap();
    let body = serde_json::to_vec(&json!({"total_count": 1, "repositories": items})).unwrap();
    let out = github::rest("repositories", &body, &ctx()).unwrap();
    assert_eq!(
        upserts(&out)[0].object["spec"]["url"],
        "https://github.com/octocat/Hello-World"
    );
}

#[test]
fn rest_pulls() {
    let out = rest_file("pulls", "pull-request-simple-items.json", &ctx());
    let f = only_facts(&out);
    assert_eq!(f.target, repo_url("https://github.com/octocat/Hello-World"));
    let list = &f.set["pullRequests"];
    assert_eq!(list[0]["number"], 1347);
    assert_eq!(list[0]["title"], "Amazing new feature");
    assert_eq!(list[0]["sourceBranch"], "new-topic");
    // An empty list clears the repository's pull requests, given the repository.
    let out = github::rest("pulls", b"[]", &ctx_for("https://github.com/o/r")).unwrap();
    assert_eq!(only_facts(&out).set["pullRequests"], json!([]));
    let e = github::rest("pulls", b"[]", &ctx()).unwrap_err();
    assert!(e.to_string().contains("context"), "{e}");
}

#[test]
fn rest_deployments() {
    let out = rest_file("deployments", "deployment.json", &ctx());
    let (targets, ops) = deployment_targets(&out);
    assert_eq!(
        targets[0],
        Target::ComponentsOfRepository {
            url: "https://github.com/octocat/example".into()
        }
    );
    let d = &ops[0]["item"];
    assert_eq!(d["id"], "github:octocat/example:1");
    assert_eq!(d["sha"], "a84d88e7554fc1fa21bcbc4efae3c782a70d2b9d");
    assert_eq!(d["version"], "topic-branch");
    assert_eq!(d["status"], "pending");
    assert_eq!(d["createdAt"], "2012-07-20T01:19:13Z");

    let out = rest_file(
        "deployment-statuses",
        "deployment-status-items.json",
        &ctx(),
    );
    let (targets, ops) = deployment_targets(&out);
    assert_eq!(
        targets[1],
        Target::Environment {
            namespace: None,
            name: "production".into()
        }
    );
    let d = &ops[0]["item"];
    assert_eq!(d["id"], "github:octocat/example:42");
    assert_eq!(d["status"], "success");
    assert_eq!(d["url"], "https://example.com/deployment/42/output");
    // The context names the repository when given.
    let out = rest_file(
        "deployment-statuses",
        "deployment-status.json",
        &ctx_for("https://github.com/Contoso/Shop"),
    );
    assert_eq!(
        deployment_targets(&out).1[0]["item"]["id"],
        "github:contoso/shop:42"
    );
}

#[test]
fn rest_workflow_runs() {
    let out = rest_file("workflow-runs", "workflow-run-paginated.json", &ctx());
    let f = only_facts(&out);
    assert_eq!(
        f.target,
        Target::GithubWorkflow {
            repository_url: "https://github.com/octocat/Hello-World".into(),
            workflow: ".github/workflows/build.yml".into(),
        }
    );
    assert_eq!(f.set["lastRun"]["id"], "30433642");
    assert_eq!(f.set["lastRun"]["result"], "inProgress");
}

#[test]
fn rest_dependabot_alerts() {
    let out = rest_file(
        "dependabot-alerts",
        "dependabot-alerts-for-repository.json",
        &ctx(),
    );
    let f = facts(&out);
    assert_eq!(f.len(), 2);
    assert_eq!(
        f[0].target,
        Target::Package {
            ecosystem: "pypi".into(),
            name: "ansible".into()
        }
    );
    assert_eq!(op(f[0])["item"]["id"], "GHSA-8f4m-hccc-8qph");
    assert_eq!(
        f[1].target,
        Target::Package {
            ecosystem: "pypi".into(),
            name: "django".into()
        }
    );
    assert_eq!(
        f[1].lists[0],
        ListOp::remove("vulnerabilities", "id", "GHSA-rf4j-j272-fj86")
    );
}

#[test]
fn rest_rulesets() {
    let out = rest_file("rulesets", "repository-ruleset.json", &ctx());
    let f = only_facts(&out);
    assert_eq!(f.target, repo_url("https://github.com/monalisa/my-repo"));
    assert_eq!(f.set["branchProtection"]["protected"], true);
    assert_eq!(
        f.set["branchProtection"]["rulesets"],
        json!(["super cool ruleset"])
    );
}

#[test]
fn rest_sbom() {
    let body = br#"{"sbom": {"SPDXID": "SPDXRef-DOCUMENT", "spdxVersion": "SPDX-2.3",
        "name": "com.github.contoso/shop",
        "documentNamespace": "https://github.com/contoso/shop/dependency_graph/sbom-abc",
        "packages": [
          {"SPDXID": "SPDXRef-github-contoso-shop", "name": "com.github.contoso/shop",
           "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                             "referenceLocator": "pkg:github/contoso/shop"}]},
          {"SPDXID": "SPDXRef-npm-ui", "name": "npm:@contoso/ui-kit", "versionInfo": "2.1.0",
           "licenseConcluded": "MIT",
           "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                             "referenceLocator": "pkg:npm/%40contoso/ui-kit@2.1.0"}]},
          {"SPDXID": "SPDXRef-pip-requests", "name": "pip:requests", "versionInfo": "2.31.0",
           "licenseConcluded": "NOASSERTION",
           "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                             "referenceLocator": "pkg:pypi/requests@2.31.0"}]}
        ]}}"#;
    let out = github::rest("sbom", body, &ctx()).unwrap();
    let u = upserts(&out);
    assert_eq!(u.len(), 2);
    assert_eq!(u[0].kind(), "Package");
    assert!(
        u[0].name().starts_with("npm-contoso-ui-kit-"),
        "{}",
        u[0].name()
    );
    assert_eq!(u[0].object["spec"]["packageName"], "@contoso/ui-kit");
    assert_eq!(u[0].object["spec"]["ecosystem"], "npm");
    assert_eq!(u[0].object["spec"]["license"], "MIT");
    assert_eq!(
        u[0].object["metadata"]["annotations"]["nexus.dev/external-id"],
        "pkg:npm/%40contoso/ui-kit"
    );
    assert_eq!(u[1].name(), "pypi-requests");
    assert!(u[1].object["spec"].get("license").is_none());
    let f = facts(&out);
    assert_eq!(
        f[1].target,
        Target::Package {
            ecosystem: "pypi".into(),
            name: "requests".into()
        }
    );
    assert_eq!(
        op(f[1])["item"],
        json!({"repository": "https://github.com/contoso/shop", "version": "2.31.0"})
    );
    for u in u {
        check_object(u);
    }
}

#[test]
fn rest_codeowners() {
    let text = "# Owners\n\
                *            @contoso/platform @alice\n\
                /docs/       docs@contoso.example\n\
                *.rs         @contoso/rust\n\
                bad-line     nobody\n";
    let ctx = ctx_for("https://github.com/contoso/shop/blob/main/.github/CODEOWNERS");
    let out = github::rest("codeowners", text.as_bytes(), &ctx).unwrap();
    let f = only_facts(&out);
    assert_eq!(f.target, repo_url("https://github.com/contoso/shop"));
    assert_eq!(
        f.set["codeowners"],
        json!({"owners": ["@contoso/platform", "@alice"], "path": ".github/CODEOWNERS", "observedAt": NOW})
    );
    let parsed = github::codeowners::parse(text);
    assert_eq!(parsed.owners_for("src/main.rs"), ["@contoso/rust"]);
    assert_eq!(parsed.owners_for("docs/a/b.md"), ["docs@contoso.example"]);
    assert_eq!(parsed.errors.len(), 1);
    assert_eq!(parsed.errors[0].line, 5);
    assert!(github::rest("codeowners", text.as_bytes(), &self::ctx()).is_err());
    assert!(github::rest("codeowners", b"\xff\xfe", &ctx).is_err());
}

#[test]
fn unknown_resources_and_events() {
    let e = github::rest("issues", b"[]", &ctx())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("issues") && e.contains("workflow-runs") && e.contains("codeowners"),
        "{e}"
    );
    let Outcome::Ignored(why) = github::webhook("star", b"{}", &ctx()).unwrap() else {
        panic!()
    };
    assert_eq!(why, "event `star`: not used by Nexus");
    assert!(github::webhook("", b"{}", &ctx()).is_err());
}

#[test]
fn truncated_and_malformed_bodies_fail_cleanly() {
    for (event, file) in [
        ("push", "with-new-branch.payload.json"),
        ("pull_request", "opened.payload.json"),
        ("deployment_status", "payload.json"),
        ("workflow_run", "completed.payload.json"),
        ("star", "created.payload.json"),
    ] {
        let body = read(&webhooks().join(event).join(file));
        for cut in [0, 1, body.len() / 3, body.len() / 2, body.len() - 2] {
            let e = github::webhook(event, &body[..cut], &ctx()).unwrap_err();
            assert!(e.to_string().contains("JSON"), "{event}/{file}@{cut}: {e}");
        }
    }
    for (resource, file) in [
        ("deployments", "deployment-items.json"),
        ("rulesets", "repository-ruleset.json"),
    ] {
        let body = read(&corpus().join("github-rest-api").join(file));
        assert!(github::rest(resource, &body[..body.len() / 2], &ctx()).is_err());
    }
    // Well-formed JSON, wrong shape: the error names the field.
    let e = github::webhook(
        "pull_request",
        br#"{"action":"opened","pull_request":{"number":"x"}}"#,
        &ctx(),
    )
    .unwrap_err();
    assert!(e.to_string().starts_with("pull_request.number"), "{e}");
    let e = github::webhook(
        "push",
        br#"{"ref":"refs/heads/main","after":"a","repository":{"id":1,
        "full_name":"o/r","html_url":"not a url","owner":{"login":"o"},"default_branch":"main"}}"#,
        &ctx(),
    )
    .unwrap_err();
    assert!(e.to_string().starts_with("repository.html_url"), "{e}");
    let e = github::rest("workflow-runs", br#"{"workflow_runs":[{"id":1}]}"#, &ctx()).unwrap_err();
    assert!(e.to_string().starts_with("workflow_runs[0]"), "{e}");
}

/// Any body through any entrypoint: an answer, never a panic.
#[test]
fn every_parser_survives_every_body() {
    let mut bodies: Vec<Vec<u8>> = std::fs::read_dir(corpus().join("github-rest-api"))
        .unwrap()
        .flatten()
        .map(|e| read(&e.path()))
        .collect();
    for (event, file) in [
        ("push", "with-new-branch.payload.json"),
        ("repository", "created.payload.json"),
    ] {
        bodies.push(read(&webhooks().join(event).join(file)));
    }
    bodies.extend([
        b"null".to_vec(),
        b"[]".to_vec(),
        b"{}".to_vec(),
        b"[1,2]".to_vec(),
        b"\"x\"".to_vec(),
    ]);
    let events = [
        "repository",
        "installation",
        "installation_repositories",
        "push",
        "pull_request",
        "workflow_run",
        "deployment",
        "deployment_status",
        "branch_protection_rule",
        "repository_ruleset",
        "dependabot_alert",
    ];
    let ctx = ctx_for("https://github.com/o/r");
    for body in &bodies {
        for resource in github::REST_RESOURCES {
            let _ = github::rest(resource, body, &ctx);
            let _ = github::rest(resource, body, &self::ctx());
        }
        for event in events {
            let _ = github::webhook(event, body, &ctx);
        }
        let _ = github::push_touches_catalog_files(body);
    }
}
