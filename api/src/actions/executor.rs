//! How an Action runs. Exactly one executor is set. String fields are templates: `{{ inputs.x }}`,
//! `{{ target.name }}`, `{{ target.namespace }}`, `{{ target.spec.resourceId }}`,
//! `{{ run.name }}`, `{{ run.namespace }}`, `{{ run.requester }}`.

use std::collections::BTreeMap;

use kube::KubeSchema;
use schemars::{Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use crate::integrations::SecretKeyRef;

/// A free-form JSON value in the schema (`x-kubernetes-preserve-unknown-fields`).
pub fn free_form(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

/// Any JSON value (object, string, number…) in the schema.
pub fn any_value(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("[has(self.job), has(self.kubernetes), has(self.azureDevOps), has(self.github), has(self.azure), has(self.azureFunction), has(self.terraformCloud)].filter(x, x).size() == 1").message("spec.executor: set exactly one of job, kubernetes, azureDevOps, github, azure, azureFunction, terraformCloud"))]
pub struct Executor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobExecutor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<KubernetesExecutor>,
    #[serde(
        default,
        rename = "azureDevOps",
        skip_serializing_if = "Option::is_none"
    )]
    pub azure_devops: Option<AzureDevOpsExecutor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github: Option<GitHubExecutor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure: Option<AzureExecutor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure_function: Option<AzureFunctionExecutor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terraform_cloud: Option<TerraformCloudExecutor>,
}

impl Executor {
    /// The executor's name as written in the manifest.
    pub fn kind(&self) -> &'static str {
        match self {
            Executor { job: Some(_), .. } => "job",
            Executor {
                kubernetes: Some(_),
                ..
            } => "kubernetes",
            Executor {
                azure_devops: Some(_),
                ..
            } => "azureDevOps",
            Executor {
                github: Some(_), ..
            } => "github",
            Executor { azure: Some(_), .. } => "azure",
            Executor {
                azure_function: Some(_),
                ..
            } => "azureFunction",
            Executor {
                terraform_cloud: Some(_),
                ..
            } => "terraformCloud",
            _ => "none",
        }
    }
}

/// A Kubernetes Job from a container template: inputs arrive as environment variables
/// `NEXUS_INPUT_<NAME>` (upper case) and through templates in `args`/`env`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobExecutor {
    #[schemars(length(min = 1, max = 512))]
    pub image: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(max = 4096)))]
    pub command: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(max = 4096)))]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// ServiceAccount the Job runs as (dedicated per action; default `nexus-action-runner`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub service_account_name: Option<String>,
    /// Namespace the Job runs in (default: the run's namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<k8s_openapi::api::core::v1::ResourceRequirements>,
    /// Pod retries before the run fails. Default 0: a failed pod fails the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 6))]
    pub backoff_limit: Option<i32>,
    /// Label the pod `azure.workload.identity/use: "true"`, so the AKS workload identity webhook
    /// injects the federated token of the ServiceAccount's managed identity (the
    /// ServiceAccount carries `azure.workload.identity/client-id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_identity: Option<bool>,
}

/// Operations the controller performs itself through the Kubernetes API.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct KubernetesExecutor {
    pub operation: KubernetesOperation,
    /// Namespace of the workload or pod (template). Not used for node operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub namespace: Option<String>,
    /// Deployment, StatefulSet, pod or node name (template).
    #[schemars(length(min = 1, max = 256))]
    pub name: String,
    /// `Deployment` (default) or `StatefulSet` for scale and rolling restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<WorkloadKind>,
    /// Replicas for `scale` (template, must render to an integer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub replicas: Option<String>,
    /// Container for `logs` and `exec`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub container: Option<String>,
    /// Command for `exec` (templates; recorded in the run's status and the audit log).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(max = 4096)))]
    pub command: Vec<String>,
    /// Lines of log to return for `logs` (default 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 5000))]
    pub tail_lines: Option<i64>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum KubernetesOperation {
    Scale,
    RolloutRestart,
    Logs,
    Exec,
    Cordon,
    Uncordon,
    Drain,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
}

