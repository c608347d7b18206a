//! The ActionRun reconciler: validate and pin the Action → approvals → execute → outcome →
//! rollback. Every transition is a condition, a Kubernetes Event and an audit entry.

use std::{sync::Arc, time::Duration};

use k8s_openapi::{
    api::rbac::v1::{Role, RoleBinding},
    apimachinery::pkg::apis::meta::v1::Time,
};
use kube::{
    Api, Resource, ResourceExt,
    api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams},
    runtime::{
        controller::Action as Requeue,
        events::{Event as KubeEvent, EventType},
    },
};
use nexus_api::{
    EntityKind, EntityRef,
    actions::{
        Action, ActionApproval, ActionRun, ActionRunSpec, ActionRunStatus, Execution,
        run::{PinnedAction, condition as c},
    },
    conditions::{self, FALSE, NewCondition, TRUE},
};
use nexus_audit::notify::NotificationKind;
use serde_json::{Value, json};
use tracing::{debug, info};

use super::{
    Ctx, Error, GateRefusal, approvals,
    approvals::Verdict,
    audit::Event as AuditEvent,
    executors::{self, ExecError, Progress, RunContext},
    grants::{self, GRANT_LABEL},
    inputs,
};

/// Field manager of everything the actions controller writes.
pub const MANAGER: &str = "nexus-actions";
/// Lines of executor log kept in status.
const LOG_LINES: usize = 50;

fn now() -> Time {
    Time(jiff::Timestamp::now())
}

/// Phases, the one-word summary of the conditions.
mod phase {
    pub const INVALID: &str = "Invalid";
    pub const WAITING: &str = "WaitingForApproval";
    pub const APPROVED: &str = "Approved";
    pub const RUNNING: &str = "Running";
    pub const SUCCEEDED: &str = "Succeeded";
    pub const FAILED: &str = "Failed";
    pub const REJECTED: &str = "Rejected";
    pub const EXPIRED: &str = "Expired";
    pub const CANCELLED: &str = "Cancelled";
    pub const ROLLED_BACK: &str = "RolledBack";
    pub const REFUSED: &str = "Refused";
}

/// Reason of `Validated=False` (and of `Failed=True` when the gate closed during approval):
/// the target does not pass a scorecard gate of the Action.
pub const GATE_FAILED: &str = "GateFailed";

fn is_true(s: &ActionRunStatus, t: &str) -> bool {
    conditions::find(&s.conditions, t).is_some_and(|c| c.status == TRUE)
}

/// Refused by a scorecard gate at validation: final (a new run is needed once the target
/// passes, so a run never starts days later merely because someone fixed a rule meanwhile).
fn refused(s: &ActionRunStatus) -> bool {
    conditions::find(&s.conditions, c::VALIDATED)
        .is_some_and(|c| c.status == FALSE && c.reason == GATE_FAILED)
}

fn terminal(s: &ActionRunStatus) -> bool {
    refused(s)
        || [
            c::REJECTED,
            c::EXPIRED,
            c::SUCCEEDED,
            c::CANCELLED,
            c::ROLLED_BACK,
        ]
        .iter()
        .any(|t| is_true(s, t))
        || (is_true(s, c::FAILED) && !rollback_pending(s))
}

fn rollback_pending(s: &ActionRunStatus) -> bool {
    s.rollback_run.is_some() && !is_true(s, c::ROLLED_BACK) && is_true(s, c::FAILED)
}

