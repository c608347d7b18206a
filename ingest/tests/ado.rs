//! Every Azure DevOps corpus file through the public entrypoints, with the values each payload
//! carries.
// Helpers outside #[test] functions read the corpus; failing loudly there is the point.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use nexus_ingest::{Change, Context, Facts, IngestError, ListOp, Outcome, Target, Upsert, ado};
use serde_json::{Value, json};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpus");

fn hooks_dir() -> PathBuf {
    Path::new(CORPUS).join("ado-service-hooks")
}

fn ctx() -> Context {
    Context::in_namespace("catalog")
}

fn hook(rel: &str) -> Result<Outcome, IngestError> {
    let body = std::fs::read(hooks_dir().join(rel)).expect("corpus file");
    ado::service_hook(&body, &ctx())
}

fn changes(rel: &str) -> Vec<Change> {
    match hook(rel) {
        Ok(Outcome::Changes(c)) => c,
        other => panic!("{rel}: expected changes, got {other:?}"),
    }
}

/// The `responses.200.body` of a REST example file.
fn rest_body(file: &str) -> Vec<u8> {
    let raw =
        std::fs::read(Path::new(CORPUS).join("ado-rest-api").join(file)).expect("corpus file");
    let v: Value = serde_json::from_slice(&raw).expect("json");
    serde_json::to_vec(&v["responses"]["200"]["body"]).expect("body")
}

fn rest(resource: &str, file: &str) -> Vec<Change> {
    match ado::rest(resource, &rest_body(file), &ctx()) {
        Ok(Outcome::Changes(c)) => c,
        other => panic!("{file}: expected changes, got {other:?}"),
    }
}

fn upsert(c: &Change) -> &Upsert {
    match c {
        Change::Upsert(u) => u,
        other => panic!("expected an upsert, got {other:?}"),
    }
}

fn facts(c: &Change) -> &Facts {
    match c {
        Change::Facts(f) => f,
        other => panic!("expected facts, got {other:?}"),
    }
}

/// The item of the first list upsert of a Facts.
fn item(f: &Facts) -> &Value {
    match &f.lists[0] {
        ListOp::Upsert { item, .. } => item,
        other => panic!("expected a list upsert, got {other:?}"),
    }
}

fn pipeline(org: &str, project: &str, id: i64) -> Target {
    Target::AdoPipeline {
        organization: org.into(),
        project: project.into(),
        definition_id: id,
    }
}

#[test]
fn every_hook_file_has_an_expected_outcome() {
    let mut seen = 0;
    for dir in std::fs::read_dir(hooks_dir()).expect("corpus") {
        let dir = dir.expect("entry").path();
        if !dir.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&dir).expect("dir") {
            let path = f.expect("entry").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("")
                .to_string();
            let body = std::fs::read(&path).expect("read");
            let out = ado::service_hook(&body, &ctx());
            seen += 1;
            match name.as_str() {
                "bad.noEventType.json" => {
                    let e = out.expect_err("no eventType");
                    assert_eq!(e.to_string(), "eventType: required field is missing");
                }
                "bad.notMappedEventType.json"
                | "message.posted.json"
                | "tfvc.checkin.json"
                | "ms.vss-pipelinechecks-events.approval-pending.json" => {
                    assert!(matches!(out, Ok(Outcome::Ignored(_))), "{name}: {out:?}")
                }
                _ => assert!(
                    matches!(&out, Ok(Outcome::Changes(c)) if !c.is_empty()),
                    "{name}: {out:?}"
                ),
            }
        }
    }
    assert_eq!(seen, 16);
}

#[test]
fn unmapped_and_unused_events_are_ignored_by_name() {
    for (file, event) in [
        (
            "aspnet-webhooks-vsts/bad.notMappedEventType.json",
            "unknownType",
        ),
        ("aspnet-webhooks-vsts/message.posted.json", "message.posted"),
        ("aspnet-webhooks-vsts/tfvc.checkin.json", "tfvc.checkin"),
    ] {
        match hook(file) {
            Ok(Outcome::Ignored(r)) => assert_eq!(
                r,
                format!("Azure DevOps event `{event}` is not used by Nexus")
            ),
            other => panic!("{file}: {other:?}"),
        }
    }
}