/// Azure DevOps operations, with the credentials of an AzureDevOpsIntegration.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AzureDevOpsExecutor {
    pub operation: AzureDevOpsOperation,
    /// AzureDevOpsIntegration (in the integrations namespace) whose credentials are used.
    #[schemars(length(min = 1, max = 253))]
    pub integration: String,
    #[schemars(length(min = 1, max = 256))]
    pub project: String,
    /// Pipeline (definition) id for `runPipeline` (template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub pipeline_id: Option<String>,
    /// Run (build) id for `cancelRun` / `retryFailedJobs` (template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub run_id: Option<String>,
    /// Approval id for `approveCheck` (template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub approval_id: Option<String>,
    /// Branch for `runPipeline` (template), e.g. `refs/heads/main`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub branch: Option<String>,
    /// Template parameters for `runPipeline` (templates).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum AzureDevOpsOperation {
    RunPipeline,
    ApproveCheck,
    CancelRun,
    RetryFailedJobs,
}

/// GitHub operations, as the App of a GitHubIntegration.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitHubExecutor {
    pub operation: GitHubOperation,
    /// GitHubIntegration (in the integrations namespace) whose App is used.
    #[schemars(length(min = 1, max = 253))]
    pub integration: String,
    /// `owner/repo` (template).
    #[schemars(length(min = 1, max = 256))]
    pub repository: String,
    /// Workflow file or id for `workflowDispatch` (template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub workflow: Option<String>,
    /// Git ref for `workflowDispatch`, base branch for `createBranch` / `openPullRequest`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub r#ref: Option<String>,
    /// Branch to create, or the head branch of the pull request (template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub branch: Option<String>,
    /// `owner/repo` of the template for `createRepositoryFromTemplate` (template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub template_repository: Option<String>,
    /// Title and body of the pull request (templates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 65536))]
    pub body: Option<String>,
    /// Workflow inputs (templates).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inputs: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum GitHubOperation {
    WorkflowDispatch,
    CreateRepositoryFromTemplate,
    CreateBranch,
    OpenPullRequest,
}

/// Azure Resource Manager (and Key Vault data plane) calls, as the identity of an
/// AzureSubscriptionSource (workload identity or client secret).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.request) != has(self.rotateSecret)").message("spec.executor.azure: set exactly one of request and rotateSecret"))]
pub struct AzureExecutor {
    /// AzureSubscriptionSource (in the integrations namespace) whose credentials are used.
    #[schemars(length(min = 1, max = 253))]
    pub credentials: String,
    /// An ARM request; long-running operations are followed (Azure-AsyncOperation / Location)
    /// until they finish or the run times out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<ArmRequest>,
    /// Rotate a Key Vault secret: a new random value is generated and set as a new version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotate_secret: Option<KeyVaultRotation>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArmRequest {
    pub method: HttpMethod,
    /// ARM path (template), e.g.
    /// `{{ target.spec.resourceId }}/slotsswap` or
    /// `/subscriptions/{{ inputs.subscription }}/resourcegroups/{{ inputs.name }}`.
    #[schemars(length(min = 1, max = 2048))]
    pub path: String,
    #[schemars(length(min = 1, max = 32))]
    pub api_version: String,
    /// JSON body; string values are templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "any_value")]
    pub body: Option<serde_json::Value>,
    /// Response fields to keep as run outputs: output name → JSON pointer (e.g. `/properties/state`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum HttpMethod {
    GET,
    PUT,
    POST,
    PATCH,
    DELETE,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyVaultRotation {
    /// `https://<vault>.vault.azure.net` (template).
    #[schemars(length(min = 1, max = 512))]
    pub vault_url: String,
    /// Secret name (template).
    #[schemars(length(min = 1, max = 127))]
    pub secret_name: String,
    /// Length of the generated value. Default 32.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 16, max = 256))]
    pub length: Option<i32>,
}

/// An HTTP-triggered Azure Function.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AzureFunctionExecutor {
    /// Function URL (template), without the key.
    #[schemars(length(min = 1, max = 2048))]
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<HttpMethod>,
    /// Function key sent as `x-functions-key` (Secret in the run's namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_ref: Option<SecretKeyRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "any_value")]
    pub body: Option<serde_json::Value>,
}

/// Queue a Terraform Cloud / Enterprise run.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TerraformCloudExecutor {
    /// Default `https://app.terraform.io`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub address: Option<String>,
    /// Workspace id (`ws-…`, template).
    #[schemars(length(min = 1, max = 256))]
    pub workspace_id: String,
    /// API token (Secret in the run's namespace).
    pub token_ref: SecretKeyRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_destroy: bool,
}