struct Transition {
    set: Vec<NewCondition>,
    phase: Option<&'static str>,
    audit: Vec<(&'static str, Value)>,
    event: Vec<(EventType, String, String)>,
    /// resourceVersion the status write is conditional on: the version this reconcile read, or
    /// the one its own earlier write (the write-ahead) produced.
    resource_version: Option<String>,
}

impl Transition {
    fn new(resource_version: Option<String>) -> Self {
        Transition {
            set: Vec::new(),
            phase: None,
            audit: Vec::new(),
            event: Vec::new(),
            resource_version,
        }
    }
}

pub async fn reconcile(run: Arc<ActionRun>, ctx: Arc<Ctx>) -> Result<Requeue, Error> {
    let ns = run.namespace().unwrap_or_default();
    let name = run.name_any();
    let mut status = run.status.clone().unwrap_or_default();
    let mut t = Transition::new(run.metadata.resource_version.clone());

    // A retry (spec.attempt raised) reopens a failed run: same approvals, new execution.
    let retry = is_true(&status, c::FAILED)
        && status
            .execution
            .as_ref()
            .is_some_and(|e| e.attempt < run.spec.attempt)
        && status.rollback_run.is_none();
    if retry {
        t.set.push(NewCondition::new(
            c::FAILED,
            FALSE,
            "Retrying",
            format!("attempt {} requested", run.spec.attempt),
        ));
        t.set
            .push(NewCondition::new(c::RUNNING, FALSE, "Retrying", ""));
        status.finished_at = None;
    } else if terminal(&status) {
        cleanup_grants(&ctx, &ns, &name, &[]).await?;
        return archive_when_due(&run, &ctx, &status).await;
    }

    let outcome = step(&run, &ctx, &mut status, &mut t).await;
    let requeue = match outcome {
        Ok(r) => r,
        Err(StepError::Fatal(message)) => {
            t.set.push(NewCondition::new(
                c::FAILED,
                TRUE,
                "ExecutorError",
                message.clone(),
            ));
            t.set
                .push(NewCondition::new(c::RUNNING, FALSE, "ExecutorError", ""));
            t.phase = Some(phase::FAILED);
            status.finished_at = Some(now());
            t.audit.push(("run.failed", json!({"message": message})));
            t.event.push((EventType::Warning, "Failed".into(), message));
            Requeue::await_change()
        }
        Err(StepError::Retry(e)) => return Err(e),
    };
    commit(&run, &ctx, &mut status, t).await?;
    Ok(requeue)
}

enum StepError {
    /// The run fails with this message.
    Fatal(String),
    /// Transient: the controller retries with backoff.
    Retry(Error),
}

impl From<Error> for StepError {
    fn from(e: Error) -> Self {
        StepError::Retry(e)
    }
}

async fn step(
    run: &ActionRun,
    ctx: &Ctx,
    status: &mut ActionRunStatus,
    t: &mut Transition,
) -> Result<Requeue, StepError> {
    let ns = run.namespace().unwrap_or_default();
    let name = run.name_any();
    let owner = run
        .controller_owner_ref(&())
        .ok_or_else(|| StepError::Fatal("the run has no uid yet".into()))?;

    // 1. Validate and pin the Action; a gated Action's target must pass its scorecards.
    if status.action.is_none() {
        match validate(run, ctx).await? {
            Err(Refusal::Gate(message)) => {
                t.set.push(NewCondition::new(
                    c::VALIDATED,
                    FALSE,
                    GATE_FAILED,
                    message.clone(),
                ));
                t.phase = Some(phase::REFUSED);
                status.finished_at = Some(now());
                t.audit.push((
                    "run.refused",
                    json!({"reason": GATE_FAILED, "message": message}),
                ));
                t.event
                    .push((EventType::Warning, GATE_FAILED.into(), message));
                return Ok(Requeue::await_change());
            }
            Err(Refusal::Invalid(message)) => {
                t.set.push(NewCondition::new(
                    c::VALIDATED,
                    FALSE,
                    "Invalid",
                    message.clone(),
                ));
                t.phase = Some(phase::INVALID);
                t.event
                    .push((EventType::Warning, "Invalid".into(), message));
                // The Action may appear (GitOps sync order): look again later.
                return Ok(Requeue::requeue(Duration::from_secs(30)));
            }
            Ok((pinned, resolved)) => {
                let created = run.metadata.creation_timestamp.clone().unwrap_or_else(now);
                let timeout =
                    nexus_api::integrations::common::parse_duration(&pinned.spec.approval.timeout)
                        .unwrap_or(Duration::from_secs(24 * 3600));
                status.approval_deadline = jiff::SignedDuration::try_from(timeout)
                    .ok()
                    .and_then(|d| created.0.checked_add(d).ok())
                    .map(Time);
                status.stages = approvals::initial(&pinned.spec.approval);
                t.set.push(NewCondition::new(
                    c::VALIDATED,
                    TRUE,
                    "Validated",
                    format!("{} {} with valid inputs", pinned.spec.title, pinned.version),
                ));
                t.audit.push((
                    "run.validated",
                    json!({"actionGeneration": pinned.generation, "actionVersion": pinned.version, "inputs": resolved}),
                ));
                status.action = Some(pinned);
                status.inputs = Some(resolved);
            }
        }
    }
    let Some(pinned) = status.action.clone() else {
        return Ok(Requeue::await_change());
    };

    // 2. Cancel.
    if run.spec.cancel {
        if let Some(exec) = status.execution.clone().filter(|e| e.finished_at.is_none()) {
            let values = values(run, ctx, status, &pinned).await?;
            let rc = run_context(ctx, run, &pinned, values, owner.clone());
            executors::stop(&rc, &exec).await.map_err(exec_error)?;
        }
        t.set.push(NewCondition::new(
            c::CANCELLED,
            TRUE,
            "Cancelled",
            "cancelled by spec.cancel",
        ));
        t.set
            .push(NewCondition::new(c::RUNNING, FALSE, "Cancelled", ""));
        t.phase = Some(phase::CANCELLED);
        status.finished_at = Some(now());
        t.audit.push(("run.cancelled", json!({})));
        cleanup_grants(ctx, &ns, &name, &[]).await?;
        return Ok(Requeue::await_change());
    }

    // 3. Approvals.
    if !is_true(status, c::APPROVED) {
        if pinned.spec.approval.stages.is_empty() {
            t.set.push(NewCondition::new(
                c::APPROVED,
                TRUE,
                "NoApprovalNeeded",
                "the Action needs no approval",
            ));
        } else {
            ensure(
                ctx,
                &ns,
                grants::requester(&name, &ns, &owner, &run.spec.requester),
            )
            .await?;
            // The requester marker must be in force before any stage opens: otherwise a
            // requester who is also an approver could approve in the moment between the two
            // grants reaching kube-apiserver's RBAC cache. A SubjectAccessReview asks the same
            // authorizer the admission policy asks.
            if !requester_marked(ctx, &ns, &name, &run.spec.requester).await? {
                return Ok(Requeue::requeue(Duration::from_millis(250)));
            }
            // Read from the API, not a cache: the watch event that woke this reconcile may be
            // ahead of any cache, and a missed approval would wait for the next requeue.
            let mine: Vec<ActionApproval> =
                Api::<ActionApproval>::namespaced(ctx.client.clone(), &ns)
                    .list(&ListParams::default())
                    .await
                    .map_err(Error::Kube)?
                    .items
                    .into_iter()
                    .filter(|a| a.spec.run == name)
                    .collect();
            let (verdict, not_counted) = approvals::decide(
                &pinned.spec.approval,
                &mut status.stages,
                &run.spec.requester,
                &mine,
                status.approval_deadline.as_ref(),
                &now(),
            );
            mark_approvals(ctx, &ns, status, &not_counted, &mine).await;
            match verdict {
                Verdict::Pending(stage) => {
                    let approvers = pinned
                        .spec
                        .approval
                        .stages
                        .iter()
                        .find(|s| s.name == stage)
                        .map(|s| s.approvers.clone())
                        .unwrap_or_default();
                    ensure(
                        ctx,
                        &ns,
                        grants::stage(&name, &ns, &owner, &stage, &approvers),
                    )
                    .await?;
                    // Earlier stages' grants go; the requester marker stays while any stage
                    // is open (it is what refuses self-approval).
                    cleanup_grants(
                        ctx,
                        &ns,
                        &name,
                        &["requester", &grants::stage_grant_name(&name, &stage)],
                    )
                    .await?;
                    let message = format!("waiting for stage {stage}");
                    let already = conditions::find(&status.conditions, c::APPROVED)
                        .is_some_and(|c| c.message == message);
                    if !already {
                        let mut people = approvers.groups.clone();
                        people.extend(approvers.users.clone());
                        super::notify::send(
                            &ctx.notifier,
                            &ctx.portal_url,
                            run,
                            super::notify::Message {
                                kind: NotificationKind::ApprovalRequested,
                                stage: Some(stage.clone()),
                                people,
                                reason: None,
                            },
                        );
                    }
                    t.set.push(NewCondition::new(
                        c::APPROVED,
                        FALSE,
                        "WaitingForApproval",
                        message,
                    ));
                    t.phase = Some(phase::WAITING);
                    let wait = status
                        .approval_deadline
                        .as_ref()
                        .map(|d| d.0.duration_since(jiff::Timestamp::now()))
                        .and_then(|d| Duration::try_from(d).ok())
                        .unwrap_or(Duration::from_secs(60));
                    return Ok(Requeue::requeue(
                        wait.min(Duration::from_secs(300)) + Duration::from_millis(500),
                    ));
                }
                Verdict::Approved { auto } => {
                    let (reason, msg) = if auto {
                        (
                            "AutoApproved",
                            "approved automatically when the approval window closed".to_string(),
                        )
                    } else {
                        ("Approved", "every stage approved".to_string())
                    };
                    t.set
                        .push(NewCondition::new(c::APPROVED, TRUE, reason, msg.clone()));
                    t.audit.push((
                        "run.approved",
                        json!({"auto": auto, "stages": status.stages}),
                    ));
                    t.event.push((EventType::Normal, reason.into(), msg));
                    cleanup_grants(ctx, &ns, &name, &["requester"]).await?;
                }
                Verdict::Rejected { by, stage, comment } => {
                    let msg = format!(
                        "rejected by {by} at stage {stage}{}",
                        comment.map(|c| format!(": {c}")).unwrap_or_default()
                    );
                    t.set.push(NewCondition::new(
                        c::APPROVED,
                        FALSE,
                        "Rejected",
                        msg.clone(),
                    ));
                    t.set.push(NewCondition::new(
                        c::REJECTED,
                        TRUE,
                        "Rejected",
                        msg.clone(),
                    ));
                    t.phase = Some(phase::REJECTED);
                    status.finished_at = Some(now());
                    t.audit
                        .push(("run.rejected", json!({"by": by, "stage": stage})));
                    t.event.push((EventType::Warning, "Rejected".into(), msg));
                    cleanup_grants(ctx, &ns, &name, &[]).await?;
                    return Ok(Requeue::await_change());
                }
                Verdict::Expired => {
                    let msg = format!("no decision within {}", pinned.spec.approval.timeout);
                    t.set.push(NewCondition::new(
                        c::APPROVED,
                        FALSE,
                        "Expired",
                        msg.clone(),
                    ));
                    t.set
                        .push(NewCondition::new(c::EXPIRED, TRUE, "Expired", msg.clone()));
                    t.phase = Some(phase::EXPIRED);
                    status.finished_at = Some(now());
                    t.audit.push(("run.expired", json!({})));
                    t.event.push((EventType::Warning, "Expired".into(), msg));
                    cleanup_grants(ctx, &ns, &name, &[]).await?;
                    return Ok(Requeue::await_change());
                }
            }
        }
        t.phase = Some(phase::APPROVED);
    }

    // 4. Execute: record the attempt before starting anything, so a restart never starts it twice.
    let values = values(run, ctx, status, &pinned).await?;
    let rc = run_context(ctx, run, &pinned, values, owner.clone());
    let attempt = run.spec.attempt;
    let current = status.execution.clone().filter(|e| e.attempt == attempt);
    let progress = match current {
        None => {
            // The gate again, just before anything starts: approval may have taken long
            // enough for the target to fall below it.
            if let Some(message) = gate_blocks(run, ctx, &pinned).await? {
                t.set.push(NewCondition::new(
                    c::FAILED,
                    TRUE,
                    GATE_FAILED,
                    message.clone(),
                ));
                t.phase = Some(phase::FAILED);
                status.finished_at = Some(now());
                t.audit.push((
                    "run.failed",
                    json!({"reason": GATE_FAILED, "message": message}),
                ));
                t.event
                    .push((EventType::Warning, GATE_FAILED.into(), message));
                cleanup_grants(ctx, &ns, &name, &[]).await?;
                return Ok(Requeue::await_change());
            }
            let exec = Execution {
                attempt,
                executor: pinned.spec.executor.kind().into(),
                reference: None,
                started_at: now(),
                finished_at: None,
                command: pinned
                    .spec
                    .executor
                    .kubernetes
                    .as_ref()
                    .map(|k| {
                        k.command
                            .iter()
                            .map(|c| rc.render(c))
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .transpose()
                    .map_err(exec_error)?
                    .unwrap_or_default(),
            };
            status.execution = Some(exec.clone());
            status.started_at.get_or_insert_with(now);
            t.set.push(NewCondition::new(
                c::RUNNING,
                TRUE,
                "Started",
                format!("attempt {attempt} with the {} executor", exec.executor),
            ));
            t.phase = Some(phase::RUNNING);
            t.audit.push((
                "run.started",
                json!({"attempt": attempt, "executor": exec.executor, "command": exec.command}),
            ));
            // Write-ahead: the record reaches the apiserver before the work starts.
            // `status` keeps what was written, so the final commit builds on it.
            let rv = t.resource_version.clone();
            t.resource_version =
                commit(run, ctx, status, std::mem::replace(t, Transition::new(rv))).await?;
            outcome(executors::start(&rc, &exec).await)?
        }
        Some(exec) if exec.finished_at.is_none() => {
            let timeout = nexus_api::integrations::common::parse_duration(&pinned.spec.timeout);
            let elapsed = jiff::Timestamp::now().duration_since(exec.started_at.0);
            if timeout.is_some_and(|limit| Duration::try_from(elapsed).is_ok_and(|e| e > limit)) {
                executors::stop(&rc, &exec).await.map_err(exec_error)?;
                Progress::Failed {
                    message: format!("timed out after {}", pinned.spec.timeout),
                    log: Vec::new(),
                }
            } else {
                outcome(executors::poll(&rc, &exec).await)?
            }
        }
        Some(_) => return follow_rollback(run, ctx, status, t).await,
    };

    match progress {
        Progress::Running { reference } => {
            if let Some(e) = status.execution.as_mut() {
                e.reference = reference;
            }
            t.phase = Some(phase::RUNNING);
            Ok(Requeue::requeue(Duration::from_secs(2)))
        }
        Progress::Succeeded { outputs, log } => {
            finish(status, &log);
            status.outputs.extend(outputs);
            t.set.push(NewCondition::new(
                c::SUCCEEDED,
                TRUE,
                "Succeeded",
                last_line(&log),
            ));
            t.set
                .push(NewCondition::new(c::RUNNING, FALSE, "Finished", ""));
            t.phase = Some(phase::SUCCEEDED);
            t.audit
                .push(("run.succeeded", json!({"outputs": status.outputs})));
            t.event
                .push((EventType::Normal, "Succeeded".into(), last_line(&log)));
            cleanup_grants(ctx, &ns, &name, &[]).await?;
            Ok(Requeue::await_change())
        }
        Progress::Failed { message, log } => {
            finish(status, &log);
            t.set.push(NewCondition::new(
                c::FAILED,
                TRUE,
                "Failed",
                message.clone(),
            ));
            t.set
                .push(NewCondition::new(c::RUNNING, FALSE, "Finished", ""));
            t.phase = Some(phase::FAILED);
            t.audit.push(("run.failed", json!({"message": message})));
            t.event.push((EventType::Warning, "Failed".into(), message));
            if let Some(rb) = &pinned.spec.rollback {
                let rb_name = start_rollback(run, ctx, status, rb).await?;
                status.rollback_run = Some(rb_name);
                return Ok(Requeue::requeue(Duration::from_secs(2)));
            }
            cleanup_grants(ctx, &ns, &name, &[]).await?;
            Ok(Requeue::await_change())
        }
    }
}

fn finish(status: &mut ActionRunStatus, log: &[String]) {
    let at = now();
    if let Some(e) = status.execution.as_mut() {
        e.finished_at = Some(at.clone());
    }
    status.finished_at = Some(at);
    let start = log.len().saturating_sub(LOG_LINES);
    status.log_tail = log[start..]
        .iter()
        .map(|l| l.chars().take(500).collect())
        .collect();
}

fn last_line(log: &[String]) -> String {
    log.last().cloned().unwrap_or_else(|| "done".into())
}

/// An executor's answer as progress: an error that is the run's (not a transient one) fails
/// the run like any other failure, so its rollback runs.
fn outcome(r: Result<Progress, ExecError>) -> Result<Progress, StepError> {
    match r {
        Ok(p) => Ok(p),
        Err(e) => match exec_error(e) {
            StepError::Fatal(message) => Ok(Progress::Failed {
                message,
                log: Vec::new(),
            }),
            retry => Err(retry),
        },
    }
}

fn exec_error(e: ExecError) -> StepError {
    match &e {
        // Server errors and connection trouble are worth retrying; everything else is the run's.
        ExecError::Kube {
            source: kube::Error::Api(r),
            ..
        } if r.code < 500 && r.code != 429 => StepError::Fatal(e.to_string()),
        ExecError::Kube { .. } => StepError::Retry(Error::Executor(e.to_string())),
        _ if e.is_transient() => StepError::Retry(Error::Executor(e.to_string())),
        _ => StepError::Fatal(e.to_string()),
    }
}

/// Why a run is not validated.
enum Refusal {
    /// The run or its Action is wrong (or missing for now): looked at again later.
    Invalid(String),
    /// The target does not pass the Action's scorecard gate: final.
    Gate(String),
}

impl From<String> for Refusal {
    fn from(s: String) -> Self {
        Refusal::Invalid(s)
    }
}

/// Validates a run against the current Action: exists, target allowed and present, inputs
/// valid, scorecard gates passed. Returns the pinned Action and the inputs with defaults, or
/// why not.
async fn validate(
    run: &ActionRun,
    ctx: &Ctx,
) -> Result<Result<(PinnedAction, Value), Refusal>, Error> {
    let ns = run.namespace().unwrap_or_default();
    let checked = match validate_run(run, ctx).await? {
        Ok(v) => v,
        Err(m) => return Ok(Err(Refusal::Invalid(m))),
    };
    match gate_blocks(run, ctx, &checked.0).await {
        Ok(None) => Ok(Ok(checked)),
        Ok(Some(message)) => Ok(Err(Refusal::Gate(message))),
        Err(Error::Gate(GateRefusal::Invalid(m))) => Ok(Err(Refusal::Invalid(format!(
            "{ns}/{}: {m}",
            run.spec.action
        )))),
        Err(e) => Err(e),
    }
}

/// Whether the Action's scorecard gates block the run's target: the reasons when they do.
/// A gate that cannot be decided (scorecard missing or not compiling) blocks too; only an
/// unreachable API is an error (retried).
async fn gate_blocks(
    run: &ActionRun,
    ctx: &Ctx,
    pinned: &PinnedAction,
) -> Result<Option<String>, Error> {
    let Some(gate) = &pinned.spec.gate else {
        return Ok(None);
    };
    let ns = run.namespace().unwrap_or_default();
    let Some(target) = &run.spec.target else {
        return Err(Error::Gate(GateRefusal::Invalid(
            "the Action is gated by scorecards (spec.gate) and needs a target".into(),
        )));
    };
    let r = EntityRef::parse(target, EntityKind::Component, &[], &ns)
        .map_err(|e| Error::Gate(GateRefusal::Invalid(format!("spec.target {target:?}: {e}"))))?;
    match ctx.gate.check_all(&r, &gate.scorecards, "action").await {
        Ok(d) if d.allowed => Ok(None),
        Ok(d) => Ok(Some(format!(
            "{r} does not pass the gate of {}: {}",
            gate.scorecards.join(", "),
            d.summary(4000)
        ))),
        Err(e) if e.is_transient() => Err(Error::Gate(GateRefusal::Unreachable(e.to_string()))),
        Err(e) => Ok(Some(format!("the gate of {r} cannot be decided: {e}"))),
    }
}

async fn validate_run(
    run: &ActionRun,
    ctx: &Ctx,
) -> Result<Result<(PinnedAction, Value), String>, Error> {
    let ns = run.namespace().unwrap_or_default();
    let api: Api<Action> = Api::namespaced(ctx.client.clone(), &ns);
    let Some(action) = api.get_opt(&run.spec.action).await.map_err(Error::Kube)? else {
        return Ok(Err(format!("Action {ns}/{} not found", run.spec.action)));
    };
    let spec = &action.spec;
    // Defence in depth: the admission policy checked the runner's RBAC grant; named users are
    // checked again here (groups are known only to kube-apiserver).
    if spec.runners.groups.is_empty()
        && !spec.runners.users.is_empty()
        && !spec.runners.users.contains(&run.spec.requester)
    {
        return Ok(Err(format!(
            "{} is not among the runners of {}",
            run.spec.requester, run.spec.action
        )));
    }
    match (&run.spec.target, spec.target_kinds.is_empty()) {
        (None, false) => {
            return Ok(Err(format!(
                "spec.target is required: {} acts on {}",
                run.spec.action,
                spec.target_kinds.join(", ")
            )));
        }
        (Some(target), _) => {
            let r = match EntityRef::parse(target, EntityKind::Component, &[], &ns) {
                Ok(r) => r,
                Err(e) => return Ok(Err(format!("spec.target {target:?}: {e}"))),
            };
            if !spec.target_kinds.is_empty()
                && !spec
                    .target_kinds
                    .iter()
                    .any(|k| k.eq_ignore_ascii_case(r.kind.as_str()))
            {
                return Ok(Err(format!(
                    "{} cannot target a {} (it acts on {})",
                    run.spec.action,
                    r.kind,
                    spec.target_kinds.join(", ")
                )));
            }
            if target_object(ctx, &r).await?.is_none() {
                return Ok(Err(format!("target {r} not found")));
            }
        }
        (None, true) => {}
    }
    let resolved = match inputs::resolve(spec.inputs.as_ref(), &run.spec.inputs) {
        Ok(v) => v,
        Err(e) => return Ok(Err(e.to_string())),
    };
    Ok(Ok((
        PinnedAction {
            generation: action.metadata.generation.unwrap_or(0),
            version: spec.version.clone(),
            spec: spec.clone(),
        },
        resolved,
    )))
}

async fn target_object(ctx: &Ctx, r: &EntityRef) -> Result<Option<Value>, Error> {
    let api: Api<DynamicObject> = Api::namespaced_with(
        ctx.client.clone(),
        &r.namespace,
        &crate::ingestion::apply::api_resource(r.kind),
    );
    Ok(api.get_opt(&r.name).await.map_err(Error::Kube)?.map(|o| {
        let mut v = o.data.clone();
        if let Some(m) = v.as_object_mut() {
            m.insert("name".into(), json!(r.name.as_ref()));
            m.insert("namespace".into(), json!(r.namespace.as_ref()));
            m.insert("kind".into(), json!(r.kind.as_str()));
            m.insert("ref".into(), json!(r.to_string()));
        }
        v
    }))
}

/// The template values of a run: inputs, target, run, outputs.
async fn values(
    run: &ActionRun,
    ctx: &Ctx,
    status: &ActionRunStatus,
    _pinned: &PinnedAction,
) -> Result<Value, Error> {
    let ns = run.namespace().unwrap_or_default();
    let target = match &run.spec.target {
        Some(t) => match EntityRef::parse(t, EntityKind::Component, &[], &ns) {
            Ok(r) => target_object(ctx, &r).await?.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        },
        None => Value::Null,
    };
    Ok(super::template::context(
        status.inputs.as_ref().unwrap_or(&Value::Null),
        &target,
        &json!({"name": run.name_any(), "namespace": ns, "requester": run.spec.requester, "attempt": run.spec.attempt}),
        &json!(status.outputs),
    ))
}

fn run_context<'a>(
    ctx: &'a Ctx,
    run: &'a ActionRun,
    pinned: &'a PinnedAction,
    values: Value,
    owner: k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference,
) -> RunContext<'a> {
    RunContext {
        client: &ctx.client,
        namespace: run.metadata.namespace.as_deref().unwrap_or_default(),
        run_name: run.metadata.name.as_deref().unwrap_or_default(),
        action: &pinned.spec,
        values,
        attempt: run.spec.attempt,
        owner,
        providers: &ctx.providers,
    }
}

/// Creates the rollback run (named from this run, so a restart finds it instead of creating
/// another). It is created by the controller for the original requester and needs no approval
/// beyond what its own Action asks.
async fn start_rollback(
    run: &ActionRun,
    ctx: &Ctx,
    status: &ActionRunStatus,
    rb: &nexus_api::actions::Rollback,
) -> Result<String, StepError> {
    let ns = run.namespace().unwrap_or_default();
    let name = nexus_ingest::naming::object_name(&[&run.name_any(), "rollback"]);
    let pinned = status
        .action
        .clone()
        .ok_or_else(|| StepError::Fatal("no pinned action".into()))?;
    let values = values(run, ctx, status, &pinned).await?;
    let mut inputs = serde_json::Map::new();
    for (k, tpl) in &rb.inputs {
        let v = super::template::render(tpl, &values)
            .map_err(|e| StepError::Fatal(format!("rollback inputs: {e}")))?;
        // Numbers and booleans stay typed for the rollback Action's schema.
        inputs.insert(
            k.clone(),
            serde_json::from_str(&v).unwrap_or(Value::String(v)),
        );
    }
    let rollback = ActionRun {
        metadata: kube::api::ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(ns.clone()),
            labels: Some([("actions.nexus.dev/rollback-of".to_string(), run.name_any())].into()),
            ..Default::default()
        },
        spec: ActionRunSpec {
            action: rb.action.clone(),
            target: run.spec.target.clone(),
            inputs: Value::Object(inputs),
            requester: run.spec.requester.clone(),
            cancel: false,
            attempt: 1,
        },
        status: None,
    };
    match Api::<ActionRun>::namespaced(ctx.client.clone(), &ns)
        .create(&PostParams::default(), &rollback)
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => return Err(StepError::Retry(Error::Kube(e))),
    }
    info!(run = %format!("{ns}/{}", run.name_any()), rollback = %name, "rollback started");
    Ok(name)
}