#[test]
fn git_push_records_the_default_branch_push_and_discovers_the_repository() {
    let c = changes("aspnet-webhooks-vsts/git.push.json");
    assert_eq!(c.len(), 2);
    let repo = upsert(&c[0]);
    let url = "https://good-company.some.ssl.host/tfs/GoodCompany/_git/Project";
    assert_eq!(repo.kind(), "Repository");
    assert_eq!(repo.name(), "goodcompany-project-project");
    assert_eq!(repo.namespace(), "catalog");
    assert_eq!(repo.object["spec"]["url"], url);
    assert_eq!(repo.object["spec"]["provider"], "azureDevOps");
    assert_eq!(repo.object["spec"]["organization"], "GoodCompany");
    assert_eq!(repo.object["spec"]["project"], "Project");
    assert_eq!(repo.object["spec"]["defaultBranch"], "main");
    assert_eq!(
        repo.object["metadata"]["annotations"]["nexus.dev/external-id"],
        "7aa31685-abcf-40be-8c18-aaa45067d7bb"
    );
    assert_eq!(
        repo.object["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "nexus-ado"
    );
    assert_eq!(
        repo.identity,
        Some(Target::RepositoryUrl { url: url.into() })
    );
    let f = facts(&c[1]);
    assert_eq!(f.target, Target::RepositoryUrl { url: url.into() });
    let ListOp::Upsert {
        field,
        key,
        order_by,
        max,
        item,
    } = &f.lists[0]
    else {
        panic!("upsert expected")
    };
    assert_eq!(
        (field.as_str(), key.as_str(), order_by.as_str(), *max),
        ("pushes", "sha", "pushedAt", 50)
    );
    assert_eq!(
        item,
        &json!({
            "sha": "c8e823a60a85381732726d6a9b6a276e71e6ce12",
            "branch": "main",
            "pusher": "jsmith",
            "pushedAt": "2016-06-26T18:10:30Z",
            "commits": [{
                "sha": "c8e823a60a85381732726d6a9b6a276e71e6ce12",
                "timestamp": "2016-06-26T18:10:21Z",
                "author": "fabrikamfiber16@hotmail.com"
            }]
        })
    );
}

#[test]
fn pull_requests_join_while_active_and_leave_when_completed() {
    let url = "https://fabrikam.visualstudio.com/DefaultCollection/_git/Fabrikam";
    let c = changes("aspnet-webhooks-vsts/git.pullrequest.created.json");
    assert_eq!(upsert(&c[0]).name(), "fabrikam-fabrikam-fabrikam");
    let f = facts(&c[1]);
    assert_eq!(f.target, Target::RepositoryUrl { url: url.into() });
    assert_eq!(
        item(f),
        &json!({
            "number": 1,
            "title": "my first pull request",
            "url": format!("{url}/pullrequest/1"),
            "author": "fabrikamfiber4@hotmail.com",
            "createdAt": "2014-06-17T16:55:46Z",
            "updatedAt": "2016-06-27T01:09:08Z",
            "sourceBranch": "mytopic",
            "targetBranch": "main"
        })
    );
    let c = changes("aspnet-webhooks-vsts/git.pullrequest.updated.json");
    assert_eq!(
        facts(&c[1]).lists,
        vec![ListOp::remove("pullRequests", "number", 1)]
    );
}

#[test]
fn build_complete_writes_the_run_onto_its_definition() {
    let c = changes("aspnet-webhooks-vsts/build.complete.json");
    assert_eq!(c.len(), 1);
    let f = facts(&c[0]);
    // The payload names the project only by id.
    assert_eq!(
        f.target,
        pipeline(
            "DefaultCollection",
            "be9b3917-87e6-42a4-a549-2bc06a7a878f",
            2
        )
    );
    let run = json!({
        "id": "2",
        "result": "succeeded",
        "sourceVersion": "600c52d2d5b655caa111abfd863e5a9bd304bb0e",
        "startedAt": "2015-04-07T18:04:06Z",
        "finishedAt": "2015-04-07T18:06:10Z",
        "url": "https://good-company.some.ssl.host/DefaultCollection/71777fbc-1cf2-4bd1-9540-128c1c71f766/_build/results?buildId=2"
    });
    assert_eq!(f.set["lastRun"], run);
    assert_eq!(
        f.lists,
        vec![ListOp::upsert("recentRuns", "id", &run, "startedAt", 25)]
    );
}

#[test]
fn pipeline_run_stage_and_job_events_write_the_run() {
    let dir = "azure-devops-docs-events-md";
    for (file, org, project, def, run, started) in [
        (
            "ms.vss-pipelines.run-state-changed-event.json",
            "org",
            "be9b3917-87e6-42a4-a549-2bc06a7a878f",
            11,
            "11",
            "2019-12-13T04:46:13Z",
        ),
        (
            "ms.vss-pipelines.stage-state-changed-event.json",
            "org",
            "be9b3917-87e6-42a4-a549-2bc06a7a878f",
            2,
            "2",
            "2019-12-13T06:10:10Z",
        ),
        (
            "ms.vss-pipelines.job-state-changed-event.json",
            "fabrikamfiber",
            "fabrikamfiber-viva",
            2,
            "2",
            "2022-11-21T16:42:52Z",
        ),
    ] {
        let c = changes(&format!("{dir}/{file}"));
        let f = facts(&c[0]);
        assert_eq!(f.target, pipeline(org, project, def), "{file}");
        let last = &f.set["lastRun"];
        assert_eq!(last["id"], run, "{file}");
        assert_eq!(last["result"], "succeeded", "{file}");
        assert_eq!(last["startedAt"], started, "{file}");
        assert_eq!(last["finishedAt"], started, "{file}");
        assert!(
            last["url"]
                .as_str()
                .unwrap_or("")
                .ends_with(&format!("_build/results?buildId={run}")),
            "{file}"
        );
        assert_eq!(item(f), last);
    }
}

#[test]
fn approvals_without_a_pipeline_are_ignored_and_with_one_are_listed() {
    let file = "azure-devops-docs-events-md/ms.vss-pipelinechecks-events.approval-pending.json";
    match hook(file) {
        Ok(Outcome::Ignored(r)) => assert!(
            r.starts_with("approval 0f027b05-0942-4a35-9218-26fa07d8760a names no pipeline"),
            "{r}"
        ),
        other => panic!("{other:?}"),
    }
    // The same delivery as it arrives when the run is known.
    let raw = std::fs::read(hooks_dir().join(file)).expect("corpus");
    let mut v: Value = serde_json::from_slice(&raw).expect("json");
    v["resource"]["pipeline"] = json!({"id": "7", "name": "deploy"});
    v["resource"]["run"] = json!({"id": 2, "name": "run1"});
    v["resource"]["stageName"] = json!("Production");
    v["resourceContainers"]["project"]["baseUrl"] = json!("https://dev.azure.com/fabfiber/");
    let Ok(Outcome::Changes(c)) = ado::service_hook(&serde_json::to_vec(&v).expect("json"), &ctx())
    else {
        panic!("changes expected")
    };
    let f = facts(&c[0]);
    assert_eq!(f.target, pipeline("fabfiber", "Fabrikam-Fiber-Git", 7));
    assert_eq!(
        item(f),
        &json!({
            "id": "0f027b05-0942-4a35-9218-26fa07d8760a",
            "runId": "2",
            "stage": "Production",
            "instructions": "Instructions",
            "minRequiredApprovers": 2,
            "approvers": ["743f73b7-cdeb-4de7-80b7-00cee17476b8"],
            "createdAt": "2019-12-13T06:14:11Z"
        })
    );
    v["eventType"] = json!("ms.vss-pipelinechecks-events.approval-completed");
    let Ok(Outcome::Changes(c)) = ado::service_hook(&serde_json::to_vec(&v).expect("json"), &ctx())
    else {
        panic!("changes expected")
    };
    assert_eq!(
        facts(&c[0]).lists,
        vec![ListOp::remove(
            "pendingApprovals",
            "id",
            "0f027b05-0942-4a35-9218-26fa07d8760a"
        )]
    );
}

#[test]
fn release_deployment_goes_to_components_and_environment() {
    let c = changes("azure-devops-docs-events-md/ms.vss-release.deployment-completed-event.json");
    assert_eq!(c.len(), 2);
    let record = json!({
        "id": "ado:Fabrikam:1:5",
        "environment": "Dev",
        "version": "Release-1",
        "status": "success",
        "createdAt": "2016-09-19T13:03:28Z",
        "updatedAt": "2016-09-19T13:03:28Z",
        "url": "https://fabfiber.visualstudio.com/Fabrikam/_release?releaseId=1&_a=release-summary"
    });
    let components = facts(&c[0]);
    assert_eq!(
        components.target,
        Target::ComponentsOfPipeline {
            organization: "fabfiber".into(),
            project: "Fabrikam".into(),
            definition_id: 1
        }
    );
    assert_eq!(
        components.lists,
        vec![ListOp::upsert(
            "deployments",
            "id",
            &record,
            "createdAt",
            50
        )]
    );
    let env = facts(&c[1]);
    assert_eq!(
        env.target,
        Target::Environment {
            namespace: None,
            name: "Dev".into()
        }
    );
    assert_eq!(item(env), &record);
}

/// A service-hook delivery built from its parts, in the envelope shape of Microsoft's service
/// hook event reference (no corpus file exists for these events).
fn delivery(event: &str, message_html: &str, resource: Value, created: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": "1f04688d-98bb-4206-850f-43389f4c8cb4",
        "eventType": event,
        "publisherId": "rm",
        "message": {"text": "", "html": message_html, "markdown": ""},
        "resource": resource,
        "resourceVersion": "3.0-preview.1",
        "resourceContainers": {
            "collection": {"id": "c12d0eb8-e382-443b-9f9c-c52cba5014c2"},
            "account": {"id": "f844ec47-a9db-4511-8281-8b63f4eaf94e"},
            "project": {"id": "be9b3917-87e6-42a4-a549-2bc06a7a878f"}
        },
        "createdDate": created
    }))
    .expect("json")
}

