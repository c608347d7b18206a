//! What the portal shows of Actions, runs and approvals, and what the caller may do with them
//! (`canRun`, `canApprove`, `canCancel`). Pure functions of the objects, the caller and the
//! RBAC answers (asked by the handlers), so every rule is unit-tested without a cluster.
//!
//! The rules mirror what kube-apiserver enforces (docs/actions.md): the admission policies stay
//! the authority — these answers only spare people a button that would be refused.

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use nexus_api::actions::{
    Action, ActionApproval, ActionGate, ActionRun, ActionSpec, ApprovalStage, Decision, Subjects,
    TimeoutAction,
};
use serde::Serialize;
use serde_json::Value;

use crate::authn::UserInfo;

/// Phases after which nothing more happens to a run (a Failed run may still be retried).
pub const FINISHED: &[&str] = &[
    "Succeeded",
    "Failed",
    "Rejected",
    "Expired",
    "Cancelled",
    "RolledBack",
    "Invalid",
    "Refused",
];

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SubjectsView {
    pub groups: Vec<String>,
    pub users: Vec<String>,
}

impl From<&Subjects> for SubjectsView {
    fn from(s: &Subjects) -> Self {
        Self {
            groups: s.groups.clone(),
            users: s.users.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StageView {
    pub name: String,
    pub required: i32,
    pub approvers: SubjectsView,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalView {
    pub stages: Vec<StageView>,
    pub timeout: String,
    pub on_timeout: &'static str,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ActionSummary {
    pub namespace: String,
    pub name: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    pub version: String,
    pub target_kinds: Vec<String>,
    /// The inputs JSON Schema, or null.
    pub inputs: Value,
    pub approval: ApprovalView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate: Option<ActionGate>,
    pub timeout: String,
    pub ready: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready_message: Option<String>,
    pub can_run: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why_not: Option<String>,
}

fn names(s: &Subjects) -> String {
    let mut parts = Vec::new();
    if !s.groups.is_empty() {
        parts.push(format!("groups {}", s.groups.join(", ")));
    }
    if !s.users.is_empty() {
        parts.push(format!("users {}", s.users.join(", ")));
    }
    parts.join("; ")
}

/// Whether `user` is one of `subjects` (by name or by a group).
pub fn is_one_of(subjects: &Subjects, user: &UserInfo) -> bool {
    subjects.users.contains(&user.username)
        || subjects.groups.iter().any(|g| user.groups.contains(g))
}

fn condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// `Ready` and, when not ready, why.
pub fn readiness(action: &Action) -> (bool, Option<String>) {
    let ready = action
        .status
        .as_ref()
        .and_then(|s| condition(&s.conditions, "Ready"));
    match ready {
        Some(c) if c.status == "True" => (true, None),
        Some(c) => (
            false,
            Some(if c.message.is_empty() {
                c.reason.clone()
            } else {
                c.message.clone()
            }),
        ),
        None => (
            false,
            Some("the controller has not checked this action yet".into()),
        ),
    }
}

/// `canRun` and `whyNot`: the Action is Ready, RBAC lets the caller create ActionRuns in its
/// namespace (`may_create_runs`), and the caller is among its runners (everyone when none are
/// named). Every failing reason is given.
pub fn can_run(action: &Action, user: &UserInfo, may_create_runs: bool) -> (bool, Option<String>) {
    let mut why = Vec::new();
    let (ready, message) = readiness(action);
    if !ready {
        why.push(format!(
            "the action is not ready: {}",
            message.unwrap_or_default()
        ));
    }
    if !may_create_runs {
        why.push(format!(
            "you may not create ActionRuns in namespace {}",
            action.metadata.namespace.as_deref().unwrap_or_default()
        ));
    }
    let runners = &action.spec.runners;
    if !runners.is_empty() && !is_one_of(runners, user) {
        why.push(format!("only its runners may run it ({})", names(runners)));
    }
    if why.is_empty() {
        (true, None)
    } else {
        (false, Some(why.join("; ")))
    }
}

fn approval_view(spec: &ActionSpec) -> ApprovalView {
    ApprovalView {
        stages: spec
            .approval
            .stages
            .iter()
            .map(|s| StageView {
                name: s.name.clone(),
                required: s.required,
                approvers: (&s.approvers).into(),
            })
            .collect(),
        timeout: spec.approval.timeout.clone(),
        on_timeout: match spec.approval.on_timeout {
            TimeoutAction::Reject => "Reject",
            TimeoutAction::Approve => "Approve",
        },
    }
}

pub fn action_summary(action: &Action, user: &UserInfo, may_create_runs: bool) -> ActionSummary {
    let spec = &action.spec;
    let (ready, ready_message) = readiness(action);
    let (can_run, why_not) = can_run(action, user, may_create_runs);
    ActionSummary {
        namespace: action.metadata.namespace.clone().unwrap_or_default(),
        name: action.metadata.name.clone().unwrap_or_default(),
        title: spec.title.clone(),
        description: spec.description.clone(),
        category: spec.category.clone(),
        version: spec.version.clone(),
        target_kinds: spec.target_kinds.clone(),
        inputs: spec.inputs.clone().unwrap_or(Value::Null),
        approval: approval_view(spec),
        gate: spec.gate.clone(),
        timeout: spec.timeout.clone(),
        ready,
        ready_message,
        can_run,
        why_not,
    }
}

/// Whether an Action fits a target of `kind`: it names the kind (case-insensitive). Actions
/// without target kinds take no target, so they never fit one.
pub fn fits_target(action: &Action, kind: &str) -> bool {
    action
        .spec
        .target_kinds
        .iter()
        .any(|k| k.eq_ignore_ascii_case(kind))
}

/// Catalogue order: category (uncategorised last), then title, then namespace and name.
pub fn sort_actions(items: &mut [ActionSummary]) {
    items.sort_by(|a, b| {
        let cat =
            |s: &ActionSummary| (s.category.is_none(), s.category.clone().unwrap_or_default());
        (cat(a), &a.title, &a.namespace, &a.name).cmp(&(cat(b), &b.title, &b.namespace, &b.name))
    });
}

// --- runs ------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RecordedView {
    pub name: String,
    pub author: String,
    pub decision: Decision,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub time: Time,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RunStage {
    pub name: String,
    pub required: i32,
    pub state: String,
    pub approvals: Vec<RecordedView>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    pub namespace: String,
    pub name: String,
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub requester: String,
    pub phase: String,
    pub attempt: i32,
    pub cancel: bool,
    pub created_at: Option<Time>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub stages: Vec<RunStage>,
}

/// The Action as the run sees it: pinned at validation, else the current one.
pub fn run_action_spec<'a>(
    run: &'a ActionRun,
    current: Option<&'a Action>,
) -> Option<&'a ActionSpec> {
    run.status
        .as_ref()
        .and_then(|s| s.action.as_ref())
        .map(|p| &p.spec)
        .or(current.map(|a| &a.spec))
}

pub fn phase(run: &ActionRun) -> String {
    run.status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_else(|| "Pending".into())
}

/// The condition message that explains the phase best: the condition the phase comes from,
/// else the most recent condition with a message.
pub fn phase_message(run: &ActionRun) -> Option<String> {
    let conditions = &run.status.as_ref()?.conditions;
    let phase = phase(run);
    let from = match phase.as_str() {
        "Pending" | "Invalid" | "Refused" => "Validated",
        "WaitingForApproval" | "Approved" => "Approved",
        other => other,
    };
    condition(conditions, from)
        .filter(|c| !c.message.is_empty())
        .or_else(|| {
            conditions
                .iter()
                .filter(|c| !c.message.is_empty())
                .max_by(|a, b| a.last_transition_time.0.cmp(&b.last_transition_time.0))
        })
        .map(|c| c.message.clone())
}

pub fn run_summary(run: &ActionRun, current: Option<&Action>) -> RunSummary {
    let status = run.status.as_ref();
    let spec = run_action_spec(run, current);
    let recorded: Vec<RunStage> = status
        .map(|s| {
            s.stages
                .iter()
                .map(|st| RunStage {
                    name: st.name.clone(),
                    required: st.required,
                    state: st.state.clone(),
                    approvals: st
                        .approvals
                        .iter()
                        .map(|a| RecordedView {
                            name: a.name.clone(),
                            author: a.author.clone(),
                            decision: a.decision,
                            comment: a.comment.clone(),
                            time: a.time.clone(),
                        })
                        .collect(),
                })
                .collect()
        })
        .unwrap_or_default();
    // Before validation the run has no stages yet: show the Action's, none open.
    let stages = if recorded.is_empty() {
        spec.map(|s| {
            s.approval
                .stages
                .iter()
                .map(|st| RunStage {
                    name: st.name.clone(),
                    required: st.required,
                    state: "Waiting".into(),
                    approvals: Vec::new(),
                })
                .collect()
        })
        .unwrap_or_default()
    } else {
        recorded
    };
    RunSummary {
        namespace: run.metadata.namespace.clone().unwrap_or_default(),
        name: run.metadata.name.clone().unwrap_or_default(),
        action: run.spec.action.clone(),
        action_title: spec.map(|s| s.title.clone()),
        target: run.spec.target.clone(),
        requester: run.spec.requester.clone(),
        phase: phase(run),
        attempt: run.spec.attempt,
        cancel: run.spec.cancel,
        created_at: run.metadata.creation_timestamp.clone(),
        started_at: status.and_then(|s| s.started_at.clone()),
        finished_at: status.and_then(|s| s.finished_at.clone()),
        message: phase_message(run),
        stages,
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalItem {
    pub name: String,
    pub stage: String,
    pub decision: Decision,
    pub author: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub created_at: Option<Time>,
    /// Whether the run counted it; absent until the controller has looked at it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counted: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counted_message: Option<String>,
}

pub fn approval_item(a: &ActionApproval) -> ApprovalItem {
    let counted = a
        .status
        .as_ref()
        .and_then(|s| condition(&s.conditions, "Counted"));
    ApprovalItem {
        name: a.metadata.name.clone().unwrap_or_default(),
        stage: a.spec.stage.clone(),
        decision: a.spec.decision,
        author: a.spec.author.clone(),
        comment: a.spec.comment.clone(),
        created_at: a.metadata.creation_timestamp.clone(),
        counted: counted.map(|c| c.status == "True"),
        counted_message: counted
            .filter(|c| c.status != "True")
            .map(|c| format!("{}: {}", c.reason, c.message)),
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct CanApprove {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    pub allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why_not: Option<String>,
}

/// The stage open for decisions, with its policy.
pub fn open_stage<'a>(
    run: &'a ActionRun,
    current: Option<&'a Action>,
) -> Option<(
    &'a nexus_api::actions::StageStatus,
    Option<&'a ApprovalStage>,
)> {
    let stage = run
        .status
        .as_ref()?
        .stages
        .iter()
        .find(|s| s.state == "Open")?;
    let policy = run_action_spec(run, current)
        .and_then(|s| s.approval.stages.iter().find(|p| p.name == stage.name));
    Some((stage, policy))
}

/// `canApprove`: a stage is open, the caller is among its approvers, did not request the run,
/// has not decided the stage yet (recorded, or an approval the controller has not counted
/// yet), and RBAC lets them create ActionApprovals in the namespace (`may_create`).
pub fn can_approve(
    run: &ActionRun,
    current: Option<&Action>,
    approvals: &[Arc<ActionApproval>],
    user: &UserInfo,
    may_create: bool,
) -> CanApprove {
    let Some((stage, policy)) = open_stage(run, current) else {
        return CanApprove {
            stage: None,
            allowed: false,
            why_not: Some(format!(
                "no stage is open for approval (phase {})",
                phase(run)
            )),
        };
    };
    let mut why = None;
    let approvers = policy.map(|p| &p.approvers);
    if !approvers.is_some_and(|a| is_one_of(a, user)) {
        why = Some(format!(
            "you are not one of the approvers of stage {} ({})",
            stage.name,
            approvers.map(names).unwrap_or_default()
        ));
    } else if run.spec.requester == user.username {
        why = Some("you requested this run; someone else must approve it".into());
    } else if stage.approvals.iter().any(|a| a.author == user.username)
        || approvals
            .iter()
            .any(|a| a.spec.stage == stage.name && a.spec.author == user.username)
    {
        why = Some(format!("you have already decided stage {}", stage.name));
    } else if !may_create {
        why = Some(format!(
            "you may not create ActionApprovals in namespace {}",
            run.metadata.namespace.as_deref().unwrap_or_default()
        ));
    }
    CanApprove {
        stage: Some(stage.name.clone()),
        allowed: why.is_none(),
        why_not: why,
    }
}

/// `canCancel`: the run has not finished nor been cancelled, and RBAC lets the caller patch it.
pub fn can_cancel(run: &ActionRun, may_patch: bool) -> bool {
    may_patch && !run.spec.cancel && !FINISHED.contains(&phase(run).as_str())
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RunDetail {
    #[serde(flatten)]
    pub summary: RunSummary,
    pub inputs: Value,
    pub outputs: std::collections::BTreeMap<String, String>,
    pub log_tail: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution: Option<nexus_api::actions::Execution>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_deadline: Option<Time>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback_run: Option<String>,
    pub conditions: Vec<Condition>,
    pub approvals: Vec<ApprovalItem>,
    pub can_approve: CanApprove,
    pub can_cancel: bool,
}

/// What the caller may do, as RBAC answered.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunRights {
    pub create_approvals: bool,
    pub patch_runs: bool,
}

pub fn run_detail(
    run: &ActionRun,
    current: Option<&Action>,
    approvals: &[Arc<ActionApproval>],
    user: &UserInfo,
    rights: RunRights,
) -> RunDetail {
    let status = run.status.clone().unwrap_or_default();
    RunDetail {
        summary: run_summary(run, current),
        inputs: status
            .inputs
            .clone()
            .unwrap_or_else(|| run.spec.inputs.clone()),
        outputs: status.outputs,
        log_tail: status.log_tail,
        execution: status.execution,
        approval_deadline: status.approval_deadline,
        rollback_run: status.rollback_run,
        conditions: status.conditions,
        approvals: approvals.iter().map(|a| approval_item(a)).collect(),
        can_approve: can_approve(run, current, approvals, user, rights.create_approvals),
        can_cancel: can_cancel(run, rights.patch_runs),
    }
}

/// One inbox row: a run the caller may approve now.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InboxItem {
    pub run: RunSummary,
    pub stage: String,
    pub required: i32,
    pub approved: usize,
}

/// The inbox row of `run`, when the caller may approve it now.
pub fn inbox_item(
    run: &ActionRun,
    current: Option<&Action>,
    approvals: &[Arc<ActionApproval>],
    user: &UserInfo,
    may_create: bool,
) -> Option<InboxItem> {
    let can = can_approve(run, current, approvals, user, may_create);
    if !can.allowed {
        return None;
    }
    let (stage, _) = open_stage(run, current)?;
    Some(InboxItem {
        run: run_summary(run, current),
        stage: stage.name.clone(),
        required: stage.required,
        approved: stage
            .approvals
            .iter()
            .filter(|a| a.decision == Decision::Approve)
            .count(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn user(name: &str, groups: &[&str]) -> UserInfo {
        UserInfo {
            username: name.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            ..Default::default()
        }
    }

    fn action(ready: bool, runners: Value) -> Action {
        serde_json::from_value(json!({
            "apiVersion": "actions.nexus.dev/v1alpha1", "kind": "Action",
            "metadata": {"name": "scale", "namespace": "pay"},
            "spec": {"title": "Scale", "version": "1.0.0", "targetKinds": ["Component"],
                "executor": {"kubernetes": {"operation": "scale", "namespace": "x", "name": "y", "replicas": "1"}},
                "approval": {"stages": [{"name": "lead", "approvers": {"groups": ["leads"], "users": ["ann"]}, "required": 2}]},
                "runners": runners},
            "status": {"conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"},
                "reason": "ExecutorUnavailable", "message": "exec is not available", "lastTransitionTime": "2025-01-01T00:00:00Z"}]}
        }))
        .unwrap()
    }

    fn run(phase: &str, stage_state: &str, recorded: Value) -> ActionRun {
        serde_json::from_value(json!({
            "apiVersion": "actions.nexus.dev/v1alpha1", "kind": "ActionRun",
            "metadata": {"name": "scale-1", "namespace": "pay", "creationTimestamp": "2025-01-01T00:00:00Z"},
            "spec": {"action": "scale", "target": "component:pay/checkout", "requester": "dana", "inputs": {"replicas": 3}},
            "status": {"phase": phase,
                "stages": [{"name": "lead", "required": 2, "state": stage_state, "approvals": recorded}],
                "conditions": [
                    {"type": "Validated", "status": "True", "reason": "Valid", "message": "inputs are valid", "lastTransitionTime": "2025-01-01T00:00:01Z"},
                    {"type": "Failed", "status": "True", "reason": "Failed", "message": "deployment not found", "lastTransitionTime": "2025-01-01T00:00:02Z"}]}
        }))
        .unwrap()
    }

    fn approval(author: &str, stage: &str) -> Arc<ActionApproval> {
        Arc::new(
            serde_json::from_value(json!({
                "apiVersion": "actions.nexus.dev/v1alpha1", "kind": "ActionApproval",
                "metadata": {"name": format!("a-{author}"), "namespace": "pay"},
                "spec": {"run": "scale-1", "stage": stage, "decision": "Approve", "author": author},
                "status": {"conditions": [{"type": "Counted", "status": "False", "reason": "NotOpen",
                    "message": "stage lead is not open", "lastTransitionTime": "2025-01-01T00:00:00Z"}]}
            }))
            .unwrap(),
        )
    }

    #[test]
    fn can_run_needs_ready_rbac_and_runners() {
        let everyone = action(true, json!({}));
        assert_eq!(can_run(&everyone, &user("x", &[]), true), (true, None));
        let devs = action(true, json!({"groups": ["devs"], "users": ["zoe"]}));
        assert!(can_run(&devs, &user("olly", &["devs"]), true).0);
        assert!(can_run(&devs, &user("zoe", &[]), true).0);
        let (ok, why) = can_run(&devs, &user("otto", &["others"]), true);
        assert!(!ok);
        assert_eq!(
            why.unwrap(),
            "only its runners may run it (groups devs; users zoe)"
        );
        let (ok, why) = can_run(&action(false, json!({})), &user("x", &[]), false);
        assert!(!ok);
        let why = why.unwrap();
        assert!(why.contains("not ready: exec is not available"), "{why}");
        assert!(
            why.contains("may not create ActionRuns in namespace pay"),
            "{why}"
        );
        let s = action_summary(&devs, &user("olly", &["devs"]), true);
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(
            v["approval"]["stages"][0]["approvers"]["users"],
            json!(["ann"])
        );
        assert_eq!(v["approval"]["onTimeout"], "Reject");
        assert_eq!(v["approval"]["timeout"], "24h");
        assert_eq!(v["targetKinds"], json!(["Component"]));
        assert_eq!(v["inputs"], Value::Null);
        assert_eq!(v["canRun"], true);
        assert!(fits_target(&devs, "component") && !fits_target(&devs, "api"));
    }

    #[test]
    fn can_approve_follows_the_policy() {
        let a = action(true, json!({}));
        let lee = user("lee", &["leads"]);
        let open = run("WaitingForApproval", "Open", json!([]));
        let yes = can_approve(&open, Some(&a), &[], &lee, true);
        assert_eq!((yes.allowed, yes.stage.as_deref()), (true, Some("lead")));
        assert!(can_approve(&open, Some(&a), &[], &user("ann", &[]), true).allowed);
        // Not an approver, the requester, already decided (recorded or pending), no RBAC.
        let no = can_approve(&open, Some(&a), &[], &user("olly", &["devs"]), true);
        assert!(
            no.why_not
                .unwrap()
                .contains("not one of the approvers of stage lead")
        );
        let no = can_approve(&open, Some(&a), &[], &user("dana", &["leads"]), true);
        assert!(no.why_not.unwrap().contains("someone else must approve it"));
        let decided = run(
            "WaitingForApproval",
            "Open",
            json!([{"name": "x", "author": "lee", "decision": "Approve", "time": "2025-01-01T00:00:00Z"}]),
        );
        assert!(!can_approve(&decided, Some(&a), &[], &lee, true).allowed);
        let pending = [approval("lee", "lead")];
        let no = can_approve(&open, Some(&a), &pending, &lee, true);
        assert!(no.why_not.unwrap().contains("already decided"));
        let no = can_approve(&open, Some(&a), &[], &lee, false);
        assert!(
            no.why_not
                .unwrap()
                .contains("may not create ActionApprovals")
        );
        // No open stage.
        let closed = run("Approved", "Approved", json!([]));
        let no = can_approve(&closed, Some(&a), &[], &lee, true);
        assert_eq!(no.stage, None);
        assert!(no.why_not.unwrap().contains("no stage is open"));
        // The inbox: only what may be approved now, with the tally.
        let item = inbox_item(&decided, Some(&a), &[], &user("ann", &[]), true).unwrap();
        assert_eq!(
            (item.stage.as_str(), item.required, item.approved),
            ("lead", 2, 1)
        );
        assert!(inbox_item(&decided, Some(&a), &[], &lee, true).is_none());
    }

    #[test]
    fn run_views_carry_the_phase_message_and_counted() {
        let a = action(true, json!({}));
        let failed = run("Failed", "Approved", json!([]));
        let s = run_summary(&failed, Some(&a));
        assert_eq!(s.message.as_deref(), Some("deployment not found"));
        assert_eq!(s.action_title.as_deref(), Some("Scale"));
        let d = run_detail(
            &failed,
            Some(&a),
            &[approval("lee", "lead")],
            &user("lee", &["leads"]),
            RunRights {
                create_approvals: true,
                patch_runs: true,
            },
        );
        assert!(!d.can_cancel, "a failed run is finished");
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["phase"], "Failed");
        assert_eq!(v["inputs"]["replicas"], 3);
        assert_eq!(v["approvals"][0]["counted"], false);
        assert_eq!(
            v["approvals"][0]["countedMessage"],
            "NotOpen: stage lead is not open"
        );
        assert_eq!(v["outputs"], json!({}));
        assert_eq!(v["logTail"], json!([]));
        assert_eq!(v["canApprove"]["allowed"], false);
        let open = run("WaitingForApproval", "Open", json!([]));
        assert!(can_cancel(&open, true) && !can_cancel(&open, false));
    }
}