/// After a failure with a rollback: RolledBack when the rollback run succeeded.
async fn follow_rollback(
    run: &ActionRun,
    ctx: &Ctx,
    status: &mut ActionRunStatus,
    t: &mut Transition,
) -> Result<Requeue, StepError> {
    let Some(rb) = status.rollback_run.clone() else {
        return Ok(Requeue::await_change());
    };
    let ns = run.namespace().unwrap_or_default();
    let Some(r) = Api::<ActionRun>::namespaced(ctx.client.clone(), &ns)
        .get_opt(&rb)
        .await
        .map_err(|e| StepError::Retry(Error::Kube(e)))?
    else {
        return Ok(Requeue::requeue(Duration::from_secs(5)));
    };
    let rs = r.status.unwrap_or_default();
    if is_true(&rs, c::SUCCEEDED) {
        t.set.push(NewCondition::new(
            c::ROLLED_BACK,
            TRUE,
            "RolledBack",
            format!("rollback run {rb} succeeded"),
        ));
        t.phase = Some(phase::ROLLED_BACK);
        t.audit.push(("run.rolledBack", json!({"rollbackRun": rb})));
        t.event.push((
            EventType::Normal,
            "RolledBack".into(),
            format!("rollback run {rb} succeeded"),
        ));
        return Ok(Requeue::await_change());
    }
    if terminal(&rs) {
        t.set.push(NewCondition::new(
            c::ROLLED_BACK,
            FALSE,
            "RollbackFailed",
            format!(
                "rollback run {rb} ended as {}",
                rs.phase.unwrap_or_default()
            ),
        ));
        return Ok(Requeue::await_change());
    }
    Ok(Requeue::requeue(Duration::from_secs(2)))
}

