//! RBAC grants that carry the action rules into kube-apiserver's admission policies:
//! - per Action: `run` on `actions/run` for its runners (everyone authenticated when empty);
//! - per run: `is` on `actionruns/requester` for its requester (so the requester cannot approve);
//! - per open stage: `approve-<stage>` on `actionruns/approval` for the stage's approvers. The
//!   grant exists only while the stage is open, so decisions before the stage opens, after it
//!   closed or after the deadline are refused by kube-apiserver.
//!
//! Per-run objects carry an owner reference to the run: deleting the run removes them.

use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::ObjectMeta;
use nexus_api::actions::{
    APPROVAL_SUBRESOURCE, GROUP, REQUESTER_SUBRESOURCE, RUN_SUBRESOURCE, RUN_VERB, Subjects,
};

/// Label on every grant object, for listing and clean-up.
pub const GRANT_LABEL: &str = "actions.nexus.dev/grant";

fn meta(name: &str, namespace: &str, owner: Option<&OwnerReference>, kind: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some(namespace.into()),
        labels: Some([(GRANT_LABEL.to_string(), kind.to_string())].into()),
        owner_references: owner.map(|o| vec![o.clone()]),
        ..ObjectMeta::default()
    }
}

fn role(
    name: &str,
    namespace: &str,
    owner: Option<&OwnerReference>,
    kind: &str,
    resource: &str,
    object: &str,
    verb: &str,
) -> Role {
    Role {
        metadata: meta(name, namespace, owner, kind),
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec![GROUP.into()]),
            resources: Some(vec![resource.into()]),
            resource_names: Some(vec![object.into()]),
            verbs: vec![verb.into()],
            ..PolicyRule::default()
        }]),
    }
}

fn binding(
    name: &str,
    namespace: &str,
    owner: Option<&OwnerReference>,
    kind: &str,
    subjects: Vec<Subject>,
) -> RoleBinding {
    RoleBinding {
        metadata: meta(name, namespace, owner, kind),
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "Role".into(),
            name: name.into(),
        },
        subjects: Some(subjects),
    }
}

fn subjects(s: &Subjects) -> Vec<Subject> {
    let mut out: Vec<Subject> = s
        .groups
        .iter()
        .map(|g| Subject {
            kind: "Group".into(),
            name: g.clone(),
            api_group: Some("rbac.authorization.k8s.io".into()),
            namespace: None,
        })
        .collect();
    out.extend(s.users.iter().map(|u| Subject {
        kind: "User".into(),
        name: u.clone(),
        api_group: Some("rbac.authorization.k8s.io".into()),
        namespace: None,
    }));
    out
}

/// Role and binding names stay within 253 characters (and readable).
fn name(parts: &[&str]) -> String {
    nexus_ingest::naming::object_name(parts)
}

/// Who may run an Action.
pub fn runners(
    action: &str,
    namespace: &str,
    owner: &OwnerReference,
    runners: &Subjects,
) -> (Role, RoleBinding) {
    let n = name(&["nexus-run", action]);
    let who = if runners.is_empty() {
        vec![Subject {
            kind: "Group".into(),
            name: "system:authenticated".into(),
            api_group: Some("rbac.authorization.k8s.io".into()),
            namespace: None,
        }]
    } else {
        subjects(runners)
    };
    (
        role(
            &n,
            namespace,
            Some(owner),
            "runners",
            &format!("actions/{RUN_SUBRESOURCE}"),
            action,
            RUN_VERB,
        ),
        binding(&n, namespace, Some(owner), "runners", who),
    )
}

/// The requester marker of a run.
pub fn requester(
    run: &str,
    namespace: &str,
    owner: &OwnerReference,
    user: &str,
) -> (Role, RoleBinding) {
    let n = name(&["nexus-requester", run]);
    (
        role(
            &n,
            namespace,
            Some(owner),
            "requester",
            &format!("actionruns/{REQUESTER_SUBRESOURCE}"),
            run,
            "is",
        ),
        binding(
            &n,
            namespace,
            Some(owner),
            "requester",
            subjects(&Subjects {
                groups: vec![],
                users: vec![user.to_string()],
            }),
        ),
    )
}

/// Name of the grant for one stage of a run.
pub fn stage_grant_name(run: &str, stage: &str) -> String {
    name(&["nexus-approve", run, stage])
}

/// The right to decide one open stage.
pub fn stage(
    run: &str,
    namespace: &str,
    owner: &OwnerReference,
    stage: &str,
    approvers: &Subjects,
) -> (Role, RoleBinding) {
    let n = stage_grant_name(run, stage);
    (
        role(
            &n,
            namespace,
            Some(owner),
            "stage",
            &format!("actionruns/{APPROVAL_SUBRESOURCE}"),
            run,
            &format!("approve-{stage}"),
        ),
        binding(&n, namespace, Some(owner), "stage", subjects(approvers)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> OwnerReference {
        OwnerReference {
            api_version: "actions.nexus.dev/v1alpha1".into(),
            kind: "ActionRun".into(),
            name: "r1".into(),
            uid: "u".into(),
            ..OwnerReference::default()
        }
    }

    #[test]
    fn grants_name_exactly_one_object_and_verb() {
        let (r, b) = stage(
            "r1",
            "team-a",
            &owner(),
            "lead",
            &Subjects {
                groups: vec!["leads".into()],
                users: vec![],
            },
        );
        let rule = &r.rules.unwrap()[0];
        assert_eq!(
            rule.resources.as_deref(),
            Some(&["actionruns/approval".to_string()][..])
        );
        assert_eq!(
            rule.resource_names.as_deref(),
            Some(&["r1".to_string()][..])
        );
        assert_eq!(rule.verbs, ["approve-lead"]);
        assert_eq!(b.subjects.unwrap()[0].name, "leads");
        let (_, b) = runners("scale", "team-a", &owner(), &Subjects::default());
        assert_eq!(b.subjects.unwrap()[0].name, "system:authenticated");
    }
}