#[test]
fn release_deployment_started_records_a_queued_deployment() {
    // The documented shape: the stage (`environment`) with its release, an empty top-level
    // release that carries only the definition, and the project by name.
    let body = delivery(
        "ms.vss-release.deployment-started-event",
        "Deployment on stage <a href='http://fabfiber.visualstudio.com/Fabrikam-Fiber-Git/_apps/hub/ms.vss-releaseManagement-web.hub-explorer?_a=environment-summary&definitionEnvironmentId=1&definitionId=4'>Dev</a> started.",
        json!({
            "environment": {
                "id": 5,
                "releaseId": 0,
                "name": "Dev",
                "status": "queued",
                "preDeployApprovals": [],
                "deploySteps": [],
                "rank": 1,
                "definitionEnvironmentId": 1,
                "owner": {"displayName": "Chuck Reinhart", "id": "4247c988-4060-4712-abca-ff44681dd78a"},
                "release": {
                    "id": 5,
                    "name": "Release-5",
                    "_links": {"web": {"href": "https://fabfiber.visualstudio.com/Fabrikam-Fiber-Git/_release?releaseId=5&_a=release-summary"}}
                }
            },
            "release": {
                "id": 0,
                "name": null,
                "status": "undefined",
                "environments": [],
                "releaseDefinition": {"id": 1, "name": "Fabrikam.CD", "projectReference": null, "_links": {}},
                "_links": {}
            },
            "project": {"id": "00000000-0000-0000-0000-000000000000", "name": "Fabrikam"}
        }),
        "2019-10-10T17:49:39.157Z",
    );
    let Ok(Outcome::Changes(c)) = ado::service_hook(&body, &ctx()) else {
        panic!("changes expected")
    };
    assert_eq!(c.len(), 2);
    let record = json!({
        "id": "ado:Fabrikam:5:5",
        "environment": "Dev",
        "version": "Release-5",
        "status": "queued",
        "createdAt": "2019-10-10T17:49:39Z",
        "updatedAt": "2019-10-10T17:49:39Z",
        "url": "https://fabfiber.visualstudio.com/Fabrikam-Fiber-Git/_release?releaseId=5&_a=release-summary"
    });
    let components = facts(&c[0]);
    assert_eq!(
        components.target,
        Target::ComponentsOfPipeline {
            organization: "fabfiber".into(),
            project: "Fabrikam".into(),
            definition_id: 1
        }
    );
    assert_eq!(item(components), &record);
    let env = facts(&c[1]);
    assert_eq!(
        env.target,
        Target::Environment {
            namespace: None,
            name: "Dev".into()
        }
    );
    assert_eq!(item(env), &record);
}