/// Writes the status (server-side apply of the whole status: the controller owns it), then
/// the audit entry and the Event.
/// Writes the status (when it changed), then its audit entries, notifications and Events.
/// The write is conditional on the resourceVersion this reconcile built on: a reconcile that
/// read a stale copy (a cache behind its own last write) gets a conflict and is retried on
/// fresh data, instead of overwriting newer status — exactly-once execution rests on it.
/// Returns the resourceVersion after the write.
async fn commit(
    run: &ActionRun,
    ctx: &Ctx,
    status: &mut ActionRunStatus,
    t: Transition,
) -> Result<Option<String>, Error> {
    let mut resource_version = t.resource_version.clone();
    let ns = run.namespace().unwrap_or_default();
    let name = run.name_any();
    status.conditions = conditions::merge(
        &status.conditions,
        &t.set,
        run.metadata.generation,
        jiff::Timestamp::now(),
    );
    if let Some(p) = t.phase {
        status.phase = Some(p.into());
    }
    status.observed_generation = run.metadata.generation;
    if run.status.as_ref() != Some(&*status) {
        let patch = json!({
            "apiVersion": "actions.nexus.dev/v1alpha1",
            "kind": "ActionRun",
            "metadata": {"resourceVersion": resource_version},
            "status": status,
        });
        let written = Api::<ActionRun>::namespaced(ctx.client.clone(), &ns)
            .patch_status(
                &name,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await
            .map_err(Error::Kube)?;
        resource_version = written.metadata.resource_version;
    }
    for (kind, details) in &t.audit {
        let outcome = match *kind {
            "run.approved" => Some(NotificationKind::Approved),
            "run.rejected" => Some(NotificationKind::Rejected),
            "run.expired" => Some(NotificationKind::Expired),
            "run.succeeded" => Some(NotificationKind::Succeeded),
            "run.failed" => Some(NotificationKind::Failed),
            _ => None,
        };
        if let Some(kind) = outcome {
            let people: Vec<String> = status
                .stages
                .iter()
                .flat_map(|s| s.approvals.iter().map(|a| a.author.clone()))
                .collect();
            super::notify::send(
                &ctx.notifier,
                &ctx.portal_url,
                run,
                super::notify::Message {
                    kind,
                    stage: None,
                    people,
                    reason: details
                        .get("message")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                },
            );
        }
    }
    for (kind, details) in t.audit {
        ctx.audit
            .record(AuditEvent {
                kind: kind.into(),
                actor: match kind {
                    "run.created" | "run.validated" => run.spec.requester.clone(),
                    _ => "nexus-controller".into(),
                },
                run: format!("{ns}/{name}"),
                action: run.spec.action.clone(),
                target: run.spec.target.clone(),
                requester: run.spec.requester.clone(),
                details,
            })
            .await;
    }
    for (type_, reason, note) in t.event {
        let event = KubeEvent {
            type_,
            reason,
            note: Some(note.chars().take(900).collect()),
            action: "Run".into(),
            secondary: None,
        };
        if let Err(e) = ctx.recorder.publish(&event, &run.object_ref(&())).await {
            debug!(error = %e, "could not publish event");
        }
    }
    Ok(resource_version)
}

/// Writes `Counted=False` with the reason on approvals the run did not count, and
/// `Counted=True` on those recorded in the stages.
async fn mark_approvals(
    ctx: &Ctx,
    ns: &str,
    status: &ActionRunStatus,
    not_counted: &[approvals::NotCounted],
    seen: &[ActionApproval],
) {
    let api: Api<ActionApproval> = Api::namespaced(ctx.client.clone(), ns);
    let mut marks: Vec<(String, &'static str, String, String)> = not_counted
        .iter()
        .map(|n| {
            (
                n.approval.clone(),
                FALSE,
                n.reason.to_string(),
                n.message.clone(),
            )
        })
        .collect();
    for s in &status.stages {
        for r in &s.approvals {
            marks.push((
                r.name.clone(),
                TRUE,
                "Counted".into(),
                format!("counted for stage {}", s.name),
            ));
        }
    }
    for (name, st, reason, message) in marks {
        let already = seen
            .iter()
            .find(|a| a.name_any() == name)
            .and_then(|a| a.status.clone())
            .is_some_and(|s| {
                conditions::find(&s.conditions, "Counted").is_some_and(|c| c.status == st)
            });
        if already {
            continue;
        }
        let conds = conditions::merge(
            &[],
            &[NewCondition::new("Counted", st, reason, message)],
            None,
            jiff::Timestamp::now(),
        );
        let patch = json!({"apiVersion": "actions.nexus.dev/v1alpha1", "kind": "ActionApproval", "status": {"conditions": conds}});
        if let Err(e) = api
            .patch_status(
                &name,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await
        {
            debug!(approval = %name, error = %e, "approval status not written");
        }
    }
}

/// A finished run stays for `--run-ttl`, then its final status goes to the audit log
/// (`run.archived`) and the object is deleted, so etcd holds recent runs only.
async fn archive_when_due(
    run: &ActionRun,
    ctx: &Ctx,
    status: &ActionRunStatus,
) -> Result<Requeue, Error> {
    let (Some(ttl), Some(finished)) = (ctx.run_ttl, status.finished_at.as_ref()) else {
        return Ok(Requeue::await_change());
    };
    let age = jiff::Timestamp::now().duration_since(finished.0);
    let age = Duration::try_from(age).unwrap_or_default();
    if age < ttl {
        return Ok(Requeue::requeue(ttl - age + Duration::from_millis(200)));
    }
    let ns = run.namespace().unwrap_or_default();
    let name = run.name_any();
    ctx.audit
        .record(AuditEvent {
            kind: "run.archived".into(),
            actor: "nexus-controller".into(),
            run: format!("{ns}/{name}"),
            action: run.spec.action.clone(),
            target: run.spec.target.clone(),
            requester: run.spec.requester.clone(),
            details: json!({"spec": run.spec, "status": status}),
        })
        .await;
    match Api::<ActionRun>::namespaced(ctx.client.clone(), &ns)
        .delete(&name, &DeleteParams::default())
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 404 => {}
        Err(e) => return Err(Error::Kube(e)),
    }
    info!(run = %format!("{ns}/{name}"), "archived to the audit log and deleted");
    Ok(Requeue::await_change())
}

/// Whether kube-apiserver already sees `user` as the requester of `run`.
async fn requester_marked(ctx: &Ctx, ns: &str, run: &str, user: &str) -> Result<bool, Error> {
    use k8s_openapi::api::authorization::v1::{
        ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
    };
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(user.into()),
            resource_attributes: Some(ResourceAttributes {
                group: Some(nexus_api::actions::GROUP.into()),
                resource: Some("actionruns".into()),
                subresource: Some(nexus_api::actions::REQUESTER_SUBRESOURCE.into()),
                namespace: Some(ns.into()),
                name: Some(run.into()),
                verb: Some("is".into()),
                ..ResourceAttributes::default()
            }),
            ..SubjectAccessReviewSpec::default()
        },
        ..SubjectAccessReview::default()
    };
    let answer = Api::<SubjectAccessReview>::all(ctx.client.clone())
        .create(&PostParams::default(), &review)
        .await
        .map_err(Error::Kube)?;
    Ok(answer.status.is_some_and(|s| s.allowed))
}

