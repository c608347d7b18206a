//! The approval state of a run, decided from its pinned policy, the approvals recorded so far,
//! the new ActionApproval objects and the clock. Pure: the reconciler does the I/O.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use nexus_api::actions::{
    ActionApproval, ApprovalPolicy, Decision, RecordedApproval, StageStatus, TimeoutAction,
};

pub const WAITING: &str = "Waiting";
pub const OPEN: &str = "Open";
pub const APPROVED: &str = "Approved";
pub const REJECTED: &str = "Rejected";
pub const EXPIRED: &str = "Expired";

/// Where the approval stands after applying new decisions.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Waiting for the open stage (its name).
    Pending(String),
    Approved {
        auto: bool,
    },
    Rejected {
        by: String,
        stage: String,
        comment: Option<String>,
    },
    Expired,
}

/// Why an approval was not counted (written to its status).
#[derive(Clone, Debug, PartialEq)]
pub struct NotCounted {
    pub approval: String,
    pub reason: &'static str,
    pub message: String,
}

/// The stages a freshly validated run starts with: the first open, the rest waiting.
pub fn initial(policy: &ApprovalPolicy) -> Vec<StageStatus> {
    policy
        .stages
        .iter()
        .enumerate()
        .map(|(i, s)| StageStatus {
            name: s.name.clone(),
            required: s.required,
            state: if i == 0 { OPEN } else { WAITING }.into(),
            approvals: Vec::new(),
        })
        .collect()
}

