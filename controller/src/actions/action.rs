//! The Action reconciler: the inputs schema must compile and the runner grant must exist.

use std::sync::Arc;

use kube::{
    Api, Resource, ResourceExt,
    api::{Patch, PatchParams},
    runtime::controller::Action as Requeue,
};
use nexus_api::{
    actions::Action,
    conditions::{self, FALSE, NewCondition, READY, TRUE},
};
use serde_json::json;

use super::{Ctx, Error, grants, inputs, run::MANAGER};

pub async fn reconcile(action: Arc<Action>, ctx: Arc<Ctx>) -> Result<Requeue, Error> {
    let ns = action.namespace().unwrap_or_default();
    let name = action.name_any();
    let mut problems = Vec::new();
    if let Some(schema) = &action.spec.inputs
        && let Err(e) = inputs::check_schema(schema)
    {
        problems.push(e.to_string());
    }
    if action.spec.executor.kind() == "none" {
        problems.push("no executor set".into());
    }
    // An Action whose runs could only fail is not Ready.
    if let Some(k) = &action.spec.executor.kubernetes
        && k.operation == nexus_api::actions::executor::KubernetesOperation::Exec
        && k.command.first().is_none_or(|c| c.trim().is_empty())
    {
        problems.push("spec.executor.kubernetes.command: exec needs a command".into());
    }
    if let Some(owner) = action.controller_owner_ref(&()) {
        let (role, binding) = grants::runners(&name, &ns, &owner, &action.spec.runners);
        let pp = PatchParams::apply(MANAGER).force();
        Api::<k8s_openapi::api::rbac::v1::Role>::namespaced(ctx.client.clone(), &ns)
            .patch(&role.name_any(), &pp, &Patch::Apply(&role))
            .await
            .map_err(Error::Kube)?;
        Api::<k8s_openapi::api::rbac::v1::RoleBinding>::namespaced(ctx.client.clone(), &ns)
            .patch(&binding.name_any(), &pp, &Patch::Apply(&binding))
            .await
            .map_err(Error::Kube)?;
    }
    let ready = if problems.is_empty() {
        NewCondition::new(
            READY,
            TRUE,
            "Ready",
            format!(
                "{} runs with the {} executor",
                action.spec.title,
                action.spec.executor.kind()
            ),
        )
    } else {
        NewCondition::new(READY, FALSE, "Invalid", problems.join("; "))
    };
    let existing = action.status.clone().unwrap_or_default();
    let conds = conditions::merge(
        &existing.conditions,
        &[ready],
        action.metadata.generation,
        jiff::Timestamp::now(),
    );
    let status = json!({
        "observedGeneration": action.metadata.generation,
        "conditions": conds,
        "approvalStages": action.spec.approval.stages.len(),
    });
    if serde_json::to_value(&existing).ok().as_ref() != Some(&status) {
        let patch =
            json!({"apiVersion": "actions.nexus.dev/v1alpha1", "kind": "Action", "status": status});
        Api::<Action>::namespaced(ctx.client.clone(), &ns)
            .patch_status(
                &name,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await
            .map_err(Error::Kube)?;
    }
    Ok(Requeue::await_change())
}