/// Creates or updates a Role and its RoleBinding.
async fn ensure(ctx: &Ctx, ns: &str, (role, binding): (Role, RoleBinding)) -> Result<(), Error> {
    let pp = PatchParams::apply(MANAGER).force();
    let name = role.metadata.name.clone().unwrap_or_default();
    Api::<Role>::namespaced(ctx.client.clone(), ns)
        .patch(&name, &pp, &Patch::Apply(&role))
        .await
        .map_err(Error::Kube)?;
    Api::<RoleBinding>::namespaced(ctx.client.clone(), ns)
        .patch(&name, &pp, &Patch::Apply(&binding))
        .await
        .map_err(Error::Kube)?;
    Ok(())
}

/// Deletes a run's grants except `keep` (a grant name, or `requester` for the requester
/// marker). Owner references clean up after deleted runs; this closes stages as they end.
/// Deletes the run's grants except those named in `keep` (`"requester"` stands for the
/// requester marker).
async fn cleanup_grants(ctx: &Ctx, ns: &str, run: &str, keep: &[&str]) -> Result<(), Error> {
    let requester = grants::requester(run, ns, &Default::default(), "")
        .0
        .metadata
        .name
        .unwrap_or_default();
    let roles: Api<Role> = Api::namespaced(ctx.client.clone(), ns);
    let bindings: Api<RoleBinding> = Api::namespaced(ctx.client.clone(), ns);
    let list = roles
        .list(&ListParams::default().labels(GRANT_LABEL))
        .await
        .map_err(Error::Kube)?;
    let prefix_stage = grants::stage_grant_name(run, "");
    let stage_prefix = prefix_stage.trim_end_matches(|c: char| c.is_ascii_hexdigit() || c == '-');
    for r in list.items {
        let n = r.name_any();
        let ours = n == requester
            || (n.starts_with(stage_prefix)
                && r.metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|o| o.name == run));
        let kept = keep
            .iter()
            .any(|k| *k == n || (*k == "requester" && n == requester));
        if !ours || kept {
            continue;
        }
        for res in [
            roles.delete(&n, &DeleteParams::default()).await.map(|_| ()),
            bindings
                .delete(&n, &DeleteParams::default())
                .await
                .map(|_| ()),
        ] {
            match res {
                Ok(()) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(Error::Kube(e)),
            }
        }
    }
    Ok(())
}