/// A release approval delivery in the documented shape (`resource.approval`, the release, the
/// project by name); `id` is the approval id.
fn release_approval(event: &str, id: i64, status: &str) -> Vec<u8> {
    let definition = json!({
        "id": 1,
        "name": "Fabrikam.CD",
        "url": "http://vsrm.dev.azure.com/fabfiber/DefaultCollection/Fabrikam-Fiber-Git/_apis/Release/definitions/1"
    });
    delivery(
        event,
        "Pre deployment approval pending for release <a href='http://vsrm.dev.azure.com/fabfiber/DefaultCollection/Fabrikam-Fiber-Git/_apis/Release/releases/1'>Release-1</a> on environment <a href='http://vsrm.dev.azure.com/fabfiber/DefaultCollection/Fabrikam-Fiber-Git/_apps/hub/ms.vss-releaseManagement-web.hub-explorer?_a=environment-summary&definitionEnvironmentId=8&definitionId=1'>Dev</a>.",
        json!({
            "approval": {
                "id": id,
                "revision": 0,
                "approver": {"id": "4247c988-4060-4712-abca-ff44681dd78a", "displayName": "Chuck Reinhart"},
                "approvalType": "preDeploy",
                "createdOn": "2016-01-21T08:19:17.26Z",
                "modifiedOn": "2016-01-21T08:19:17.26Z",
                "status": status,
                "comments": "",
                "isAutomated": false,
                "attempt": 0,
                "rank": 1,
                "release": {"id": 1, "name": "Release-1"},
                "releaseDefinition": definition,
                "releaseEnvironment": {"id": 8, "name": "Dev"}
            },
            "release": {
                "id": 1,
                "name": "Release-1",
                "status": "active",
                "environments": [],
                "releaseDefinition": definition,
                "_links": {}
            },
            "project": {"id": "00000000-0000-0000-0000-000000000000", "name": "Fabrikam"}
        }),
        "2016-09-19T13:03:28.0320509Z",
    )
}