/// Applies new approvals (oldest first) and the deadline. Returns the verdict and the
/// approvals that were not counted, with why.
pub fn decide(
    policy: &ApprovalPolicy,
    stages: &mut [StageStatus],
    requester: &str,
    approvals: &[ActionApproval],
    deadline: Option<&Time>,
    now: &Time,
) -> (Verdict, Vec<NotCounted>) {
    let mut not_counted = Vec::new();
    let mut sorted: Vec<&ActionApproval> = approvals.iter().collect();
    sorted.sort_by_key(|a| {
        (
            a.metadata.creation_timestamp.as_ref().map(|t| t.0),
            a.metadata.name.clone(),
        )
    });
    for a in sorted {
        let name = a.metadata.name.clone().unwrap_or_default();
        if stages
            .iter()
            .any(|s| s.approvals.iter().any(|r| r.name == name))
        {
            continue;
        }
        let refuse = |reason: &'static str, message: String| NotCounted {
            approval: name.clone(),
            reason,
            message,
        };
        let Some(idx) = stages.iter().position(|s| s.state == OPEN) else {
            not_counted.push(refuse("NotOpen", "no stage of this run is open".into()));
            continue;
        };
        let stage = &mut stages[idx];
        if a.spec.stage != stage.name {
            not_counted.push(refuse(
                "NotOpen",
                format!(
                    "stage {} is not open (the open stage is {})",
                    a.spec.stage, stage.name
                ),
            ));
            continue;
        }
        // Defence in depth: kube-apiserver refuses these already.
        if a.spec.author == requester {
            not_counted.push(refuse(
                "SelfApproval",
                "the requester cannot decide their own run".into(),
            ));
            continue;
        }
        let policy_stage = policy.stages.iter().find(|s| s.name == stage.name);
        if let Some(ps) = policy_stage
            && ps.approvers.groups.is_empty()
            && !ps.approvers.users.contains(&a.spec.author)
        {
            not_counted.push(refuse(
                "NotAnApprover",
                format!(
                    "{} is not an approver of stage {}",
                    a.spec.author, stage.name
                ),
            ));
            continue;
        }
        if stage.approvals.iter().any(|r| r.author == a.spec.author) {
            not_counted.push(refuse(
                "AlreadyDecided",
                format!("{} already decided stage {}", a.spec.author, stage.name),
            ));
            continue;
        }
        let at = a
            .metadata
            .creation_timestamp
            .clone()
            .unwrap_or_else(|| now.clone());
        if deadline.is_some_and(|d| at.0 > d.0) {
            not_counted.push(refuse(
                "TooLate",
                "the approval arrived after the deadline".into(),
            ));
            continue;
        }
        stage.approvals.push(RecordedApproval {
            name: name.clone(),
            author: a.spec.author.clone(),
            decision: a.spec.decision,
            comment: a.spec.comment.clone(),
            time: at,
        });
        if a.spec.decision == Decision::Reject {
            stage.state = REJECTED.into();
            return (
                Verdict::Rejected {
                    by: a.spec.author.clone(),
                    stage: stage.name.clone(),
                    comment: a.spec.comment.clone(),
                },
                not_counted,
            );
        }
        let approvals = stage
            .approvals
            .iter()
            .filter(|r| r.decision == Decision::Approve)
            .count() as i32;
        if approvals >= stage.required {
            stage.state = APPROVED.into();
            if let Some(next) = stages.get_mut(idx + 1) {
                next.state = OPEN.into();
            }
        }
    }
    if let Some(stage) = stages.iter().find(|s| s.state == REJECTED) {
        let last = stage.approvals.last();
        return (
            Verdict::Rejected {
                by: last.map(|r| r.author.clone()).unwrap_or_default(),
                stage: stage.name.clone(),
                comment: last.and_then(|r| r.comment.clone()),
            },
            not_counted,
        );
    }
    if stages.iter().all(|s| s.state == APPROVED) {
        return (Verdict::Approved { auto: false }, not_counted);
    }
    if deadline.is_some_and(|d| now.0 >= d.0) {
        return match policy.on_timeout {
            TimeoutAction::Approve => {
                for s in stages.iter_mut().filter(|s| s.state != APPROVED) {
                    s.state = APPROVED.into();
                }
                (Verdict::Approved { auto: true }, not_counted)
            }
            TimeoutAction::Reject => {
                for s in stages
                    .iter_mut()
                    .filter(|s| s.state == OPEN || s.state == WAITING)
                {
                    s.state = EXPIRED.into();
                }
                (Verdict::Expired, not_counted)
            }
        };
    }
    let open = stages
        .iter()
        .find(|s| s.state == OPEN)
        .map(|s| s.name.clone())
        .unwrap_or_default();
    (Verdict::Pending(open), not_counted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::api::ObjectMeta;
    use nexus_api::actions::{ActionApprovalSpec, ApprovalStage, Subjects};

    fn t(s: &str) -> Time {
        Time(s.parse().unwrap())
    }

    fn policy(stages: &[(&str, i32, &[&str])]) -> ApprovalPolicy {
        ApprovalPolicy {
            stages: stages
                .iter()
                .map(|(n, req, users)| ApprovalStage {
                    name: n.to_string(),
                    required: *req,
                    approvers: Subjects {
                        groups: vec![],
                        users: users.iter().map(|u| u.to_string()).collect(),
                    },
                })
                .collect(),
            ..ApprovalPolicy::default()
        }
    }

    fn approval(name: &str, stage: &str, author: &str, d: Decision, at: &str) -> ActionApproval {
        ActionApproval {
            metadata: ObjectMeta {
                name: Some(name.into()),
                creation_timestamp: Some(t(at)),
                ..ObjectMeta::default()
            },
            spec: ActionApprovalSpec {
                run: "r".into(),
                stage: stage.into(),
                decision: d,
                comment: None,
                author: author.into(),
            },
            status: None,
        }
    }

    #[test]
    fn two_of_three_then_second_stage_in_order() {
        let p = policy(&[
            ("leads", 2, &["ann", "ben", "cat"]),
            ("security", 1, &["sec"]),
        ]);
        let mut stages = initial(&p);
        let now = t("2030-01-01T00:10:00Z");
        let deadline = t("2030-01-02T00:00:00Z");
        // Security cannot go first; the requester cannot approve; one lead is not enough.
        let a = [
            approval(
                "a1",
                "security",
                "sec",
                Decision::Approve,
                "2030-01-01T00:01:00Z",
            ),
            approval(
                "a2",
                "leads",
                "req",
                Decision::Approve,
                "2030-01-01T00:02:00Z",
            ),
            approval(
                "a3",
                "leads",
                "ann",
                Decision::Approve,
                "2030-01-01T00:03:00Z",
            ),
        ];
        let (v, nc) = decide(&p, &mut stages, "req", &a, Some(&deadline), &now);
        assert_eq!(v, Verdict::Pending("leads".into()));
        assert_eq!(
            nc.iter().map(|n| n.reason).collect::<Vec<_>>(),
            ["NotOpen", "SelfApproval"]
        );
        let mut a = a.to_vec();
        a.push(approval(
            "a4",
            "leads",
            "ann",
            Decision::Approve,
            "2030-01-01T00:04:00Z",
        ));
        a.push(approval(
            "a5",
            "leads",
            "ben",
            Decision::Approve,
            "2030-01-01T00:05:00Z",
        ));
        let (v, nc) = decide(&p, &mut stages, "req", &a, Some(&deadline), &now);
        assert_eq!(v, Verdict::Pending("security".into()));
        assert!(nc.iter().any(|n| n.reason == "AlreadyDecided"));
        a.push(approval(
            "a6",
            "security",
            "sec",
            Decision::Approve,
            "2030-01-01T00:06:00Z",
        ));
        let (v, _) = decide(&p, &mut stages, "req", &a, Some(&deadline), &now);
        assert_eq!(v, Verdict::Approved { auto: false });
    }

    #[test]
    fn a_rejection_ends_it_and_timeouts_follow_the_policy() {
        let mut p = policy(&[("leads", 1, &["ann", "ben"])]);
        let mut stages = initial(&p);
        let now = t("2030-01-01T00:10:00Z");
        let a = [approval(
            "a1",
            "leads",
            "ben",
            Decision::Reject,
            "2030-01-01T00:01:00Z",
        )];
        let (v, _) = decide(&p, &mut stages, "req", &a, None, &now);
        assert!(matches!(v, Verdict::Rejected { ref by, .. } if by == "ben"));

        let mut stages = initial(&p);
        let past = t("2030-01-01T00:05:00Z");
        let (v, _) = decide(&p, &mut stages, "req", &[], Some(&past), &now);
        assert_eq!(v, Verdict::Expired);
        p.on_timeout = TimeoutAction::Approve;
        let mut stages = initial(&p);
        let (v, _) = decide(&p, &mut stages, "req", &[], Some(&past), &now);
        assert_eq!(v, Verdict::Approved { auto: true });
        // An approval after the deadline does not count.
        let mut stages = initial(&policy(&[("leads", 1, &["ann"])]));
        let late = [approval(
            "a1",
            "leads",
            "ann",
            Decision::Approve,
            "2030-01-01T00:06:00Z",
        )];
        let (_, nc) = decide(
            &policy(&[("leads", 1, &["ann"])]),
            &mut stages,
            "req",
            &late,
            Some(&past),
            &now,
        );
        assert_eq!(nc[0].reason, "TooLate");
    }
}