#[test]
fn release_approvals_join_and_leave_the_pending_approvals_of_the_release_pipeline() {
    let pending = release_approval(
        "ms.vss-release.deployment-approval-pending-event",
        42,
        "pending",
    );
    let Ok(Outcome::Changes(c)) = ado::service_hook(&pending, &ctx()) else {
        panic!("changes expected")
    };
    assert_eq!(c.len(), 1);
    let f = facts(&c[0]);
    assert_eq!(f.target, pipeline("fabfiber", "Fabrikam", 1));
    assert_eq!(
        item(f),
        &json!({
            "id": "42",
            "runId": "1",
            "stage": "Dev",
            "approvers": ["Chuck Reinhart"],
            "createdAt": "2016-01-21T08:19:17Z",
            "url": "https://dev.azure.com/fabfiber/Fabrikam/_release?releaseId=1&_a=release-summary"
        })
    );
    let completed = release_approval(
        "ms.vss-release.deployment-approval-completed-event",
        42,
        "approved",
    );
    let Ok(Outcome::Changes(c)) = ado::service_hook(&completed, &ctx()) else {
        panic!("changes expected")
    };
    let f = facts(&c[0]);
    assert_eq!(f.target, pipeline("fabfiber", "Fabrikam", 1));
    assert_eq!(
        f.lists,
        vec![ListOp::remove("pendingApprovals", "id", "42")]
    );

    // The documented samples carry approval id 0: nothing to match a completion to.
    match ado::service_hook(
        &release_approval(
            "ms.vss-release.deployment-approval-pending-event",
            0,
            "pending",
        ),
        &ctx(),
    ) {
        Ok(Outcome::Ignored(r)) => assert!(r.contains("release approval has no id"), "{r}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn restored_work_items_are_upserted_again() {
    // The documented `workitem.restored` payload: the whole work item, as on creation.
    let body = serde_json::to_vec(&json!({
        "id": "1ca023d6-6cff-49dd-b3d1-302b69311810",
        "eventType": "workitem.restored",
        "publisherId": "tfs",
        "scope": "all",
        "message": {
            "text": "Bug #5 (Some great new idea!) restored by Jamal Hartnett.",
            "html": "<a href=\"https://dev.azure.com/fabrikam-fiber-inc/web/wi.aspx?pcguid=74e918bf-3376-436d-bd20-8e8c1287f465&amp;id=5\">Bug #5</a> (Some great new idea!) restored by Jamal Hartnett.",
            "markdown": ""
        },
        "resource": {
            "id": 5,
            "rev": 1,
            "fields": {
                "System.AreaPath": "FabrikamCloud",
                "System.TeamProject": "FabrikamCloud",
                "System.IterationPath": "FabrikamCloud\\Release 1\\Sprint 1",
                "System.WorkItemType": "Bug",
                "System.State": "New",
                "System.Reason": "New defect reported",
                "System.CreatedDate": "2014-07-15T17:42:44.663Z",
                "System.CreatedBy": "Jamal Hartnett",
                "System.ChangedDate": "2014-07-15T17:42:44.663Z",
                "System.ChangedBy": "Jamal Hartnett",
                "System.Title": "Some great new idea!"
            },
            "_links": {
                "self": {"href": "https://dev.azure.com/fabrikam-fiber-inc/DefaultCollection/_apis/wit/workItems/5"},
                "html": {"href": "https://dev.azure.com/fabrikam-fiber-inc/web/wi.aspx?pcguid=d81542e4-cdfa-4333-b082-1ae2d6c3ad16&id=5"}
            },
            "url": "https://dev.azure.com/fabrikam-fiber-inc/DefaultCollection/_apis/wit/workItems/5"
        },
        "resourceVersion": "1.0",
        "resourceContainers": {
            "collection": {"id": "c12d0eb8-e382-443b-9f9c-c52cba5014c2"},
            "account": {"id": "f844ec47-a9db-4511-8281-8b63f4eaf94e"},
            "project": {"id": "be9b3917-87e6-42a4-a549-2bc06a7a878f"}
        },
        "createdDate": "2016-09-19T13:03:30.1456784Z"
    }))
    .expect("json");
    let Ok(Outcome::Changes(c)) = ado::service_hook(&body, &ctx()) else {
        panic!("changes expected")
    };
    assert_eq!(c.len(), 1, "{c:?}");
    let u = upsert(&c[0]);
    assert_eq!(u.kind(), "WorkItem");
    assert_eq!(u.name(), "ado-fabrikam-fiber-inc-5");
    assert_eq!(u.namespace(), "catalog");
    assert_eq!(
        u.object["spec"],
        json!({
            "title": "Some great new idea!",
            "provider": "azureBoards",
            "id": 5,
            "type": "Bug",
            "state": "New",
            "organization": "fabrikam-fiber-inc",
            "project": "FabrikamCloud",
            "iteration": "FabrikamCloud\\Release 1\\Sprint 1",
            "areaPath": "FabrikamCloud",
            "url": "https://dev.azure.com/fabrikam-fiber-inc/FabrikamCloud/_workitems/edit/5"
        })
    );
}

fn work_item(rel: &str) -> Value {
    let c = changes(rel);
    assert_eq!(c.len(), 1, "{rel}");
    let u = upsert(&c[0]);
    assert_eq!(u.kind(), "WorkItem");
    assert_eq!(u.name(), "ado-defaultcollection-5");
    assert_eq!(u.namespace(), "catalog");
    u.object["spec"].clone()
}

#[test]
fn work_item_events_upsert_the_work_item() {
    let created = work_item("aspnet-webhooks-vsts/workitem.created.json");
    assert_eq!(
        created,
        json!({
            "title": "Some great new idea!",
            "provider": "azureBoards",
            "id": 5,
            "type": "Bug",
            "state": "New",
            "organization": "DefaultCollection",
            "project": "GoodCompanyCloud",
            "iteration": "GoodCompanyCloud\\Release 1\\Sprint 1",
            "areaPath": "GoodCompanyCloud",
            "url": "http://good-company.some.ssl.host/DefaultCollection/GoodCompanyCloud/_workitems/edit/5"
        })
    );
    // The update's new values win over the revision.
    let updated = work_item("aspnet-webhooks-vsts/workitem.updated.json");
    assert_eq!(updated["state"], "Approved");
    assert_eq!(updated["assignee"], "Jamal Hartnet");
    assert_eq!(updated["id"], 5);
    let commented = work_item("aspnet-webhooks-vsts/workitem.commented.json");
    assert_eq!(commented["state"], "New");
}

#[test]
fn work_item_areas_and_tags_relate_it_to_entities() {
    let mut ctx = ctx();
    ctx.services.entries.insert(
        "GoodCompanyCloud".into(),
        vec!["component:payments/checkout".into()],
    );
    let body = std::fs::read(hooks_dir().join("aspnet-webhooks-vsts/workitem.created.json"))
        .expect("corpus");
    let Ok(Outcome::Changes(c)) = ado::service_hook(&body, &ctx) else {
        panic!()
    };
    let u = upsert(&c[0]);
    assert_eq!(u.namespace(), "payments");
    assert_eq!(
        u.object["spec"]["relatesTo"],
        json!(["component:payments/checkout"])
    );
}

#[test]
fn deleted_work_items_are_gone() {
    let raw = std::fs::read(hooks_dir().join("aspnet-webhooks-vsts/workitem.created.json"))
        .expect("corpus");
    let mut v: Value =
        serde_json::from_slice(raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&raw)).expect("json");
    v["eventType"] = json!("workitem.deleted");
    let Ok(Outcome::Changes(c)) = ado::service_hook(&serde_json::to_vec(&v).expect("json"), &ctx())
    else {
        panic!()
    };
    let Change::Gone(g) = &c[0] else {
        panic!("gone expected")
    };
    assert!(g.delete);
    assert_eq!(
        g.target,
        Target::Entity {
            kind: "WorkItem".into(),
            namespace: "catalog".into(),
            name: "ado-defaultcollection-5".into()
        }
    );
}

#[test]
fn truncated_hooks_fail_cleanly() {
    for rel in [
        "aspnet-webhooks-vsts/git.push.json",
        "aspnet-webhooks-vsts/build.complete.json",
        "azure-devops-docs-events-md/ms.vss-release.deployment-completed-event.json",
        "aspnet-webhooks-vsts/workitem.updated.json",
    ] {
        let body = std::fs::read(hooks_dir().join(rel)).expect("corpus");
        for cut in [1, 3, 10, body.len() / 2, body.len() - 2] {
            let e = ado::service_hook(&body[..cut], &ctx()).expect_err("truncated");
            assert!(
                matches!(e, IngestError::Syntax { .. }),
                "{rel} at {cut}: {e}"
            );
        }
    }
}

#[test]
fn wrong_field_types_name_the_field() {
    let raw =
        std::fs::read(hooks_dir().join("aspnet-webhooks-vsts/git.push.json")).expect("corpus");
    let mut v: Value = serde_json::from_slice(&raw).expect("json");
    v["resource"]["refUpdates"][0]["name"] = json!(7);
    let e =
        ado::service_hook(&serde_json::to_vec(&v).expect("json"), &ctx()).expect_err("bad type");
    assert!(
        e.to_string()
            .starts_with("resource.refUpdates[0].name: invalid type"),
        "{e}"
    );
    v["resource"] = json!({"repository": {"name": "x"}, "date": "yesterday"});
    let e = ado::service_hook(&serde_json::to_vec(&v).expect("json"), &ctx()).expect_err("no org");
    assert!(e.to_string().contains("organization"), "{e}");
}

/// Each REST example file, with the resource it is read as (or why Nexus does not read it).
const REST_FILES: &[(&str, Option<&str>)] = &[
    ("approvalsAndChecks__7.1__runs__GET__CheckSuite.json", None), // check runs: not read
    (
        "git__7.1__pullRequests__GET__git_repositories__repositoryId__pullRequests.json",
        Some("pullRequests"),
    ),
    (
        "git__7.1__pushes__GET__git_repositories__repositoryId__pushes.json",
        Some("pushes"),
    ),
    ("hooks__7.1__publishers__GET__hooks_publishers.json", None), // hook metadata: not read
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

#[test]
fn every_rest_file_is_mapped() {
    let mut on_disk: Vec<String> = std::fs::read_dir(Path::new(CORPUS).join("ado-rest-api"))
        .expect("corpus")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json"))
        .collect();
    on_disk.sort();
    let listed: Vec<&str> = REST_FILES.iter().map(|(f, _)| *f).collect();
    assert_eq!(on_disk, listed);
    for (file, resource) in REST_FILES {
        match resource {
            Some(r) => {
                assert!(ado::REST_RESOURCES.contains(r));
                assert!(ado::rest(r, &rest_body(file), &ctx()).is_ok(), "{file}");
            }
            None => {
                let e = ado::rest("hooks", &rest_body(file), &ctx()).expect_err("not read");
                assert!(
                    e.to_string()
                        .starts_with("resource: unknown Azure DevOps REST resource `hooks`"),
                    "{e}"
                );
            }
        }
    }
}

#[test]
fn rest_pull_requests_build_the_repository_url() {
    let c = rest(
        "pullRequests",
        "git__7.1__pullRequests__GET__git_repositories__repositoryId__pullRequests.json",
    );
    // No default branch or remote URL in this response: no Repository upsert, one Facts.
    assert_eq!(c.len(), 1);
    let f = facts(&c[0]);
    let url = "https://dev.azure.com/fabrikam/2016_10_31/_git/2016_10_31";
    assert_eq!(f.target, Target::RepositoryUrl { url: url.into() });
    let numbers: Vec<i64> = f
        .lists
        .iter()
        .map(|op| match op {
            ListOp::Upsert { item, .. } => item["number"].as_i64().unwrap_or(0),
            ListOp::Remove { .. } => -1,
        })
        .collect();
    assert_eq!(numbers, [22, 21, 1]);
    assert_eq!(item(f)["title"], "A new feature");
    assert_eq!(item(f)["createdAt"], "2016-11-01T16:30:31Z");
    assert_eq!(item(f)["sourceBranch"], "npaulk/my_work");
    assert_eq!(item(f)["url"], format!("{url}/pullrequest/22"));
}

#[test]
fn rest_pushes_discover_the_repository_and_need_ref_updates() {
    let file = "git__7.1__pushes__GET__git_repositories__repositoryId__pushes.json";
    let c = rest("pushes", file);
    assert_eq!(
        c.len(),
        1,
        "22 pushes of one repository, none with ref updates"
    );
    let u = upsert(&c[0]);
    assert_eq!(u.name(), "fabrikam-fabrikam-fiber-git-fabrikam-fiber-git");
    assert_eq!(
        u.object["spec"]["url"],
        "https://dev.azure.com/fabrikam/_git/Fabrikam-Fiber-Git"
    );
    assert_eq!(u.object["spec"]["defaultBranch"], "master");
    // With `includeRefUpdates` the push to master is recorded.
    let mut v: Value = serde_json::from_slice(&rest_body(file)).expect("json");
    v["value"][0]["refUpdates"] = json!([{"name": "refs/heads/master", "newObjectId": "33b55f7cb7e7e245323987634f960cf4a6e6bc74"}]);
    let Ok(Outcome::Changes(c)) =
        ado::rest("pushes", &serde_json::to_vec(&v).expect("json"), &ctx())
    else {
        panic!()
    };
    let f = facts(&c[1]);
    assert_eq!(item(f)["sha"], "33b55f7cb7e7e245323987634f960cf4a6e6bc74");
    assert_eq!(item(f)["pushedAt"], "2014-06-30T18:11:18Z");
    assert_eq!(item(f)["pusher"], "fabrikamfiber16@hotmail.com");
}

#[test]
fn rest_deployments_and_releases() {
    let c = rest(
        "deployments",
        "release__7.1__deployments__GET__ListDeploymentsForAGivenDefinitionId.json",
    );
    assert_eq!(c.len(), 2);
    let f = facts(&c[0]);
    assert_eq!(
        f.target,
        Target::ComponentsOfPipeline {
            organization: "fabrikam".into(),
            project: "MyFirstProject".into(),
            definition_id: 38
        }
    );
    assert_eq!(
        item(f),
        &json!({
            "id": "ado:MyFirstProject:55:118",
            "environment": "PROD",
            "version": "Release-2",
            "status": "failure",
            "createdAt": "2017-08-29T16:51:32Z",
            "updatedAt": "2017-08-29T16:51:40Z",
            "creator": "fabfiber@outlook.com",
            "url": "https://dev.azure.com/fabrikam/d07908bc-118f-47d2-8a13-ff75601a6b1a/_release?releaseId=55&_a=release-summary"
        })
    );
    assert_eq!(
        facts(&c[1]).target,
        Target::Environment {
            namespace: None,
            name: "PROD".into()
        }
    );
    // Releases listed without environments, and an abandoned release whose stages never
    // started, deployed nothing.
    assert!(
        rest(
            "releases",
            "release__7.1__releases__Query_ListAllReleases.json"
        )
        .is_empty()
    );
    assert!(rest("releases", "release__7.1__releases__GET__GetARelease.json").is_empty());
    let file = "release__7.1__releases__GET__GetARelease.json";
    let mut v: Value = serde_json::from_slice(&rest_body(file)).expect("json");
    v["environments"][3]["status"] = json!("succeeded");
    let scope = ado::Scope {
        organization: "fabrikam".into(),
        project: "MyFirstProject".into(),
    };
    let Ok(Outcome::Changes(c)) = ado::rest_in(
        "releases",
        &scope,
        &serde_json::to_vec(&v).expect("json"),
        &ctx(),
    ) else {
        panic!()
    };
    let f = facts(&c[0]);
    assert_eq!(
        f.target,
        Target::ComponentsOfPipeline {
            organization: "fabrikam".into(),
            project: "MyFirstProject".into(),
            definition_id: 1
        }
    );
    assert_eq!(item(f)["id"], "ado:MyFirstProject:18:72");
    assert_eq!(item(f)["environment"], "PROD");
    assert_eq!(item(f)["version"], "Release-18");
    assert_eq!(item(f)["status"], "success");
}

#[test]
fn rest_work_items() {
    let c = rest(
        "workItems",
        "wit__7.1__workItems__GET__wit_WorkItems_id.json",
    );
    let u = upsert(&c[0]);
    assert_eq!(u.name(), "ado-fabrikam-12");
    assert_eq!(
        u.object["spec"],
        json!({
            "title": "Epic 2",
            "tags": ["client", "sample", "teamservices"],
            "provider": "azureBoards",
            "id": 12,
            "type": "User Story",
            "state": "Active",
            "organization": "fabrikam",
            "project": "MyAgilePrj2",
            "iteration": "MyAgilePrj2\\Iteration 1",
            "areaPath": "MyAgilePrj2",
            "assignee": "fabrikamfiber4@hotmail.com",
            "url": "https://dev.azure.com/fabrikam/MyAgilePrj2/_workitems/edit/12"
        })
    );
    let c = rest(
        "workItems",
        "wit__7.1__workItems__GET__wit_WorkItems_ids-_ids_.json",
    );
    let got: Vec<(String, Value, Value)> = c
        .iter()
        .map(|c| {
            let u = upsert(c);
            (
                u.name().to_string(),
                u.object["spec"]["type"].clone(),
                u.object["spec"]["state"].clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "ado-fabrikam-297".to_string(),
                json!("Product Backlog Item"),
                json!("New")
            ),
            (
                "ado-fabrikam-299".to_string(),
                json!("Task"),
                json!("To Do")
            ),
            (
                "ado-fabrikam-300".to_string(),
                json!("Task"),
                json!("To Do")
            ),
        ]
    );
    assert_eq!(
        upsert(&c[1]).object["spec"]["areaPath"],
        "Fabrikam-Fiber-Git\\Website"
    );
}

#[test]
fn truncated_rest_bodies_fail_cleanly() {
    for (file, resource) in REST_FILES.iter().filter_map(|(f, r)| Some((f, (*r)?))) {
        let body = rest_body(file);
        for cut in [1, body.len() / 3, body.len() - 1] {
            let e = ado::rest(resource, &body[..cut], &ctx()).expect_err("truncated");
            assert!(
                matches!(e, IngestError::Syntax { .. }),
                "{file} at {cut}: {e}"
            );
        }
    }
}

#[test]
fn wiql() {
    let ids = ado::wiql_ids(
        br#"{"queryType":"flat","workItems":[{"id":297,"url":"u"},{"id":300,"url":"u"}]}"#,
    );
    assert_eq!(ids.expect("ids"), [297, 300]);
    assert!(ado::wiql_ids(br#"{"workItems":[{"url":"u"}]}"#).is_err());
    assert_eq!(
        ado::wiql_changed_since("O'Brien", "2024-05-01T10:00:00.5+02:00"),
        "SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = 'O''Brien' AND [System.ChangedDate] >= '2024-05-01T08:00:00Z' ORDER BY [System.ChangedDate] ASC"
    );
}
